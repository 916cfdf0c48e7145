// Package providerserver stands in for the plugin framework's server: protocol 6.
package providerserver

import "github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"

// Serve serves a framework provider over protocol 6, as providerserver.Serve does.
func Serve(name string) { tf6server.Serve(name) }
