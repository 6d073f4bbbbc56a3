// Command tally-agent is the Tally device agent. See package agent/cli.
//
// Design: docs/design.md#parts.
package main

import (
	"context"
	"os"
	"runtime"
	"syscall"

	"github.com/tally-licensing/tally/agent/cli"
)

func main() {
	if env, ok := oneProcEnv(os.Args[1:], os.Environ()); ok {
		if exe, err := os.Executable(); err == nil {
			syscall.Exec(exe, os.Args, env) // returns only on failure: then run as we are
		}
	}
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// oneProcEnv says whether `tally-agent run` should start over, once, with
// GOMAXPROCS=1 in its environment, and gives that environment. The agent
// waits almost all the time and does a request every half minute; every P
// beyond the first keeps its own partly used heap spans and GC worker, 0.35
// MiB of the agent's idle RSS on a 2-core machine and more on bigger ones
// (docs/performance.md, agent footprint), for parallelism the agent never
// uses. The runtime sizes that at start: runtime.GOMAXPROCS(1) called from
// main did not give the memory back (measured), $GOMAXPROCS at exec does.
// A $GOMAXPROCS already set is kept; Windows has no exec and keeps its
// default.
func oneProcEnv(args, environ []string) ([]string, bool) {
	if runtime.GOOS == "windows" || len(args) == 0 || args[0] != "run" {
		return nil, false
	}
	for _, kv := range environ {
		if len(kv) >= len("GOMAXPROCS=") && kv[:len("GOMAXPROCS=")] == "GOMAXPROCS=" {
			return nil, false
		}
	}
	return append(environ[:len(environ):len(environ)], "GOMAXPROCS=1"), true
}
