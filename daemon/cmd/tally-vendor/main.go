// Command tally-vendor is the software vendor's side of Tally: it makes the
// vendor's key pair, signs entitlements for customers' clusters, and checks
// the true-up reports they send back (docs/vendors.md).
//
// Design: docs/design.md#vendors.
package main

import (
	"os"

	"github.com/tally-licensing/tally/daemon/vendorcli"
)

func main() { os.Exit(vendorcli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
