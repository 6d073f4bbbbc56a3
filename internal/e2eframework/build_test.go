package e2eframework

import (
	"os"
	"strings"
	"testing"
)

// TestAgentIsBuiltAsTheMakefileBuildsIt: the tests and the footprint
// benchmark must run the tally-agent that make build, make dist and make
// packages ship (no cgo, AgentTags), or what they measure is another binary.
func TestAgentIsBuiltAsTheMakefileBuildsIt(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"AGENT_TAGS    := " + AgentTags + "\n",
		"AGENT_GCFLAGS := " + strings.Join(AgentGCFlags, " ") + "\n",
		"AGENT_FLAGS   := -tags $(AGENT_TAGS) $(foreach f,$(AGENT_GCFLAGS),-gcflags=$(f))\n",
		"AGENT_BUILD   := CGO_ENABLED=0 $(GO) build $(AGENT_FLAGS)\n",
	} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("the Makefile no longer says %q: make Build (framework.go) build tally-agent the way the Makefile does", want)
		}
	}
	// make dist and make packages build the agent with the same flags.
	if n := strings.Count(string(mk), "flags='$(AGENT_FLAGS)'"); n != 2 {
		t.Errorf("AGENT_FLAGS is used by %d of make dist and make packages, want both", n)
	}
}
