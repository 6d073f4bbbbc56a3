package ledger

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// The sign-in brake slows password guessing down, the same on every node:
// failures are ledger commands, so N nodes do not give N times the tries,
// and a new leader knows what the old one counted. It counts failures per
// member (account and e-mail) and per source address, and answers with an
// increasing delay instead of a lock-out: the real member waits at most
// memberMaxDelay between tries wherever the guesses come from, while a
// source spraying passwords over many members waits up to sourceMaxDelay
// (issue 13, finding 7).

// CmdSignInBrake records sign-in failures and clears a member's count.
const CmdSignInBrake CommandType = "sign_in_brake"

// SignInBrake is CmdSignInBrake's payload: keys made by BrakeMember and
// BrakeSource.
type SignInBrake struct {
	Fail  []string `json:"fail,omitempty"`
	Reset []string `json:"reset,omitempty"`
}

// BrakeEntry is the failure count of one key.
type BrakeEntry struct {
	Key      string    `json:"key"`
	Failures int       `json:"failures"`
	Last     time.Time `json:"last"`
}

const (
	memberFreeFailures = 5
	memberMaxDelay     = time.Minute
	sourceFreeFailures = 20
	sourceMaxDelay     = 15 * time.Minute
	// brakeMemory is how long a key is remembered after its last failure.
	brakeMemory = time.Hour
	// maxBrakeEntries bounds the brake's memory whatever is tried; beyond
	// it the keys failed longest ago are forgotten first.
	maxBrakeEntries = 50_000
)

// BrakeMember and BrakeSource make the brake's keys.
func BrakeMember(account, email string) string {
	return "member:" + account + "\x00" + NormalizeEmail(email)
}
func BrakeSource(addr string) string { return "source:" + addr }

func (b *SignInBrake) describe() (string, string) {
	return "", fmt.Sprintf("sign-in brake: %d failure(s), %d reset(s)", len(b.Fail), len(b.Reset))
}

type brakeBook map[string]*BrakeEntry

func (s *State) signInBrake(now time.Time, b *SignInBrake) Result {
	if len(b.Fail)+len(b.Reset) > 16 {
		return fail(protocol.CodeInvalidArgument, "a sign-in brake command names at most 16 keys")
	}
	if s.brake == nil {
		s.brake = brakeBook{}
	}
	for _, k := range b.Reset {
		delete(s.brake, k)
	}
	for _, k := range b.Fail {
		if len(k) > 512 {
			continue
		}
		e := s.brake[k]
		if e == nil || stale(e, now) {
			e = &BrakeEntry{Key: k}
			s.brake[k] = e
		}
		e.Failures++
		e.Last = now
	}
	s.brake.bound(now)
	return Result{}
}

// stale reports a key with no failure for brakeMemory: it counts as none.
func stale(e *BrakeEntry, now time.Time) bool { return now.Sub(e.Last) > brakeMemory }

// bound keeps the brake within maxBrakeEntries: when it is full, stale keys
// go, then the keys failed longest ago (ties by key, so every node forgets
// the same ones). Between, stale keys only cost memory within the bound.
func (b brakeBook) bound(now time.Time) {
	if len(b) <= maxBrakeEntries {
		return
	}
	for k, e := range b {
		if stale(e, now) {
			delete(b, k)
		}
	}
	if len(b) <= maxBrakeEntries*9/10 {
		return
	}
	all := b.sorted()
	sort.SliceStable(all, func(i, j int) bool { return all[i].Last.Before(all[j].Last) })
	for _, e := range all[:len(all)-maxBrakeEntries*9/10] {
		delete(b, e.Key)
	}
}

func (b brakeBook) sorted() []BrakeEntry {
	out := make([]BrakeEntry, 0, len(b))
	for _, e := range b {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func restoreBrake(es []BrakeEntry) brakeBook {
	b := brakeBook{}
	for i := range es {
		e := es[i]
		b[e.Key] = &e
	}
	return b
}

// SignInDelay is how long a sign-in for keys must still wait at now: the
// longest of their delays, zero when none is braked.
func (s *State) SignInDelay(now time.Time, keys ...string) time.Duration {
	var wait time.Duration
	for _, k := range keys {
		e, ok := s.brake[k]
		if !ok || stale(e, now) {
			continue
		}
		free, most := memberFreeFailures, memberMaxDelay
		if strings.HasPrefix(k, "source:") {
			free, most = sourceFreeFailures, sourceMaxDelay
		}
		if e.Failures < free {
			continue
		}
		d := most
		if n := e.Failures - free; n < 20 {
			d = min(time.Second<<n, most)
		}
		if left := e.Last.Add(d).Sub(now); left > wait {
			wait = left
		}
	}
	return wait
}

// BrakeFailures is the failure count of a key (for tests and operators).
func (s *State) BrakeFailures(key string) int {
	if e, ok := s.brake[key]; ok {
		return e.Failures
	}
	return 0
}
