// Command go-app is an example application licensed through Tally: it checks
// a seat out from the local tally-agent (waiting for one if all are taken),
// verifies the token against the cluster's keys, reports activity while it
// works, and gives the seat back when done or interrupted.
//
//	go run ./examples/go-app --feature cad --work 10s
//
// Design: docs/design.md#lease-tokens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/protocol"
)

func main() {
	socket := flag.String("socket", "", "tally-agent socket (default $TALLY_AGENT_SOCKET, else the agent's default)")
	feature := flag.String("feature", "cad", "feature to check out")
	wait := flag.Duration("wait", 30*time.Second, "how long to queue for a seat when none is free")
	work := flag.Duration("work", 3*time.Second, "how long to \"work\" while holding the seat")
	flag.Parse()
	if err := run(*socket, *feature, *wait, *work); err != nil {
		fmt.Fprintln(os.Stderr, "go-app:", err)
		os.Exit(1)
	}
}

func run(socket, feature string, wait, work time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := sdk.New(socket)

	v, err := c.CheckoutVerified(ctx, feature, sdk.WithWait(wait))
	switch protocol.CodeOf(err) {
	case "":
		if err != nil {
			return fmt.Errorf("checkout: %w", err) // the token did not verify
		}
	case protocol.CodeNoSeat:
		return fmt.Errorf("all %s seats are in use; try again later", feature)
	case protocol.CodeUnavailable:
		return fmt.Errorf("is tally-agent running? %w", err)
	default:
		return fmt.Errorf("checkout: %w", err)
	}
	// Give the seat back however we leave (the agent would also release it
	// when it stops, and the cluster when the lease's horizon passes).
	defer func() {
		if err := c.Release(context.Background(), feature); err != nil {
			fmt.Fprintln(os.Stderr, "go-app: release:", err)
		}
	}()
	fmt.Printf("licensed: feature=%s lease=%d device=%s add-ons=%v expires=%s\n",
		v.Claims.Feature, v.Claims.LeaseID, v.Claims.Device, v.AddOns(), v.Claims.Expires.Format(time.RFC3339))

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := time.After(work)
	for {
		select {
		case <-ctx.Done():
			fmt.Println("interrupted")
			return nil
		case <-done:
			fmt.Println("work done")
			return nil
		case <-tick.C:
			// Tell the agent the seat is in use (idle-release policies read it).
			if err := c.Activity(ctx, feature); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("activity: %w", err)
			}
		}
	}
}
