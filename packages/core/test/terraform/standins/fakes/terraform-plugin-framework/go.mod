module github.com/hashicorp/terraform-plugin-framework

go 1.19

require github.com/hashicorp/terraform-plugin-go v0.19.1
