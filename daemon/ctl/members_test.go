package ctl

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tally-licensing/tally/cluster/ledger"
)

func TestUsageBar(t *testing.T) {
	for _, tc := range []struct {
		u    ledger.MemberUsage
		want string
	}{
		{ledger.MemberUsage{Purchased: 10, Active: 4, Unassigned: 1, Pending: 2, Unused: 4}, "[███▓▒▒░░░░]"},
		{ledger.MemberUsage{Purchased: 0}, "[          ]"},
		{ledger.MemberUsage{Purchased: 10, Active: 12, Over: 2}, "[████████!!]"},
		{ledger.MemberUsage{Purchased: 10, Active: 10}, "[██████████]"},
	} {
		got := usageBar(tc.u, 10)
		if got != tc.want || utf8.RuneCountInString(got) != 12 {
			t.Errorf("usageBar(%+v) = %s, want %s", tc.u, got, tc.want)
		}
	}
	var b bytes.Buffer
	printUsage(&b, ledger.MemberUsage{Account: "acme", Purchased: 5, Active: 2, Unused: 3, HardCap: true,
		Teams: []ledger.TeamUsage{{Team: "sales", Seats: 2, Active: 2}}})
	for _, w := range []string{"5 seats purchased (hard cap)", "active 2", "unused 3", "sales", "2 seats"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("usage output lacks %q:\n%s", w, b.String())
		}
	}
}
