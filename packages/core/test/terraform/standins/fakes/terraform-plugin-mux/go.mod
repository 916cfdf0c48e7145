module github.com/hashicorp/terraform-plugin-mux

go 1.19

require github.com/hashicorp/terraform-plugin-go v0.19.1
