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
		"AGENT_TAGS  := " + AgentTags + "\n",
		"AGENT_BUILD := CGO_ENABLED=0 $(GO) build -tags $(AGENT_TAGS)",
	} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("the Makefile no longer says %q: make Build (framework.go) build tally-agent the way the Makefile does", want)
		}
	}
}
