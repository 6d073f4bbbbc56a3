// Command tally-bench is Tally's load harness: a floor of raw QUIC and
// Ed25519, then simulated devices against real loopback tallyd clusters.
// The work is in daemon/loadgen; make bench-load runs it.
//
// Design: docs/design.md#scale.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := benchCmd(ctx, os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tally-bench:", err)
		stop()
		os.Exit(1)
	}
}
