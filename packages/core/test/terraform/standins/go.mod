// Stand-in Terraform providers for Relay's protocol-detection tests. Every
// hashicorp module here is a local fake reached through a replace directive,
// so `go build` works offline (GOFLAGS=-mod=mod GOPROXY=off) and the binaries'
// embedded build information names the real module paths and versions.
module example.com/terraform-provider-demo

go 1.19

require (
	github.com/hashicorp/go-plugin v1.5.2
	github.com/hashicorp/terraform-plugin-framework v1.4.2
	github.com/hashicorp/terraform-plugin-go v0.19.1
	github.com/hashicorp/terraform-plugin-mux v0.12.0
	github.com/hashicorp/terraform-plugin-sdk/v2 v2.31.0
)

replace (
	github.com/hashicorp/go-plugin => ./fakes/go-plugin
	github.com/hashicorp/terraform-plugin-framework => ./fakes/terraform-plugin-framework
	github.com/hashicorp/terraform-plugin-go => ./fakes/terraform-plugin-go
	github.com/hashicorp/terraform-plugin-mux => ./fakes/terraform-plugin-mux
	github.com/hashicorp/terraform-plugin-sdk/v2 => ./fakes/terraform-plugin-sdk
)
