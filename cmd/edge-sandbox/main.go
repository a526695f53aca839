// Command edge-sandbox runs the sandbox's stand-in AWS endpoints (the IoT
// credentials provider, S3, the control plane) on loopback until SIGTERM or
// SIGINT, and writes what a client needs to reach them into a folder. It is
// for tests and `make demo`; see package internal/sandbox.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	if err := a.run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "edge-sandbox:", err)
		stop()
		os.Exit(exitCode(err))
	}
}
