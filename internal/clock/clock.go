// Package clock is the time source of a tallyd node. Production wires
// System (time.Now); the chaos tests start real tallyd processes whose
// clocks are offset, and jump, at run time through an offset file (see
// OffsetFile), to check what the lease rules promise under clock error.
//
// Only the node's notion of "now" is shifted: the times it stamps on
// commands (and so on leases and signed tokens), its reaper's view of
// expiry, and the times it answers with. Go's timers, Raft's election and
// leader-lease timing and network deadlines keep using the monotonic clock,
// as they do in production when the wall clock is stepped.
//
// Design: docs/design.md#the-committed-horizon.
package clock

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Clock returns the current time.
type Clock func() time.Time

// System is the machine's clock, in UTC.
func System() time.Time { return time.Now().UTC() }

// EnvOffsetFile names the environment variable that, when set, makes tallyd
// read its clock offset from a file (test use only; tallyd logs a warning).
const EnvOffsetFile = "TALLY_TEST_CLOCK_OFFSET_FILE"

// offsetFile is a clock that adds the Go duration written in a file
// ("1.5s", "-300ms"; empty or missing means 0) to the system clock. The file
// is read again at most every refresh, so a test moves the clock of a running
// process by rewriting it.
type offsetFile struct {
	path    string
	refresh time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	offset time.Duration
	read   time.Time // monotonic time of the last read
	bad    string    // last unparsable content, logged once
}

// OffsetFile returns a clock offset by the duration in path, re-read every
// refresh (at most).
func OffsetFile(path string, refresh time.Duration, log *slog.Logger) Clock {
	o := &offsetFile{path: path, refresh: refresh, log: log}
	return o.now
}

func (o *offsetFile) now() time.Time {
	wall := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.read.IsZero() || wall.Sub(o.read) >= o.refresh {
		o.read = wall
		if d, err := readOffset(o.path); err != nil {
			if msg := err.Error(); msg != o.bad {
				o.bad = msg
				o.log.Error("clock offset file unreadable; keeping the last offset", "file", o.path, "err", err)
			}
		} else if d != o.offset {
			o.log.Warn("test clock offset changed", "file", o.path, "from", o.offset, "to", d)
			o.offset = d
		}
	}
	// Strip the monotonic reading: an offset clock's times must compare by
	// their wall values, as a stepped system clock's would.
	return wall.Add(o.offset).Round(0).UTC()
}

func readOffset(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("offset %q: %w", s, err)
	}
	return d, nil
}

// FromEnv returns the offset-file clock when EnvOffsetFile is set, else
// System.
func FromEnv(log *slog.Logger) Clock {
	path := os.Getenv(EnvOffsetFile)
	if path == "" {
		return System
	}
	log.Warn("TEST CLOCK: this node's time is the system clock plus the offset in a file; never set "+EnvOffsetFile+" in production", "file", path)
	return OffsetFile(path, 20*time.Millisecond, log)
}
