// A provider that is nothing but go-plugin's handshake, answering protocol 5
// (or 6 too, with -X main.alsoSix=yes).
package main

import plugin "github.com/hashicorp/go-plugin"

var alsoSix string

func main() {
	cfg := &plugin.ServeConfig{HandshakeConfig: plugin.HandshakeConfig{
		ProtocolVersion:  5,
		MagicCookieKey:   "TF_PLUGIN_MAGIC_COOKIE",
		MagicCookieValue: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
	}}
	if alsoSix == "yes" {
		cfg.VersionedPlugins = []int{6}
	}
	plugin.Serve(cfg)
}
