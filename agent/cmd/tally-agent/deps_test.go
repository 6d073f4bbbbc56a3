package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/internal/e2eframework"
)

// TestAgentLinksLittle keeps out of tally-agent what its idle RSS paid for
// (docs/performance.md, agent footprint): a JOSE library and a YAML library
// in its imports; and, in the binary as make build builds it, text/template's
// executor (its reflective method calls keep every exported method of every
// type) and net/http's client Transport.
func TestAgentLinksLittle(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/go-jose/") || pkg == "gopkg.in/yaml.v3" {
			t.Errorf("tally-agent imports %s", pkg)
		}
	}
	if testing.Short() {
		t.Skip("builds the agent")
	}
	bin := filepath.Join(t.TempDir(), "tally-agent")
	build := exec.Command("go", append(append([]string{"build"}, e2eframework.AgentBuildArgs()...), "-o", bin, ".")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	syms, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, sym := range []string{"text/template.(*state).evalField", "net/http.(*Transport).roundTrip"} {
		if strings.Contains(string(syms), " "+sym+"\n") {
			t.Errorf("the agent binary links %s", sym)
		}
	}
	if !strings.Contains(string(syms), " main.main\n") {
		t.Fatal("go tool nm listed no main.main: the check above proves nothing")
	}
}
