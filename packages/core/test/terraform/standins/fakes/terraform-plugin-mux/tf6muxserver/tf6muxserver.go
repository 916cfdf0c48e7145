// Package tf6muxserver stands in for mux's protocol 6 mux server.
package tf6muxserver

import (
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
	"github.com/hashicorp/terraform-plugin-mux/tf5to6server"
)

// Serve serves the combined providers over protocol 6.
func Serve(name string) { tf6server.Serve(tf5to6server.Upgrade(name)) }
