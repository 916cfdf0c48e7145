// Package plugin imitates the server side of hashicorp/go-plugin's handshake,
// as far as a client can see it: the magic cookie check, the negotiation of
// PLUGIN_PROTOCOL_VERSIONS (the newest offered version it has, else its
// lowest), a listener, and the `core|app|network|address|protocol|cert` line
// on stdout. It then serves nothing until it is killed.
package plugin

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Set with -ldflags -X at build time: the tests cannot reach the process
// through its environment, which the publisher empties.
var (
	// Marker, when set, is a file the process appends to when it runs
	// (its pid, working directory and environment), proving it ran.
	Marker string
	// Mode: "" serves; "hang" never answers; "fork" starts a child in its
	// process group first; "exit" fails at once; "garbage" prints a bad line.
	Mode string
	// Dial, when set (host:port), is connected to before the handshake line,
	// as a provider phoning home would; the marker says whether it got through.
	Dial string
)

type HandshakeConfig struct {
	ProtocolVersion  uint
	MagicCookieKey   string
	MagicCookieValue string
}

type ServeConfig struct {
	HandshakeConfig
	// Versions served besides ProtocolVersion (go-plugin's VersionedPlugins).
	VersionedPlugins []int
}

func record(what string) {
	if Marker == "" {
		return
	}
	f, err := os.OpenFile(Marker, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	wd, _ := os.Getwd()
	env := os.Environ()
	sort.Strings(env)
	fmt.Fprintf(f, "%s pid=%d cwd=%s env=%s\n", what, os.Getpid(), wd, strings.Join(env, ";"))
}

func Serve(opts *ServeConfig) {
	if os.Getenv("STANDIN_CHILD") == "1" {
		record("child")
		time.Sleep(time.Hour)
		return
	}
	record("run")
	if os.Getenv(opts.MagicCookieKey) != opts.MagicCookieValue {
		fmt.Fprintln(os.Stderr, "This binary is a plugin. These are not meant to be executed directly.")
		os.Exit(1)
	}
	switch Mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "stand-in told to fail")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
		return
	case "fork":
		self, err := os.Executable()
		if err == nil {
			cmd := exec.Command(self)
			cmd.Env = append(os.Environ(), "STANDIN_CHILD=1")
			_ = cmd.Start()
			time.Sleep(200 * time.Millisecond)
		}
	}

	if Dial != "" {
		if c, err := net.DialTimeout("tcp", Dial, 2*time.Second); err == nil {
			c.Close()
			record("dialed")
		} else {
			record("nodial")
		}
	}

	versions := append([]int{int(opts.ProtocolVersion)}, opts.VersionedPlugins...)
	sort.Sort(sort.Reverse(sort.IntSlice(versions)))
	var offered []int
	for _, s := range strings.Split(os.Getenv("PLUGIN_PROTOCOL_VERSIONS"), ",") {
		if v, err := strconv.Atoi(s); err == nil {
			offered = append(offered, v)
		}
	}
	chosen := versions[len(versions)-1] // no match: the lowest, as go-plugin does
match:
	for _, v := range versions {
		for _, o := range offered {
			if o == v {
				chosen = v
				break match
			}
		}
	}

	minPort, _ := strconv.Atoi(os.Getenv("PLUGIN_MIN_PORT"))
	maxPort, _ := strconv.Atoi(os.Getenv("PLUGIN_MAX_PORT"))
	var l net.Listener
	for p := minPort; p <= maxPort && l == nil; p++ {
		l, _ = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	}
	if l == nil {
		fmt.Fprintln(os.Stderr, "no port in PLUGIN_MIN_PORT..PLUGIN_MAX_PORT")
		os.Exit(1)
	}
	if Mode == "garbage" {
		fmt.Println("hello from a provider that is not one")
	} else {
		fmt.Printf("1|%d|%s|%s|grpc|\n", chosen, l.Addr().Network(), l.Addr().String())
	}
	os.Stdout.Sync()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
