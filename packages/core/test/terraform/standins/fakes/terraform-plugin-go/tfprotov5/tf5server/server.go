// Package tf5server stands in for terraform-plugin-go's protocol 5 server.
package tf5server

import plugin "github.com/hashicorp/go-plugin"

const cookie = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"

// Serve answers Terraform's handshake with protocol 5.
func Serve(name string) {
	plugin.Serve(&plugin.ServeConfig{HandshakeConfig: plugin.HandshakeConfig{
		ProtocolVersion: 5, MagicCookieKey: "TF_PLUGIN_MAGIC_COOKIE", MagicCookieValue: cookie,
	}})
}
