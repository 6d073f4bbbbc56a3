package client

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with jitter: the n-th consecutive failure
// waits a random time in [d/2, d], d = min(Max, Min·2^(n-1)). The jitter keeps
// a fleet of agents that lost the cluster together from coming back in step.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff is used between rounds of failed connection attempts.
var DefaultBackoff = Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second}

// Delay returns the wait after the n-th consecutive failure (n ≥ 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Min
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleep waits Delay(n) or until ctx ends, and reports whether it waited the
// whole time.
func (b Backoff) Sleep(ctx context.Context, n int) bool {
	t := time.NewTimer(b.Delay(n))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
