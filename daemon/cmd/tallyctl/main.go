// Command tallyctl administers a Tally license cluster.
//
// Design: docs/design.md#parts.
package main

import (
	"os"

	"github.com/tally-licensing/tally/daemon/ctl"
)

func main() { os.Exit(ctl.Main(os.Args[1:], os.Stdout, os.Stderr)) }
