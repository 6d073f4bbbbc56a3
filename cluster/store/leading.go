package store

import (
	"context"
	"time"
)

// EveryWhileLeading calls f every interval, skipping the ticks when
// leading reports that this node does not lead, until ctx ends. The
// leader's housekeeping loops (reaper, reminders, invitation expiry and
// renewals) run this way on every node, so a new leader takes them over
// at its next tick.
func EveryWhileLeading(ctx context.Context, interval time.Duration, leading func() bool, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if leading() {
			f(ctx)
		}
	}
}
