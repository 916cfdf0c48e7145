// Package plugin stands in for SDKv2's plugin.Serve: protocol 5.
package plugin

import "github.com/hashicorp/terraform-plugin-go/tfprotov5/tf5server"

// Name of the stand-in, referenced so that importers link this package.
const Name = "terraform-plugin-sdk/v2"

// Serve serves an SDKv2 provider over protocol 5.
func Serve(name string) { tf5server.Serve(name) }
