// Command tally-agent is the Tally device agent. See package agent/cli.
//
// Design: docs/design.md#parts.
package main

import (
	"context"
	"os"

	"github.com/tally-licensing/tally/agent/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
