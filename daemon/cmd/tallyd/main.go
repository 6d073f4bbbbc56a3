// Command tallyd is the Tally license server.
//
// Design: docs/design.md#parts.
package main

import (
	"os"

	"github.com/tally-licensing/tally/daemon/tallydcli"
)

func main() { os.Exit(tallydcli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
