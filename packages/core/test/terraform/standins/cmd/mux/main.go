// A provider muxing an SDKv2 half and a framework half over protocol 6.
package main

import (
	_ "github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-mux/tf6muxserver"
	sdk "github.com/hashicorp/terraform-plugin-sdk/v2/plugin"
)

func main() { tf6muxserver.Serve(sdk.Name) }
