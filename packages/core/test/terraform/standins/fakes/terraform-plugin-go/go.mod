module github.com/hashicorp/terraform-plugin-go

go 1.19

require github.com/hashicorp/go-plugin v1.5.2
