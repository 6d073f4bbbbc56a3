package adminapi

import "testing"

// TestEveryRouteHasAScopeDecision: each authenticated route is either open
// to account tokens (scopeRules, saying how the account is found) or
// deliberately cluster-only, never both and never neither.
func TestEveryRouteHasAScopeDecision(t *testing.T) {
	served := map[string]bool{}
	for _, r := range Routes() {
		served[r] = true
		_, scoped := scopeRules[r]
		switch {
		case scoped && clusterOnly[r]:
			t.Errorf("%s is both in scopeRules and clusterOnly", r)
		case !scoped && !clusterOnly[r]:
			t.Errorf("%s has no scope decision: add it to scopeRules (how its account is found) or to clusterOnly", r)
		}
	}
	for r := range scopeRules {
		if !served[r] {
			t.Errorf("scopeRules has %s, which is not a route", r)
		}
	}
	for r := range clusterOnly {
		if !served[r] {
			t.Errorf("clusterOnly has %s, which is not a route", r)
		}
	}
}
