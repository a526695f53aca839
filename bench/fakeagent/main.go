// Command fakeagent serves a fixed, fake set of credentials through the real
// credserver on a unix socket and loopback TCP, so that bench/load.sh can
// measure the local API without an AWS account or the sandbox. Its RSS is
// the server's alone; the real daemon adds the refresh loop and the mTLS
// client.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/edge-agent/edge-agent/internal/credserver"
)

// staticSource always returns the same fake credentials.
type staticSource struct{ c credserver.Credentials }

func (s staticSource) Get(context.Context) (credserver.Credentials, error) { return s.c, nil }
func (s staticSource) Status() any                                         { return map[string]string{"state": "serving"} }

func main() {
	socket := flag.String("socket", "/tmp/edge-agent-bench/agent.sock", "unix socket path")
	port := flag.Int("port", 51080, "loopback TCP port (0 = off)")
	tokenFile := flag.String("token-file", "/tmp/edge-agent-bench/token", "token file")
	flag.Parse()

	if err := run(*socket, *port, *tokenFile); err != nil {
		fmt.Fprintln(os.Stderr, "fakeagent:", err)
		os.Exit(1)
	}
}

func run(socket string, port int, tokenFile string) error {
	log, _ := zap.NewProduction()
	tok, err := credserver.EnsureToken(tokenFile)
	if err != nil {
		return err
	}
	src := staticSource{credserver.Credentials{AccessKeyID: "ASIAFAKEBENCH0000001",
		SecretAccessKey: "fake-secret-for-benchmarks-only", SessionToken: "fake-session-token",
		Expiration: time.Now().Add(24 * time.Hour)}}
	srv := credserver.New(credserver.Options{Source: src, Logger: log, AllowedUIDs: []int{0, os.Getuid()}, Token: tok})

	ln, err := credserver.ListenUnix(socket, "")
	if err != nil {
		return err
	}
	go srv.ServeUnix(ln)
	if port != 0 {
		lns, err := credserver.ListenLoopback(nil, port, log)
		if err != nil {
			return err
		}
		for _, l := range lns {
			go srv.ServeTCP(l)
		}
	}

	fmt.Printf("fakeagent pid %d serving on %s and port %d\n", os.Getpid(), socket, port)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return srv.Shutdown(context.Background())
}
