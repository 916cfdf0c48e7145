// A provider built with terraform-plugin-framework.
package main

import "github.com/hashicorp/terraform-plugin-framework/providerserver"

func main() { providerserver.Serve("registry.example.com/acme/demo") }
