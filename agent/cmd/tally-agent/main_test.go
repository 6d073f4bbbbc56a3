package main

import (
	"runtime"
	"slices"
	"testing"
)

// TestOnlyRunStartsOverOnOneProc: `run` asks for GOMAXPROCS=1 (keeping the
// rest of the environment), other commands and a $GOMAXPROCS already set
// are left alone.
func TestOnlyRunStartsOverOnOneProc(t *testing.T) {
	environ := []string{"HOME=/root", "TALLY_AGENT_SOCKET=/s"}
	env, ok := oneProcEnv([]string{"run", "--config", "/etc/tally-agent/agent.yaml"}, environ)
	if runtime.GOOS == "windows" {
		if ok {
			t.Fatal("Windows has no exec")
		}
		return
	}
	if !ok || !slices.Equal(env, append(slices.Clone(environ), "GOMAXPROCS=1")) {
		t.Fatalf("run: %v, %v", env, ok)
	}
	if len(environ) != 2 {
		t.Fatal("the caller's environment was changed")
	}
	for _, c := range []struct {
		args, environ []string
	}{
		{[]string{"status"}, environ},
		{[]string{"checkout", "run"}, environ},
		{nil, environ},
		{[]string{"run"}, []string{"GOMAXPROCS=4"}},
		{[]string{"run"}, []string{"HOME=/", "GOMAXPROCS="}},
	} {
		if env, ok := oneProcEnv(c.args, c.environ); ok {
			t.Errorf("%v with %v: starts over with %v", c.args, c.environ, env)
		}
	}
}
