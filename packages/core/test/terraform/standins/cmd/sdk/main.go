// A provider built with terraform-plugin-sdk/v2.
package main

import "github.com/hashicorp/terraform-plugin-sdk/v2/plugin"

func main() { plugin.Serve("registry.example.com/acme/demo") }
