module github.com/hashicorp/go-plugin

go 1.19
