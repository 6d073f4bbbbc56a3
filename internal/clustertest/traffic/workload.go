// Package traffic drives simulated devices against a Tally cluster in
// tests: each device checks out, renews and releases seats of one pool,
// records every call in a linearize.Recorder (for porcupine) and keeps what
// it was told (grants, horizons, releases) for the validators in
// internal/clustertest/validate.
//
// Design: docs/design.md#lease-safety.
package traffic

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/linearize"
	"github.com/tally-licensing/tally/protocol"
)

// Account and Feature name the one pool every workload uses.
const (
	Account = "acme"
	Feature = "cad"
)

// Proposer sends a command to whichever node leads and retries, with the
// same request ID, until a node answers or ctx ends.
type Proposer interface {
	Propose(ctx context.Context, cmd ledger.Command) (ledger.Result, error)
}

// Workload drives simulated devices through a Proposer and records what
// each learned.
type Workload struct {
	p         Proposer
	rec       *linearize.Recorder
	seats     int
	devices   int
	settings  ledger.Settings
	completed atomic.Int64 // operations with a definite answer

	// OpTimeout bounds each operation (default 10s).
	OpTimeout time.Duration
	// Expiry: devices sometimes abandon a lease (stop renewing it and go
	// quiet for longer than TTL+skew), so that seats come back by expiry.
	Expiry bool

	mu   sync.Mutex
	seen []uint64 // every lease ID a device was granted
	acks Acks
}

// Acks is what the devices were told, for the validators.
type Acks struct {
	Grants  map[uint64]ledger.Lease // acknowledged grants
	Renews  map[uint64]time.Time    // latest acknowledged horizon per lease
	Ends    map[uint64]time.Time    // acknowledged releases: lease → release time
	Holding map[int]uint64          // at the end: lease each device knows it holds
	Unsure  map[int]bool            // at the end: devices whose last answer was lost
	Errs    []string                // answers no correct cluster gives
}

// New makes a workload of devices d0…d(devices-1) on a pool of seats.
func New(p Proposer, settings ledger.Settings, seats, devices int) *Workload {
	return &Workload{
		p: p, rec: linearize.NewRecorder(), seats: seats, devices: devices, settings: settings,
		OpTimeout: 10 * time.Second,
		acks: Acks{
			Grants: map[uint64]ledger.Lease{}, Renews: map[uint64]time.Time{}, Ends: map[uint64]time.Time{},
			Holding: map[int]uint64{}, Unsure: map[int]bool{},
		},
	}
}

// Seats and Devices are the workload's pool size and device count.
func (w *Workload) Seats() int   { return w.seats }
func (w *Workload) Devices() int { return w.devices }

// Recorder is the client history for porcupine.
func (w *Workload) Recorder() *linearize.Recorder { return w.rec }

// Completed counts operations with a definite answer so far.
func (w *Workload) Completed() int64 { return w.completed.Load() }

// Acks returns what the devices were told (call after the devices stop).
func (w *Workload) Acks() Acks {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acks
}

func (w *Workload) errorf(format string, args ...any) {
	if len(w.acks.Errs) < 20 {
		w.acks.Errs = append(w.acks.Errs, fmt.Sprintf(format, args...))
	}
}

// Run starts the devices and returns halt, which stops them and waits for
// them; it is safe to call twice, and the test's cleanup calls it too, so
// a failing test does not leave devices running.
func (w *Workload) Run(t testing.TB, seed uint64) (halt func()) {
	stop := make(chan struct{})
	wait := w.Start(stop, seed)
	var once sync.Once
	halt = func() { once.Do(func() { close(stop); wait() }) }
	t.Cleanup(halt)
	return halt
}

// Start runs one goroutine per device until stop is closed; the returned
// function waits for them. A device finishes the operation it is in (with
// its own deadline) before it stops.
func (w *Workload) Start(stop <-chan struct{}, seed uint64) (wait func()) {
	var wg sync.WaitGroup
	for d := 0; d < w.devices; d++ {
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			w.device(stop, d, rand.New(rand.NewPCG(seed, 1000+uint64(d))))
		}(d)
	}
	return wg.Wait
}

// WaitProgress polls until n more operations have completed since it was
// called.
func (w *Workload) WaitProgress(ctx context.Context, n int64) error {
	target := w.completed.Load() + n
	for w.completed.Load() < target {
		if err := SleepCtx(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("%d operations completed, waiting for %d: %w", w.completed.Load(), target, err)
		}
	}
	return nil
}

// SleepCtx sleeps for d or until ctx ends.
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CheckoutCmd, RenewCmd and ReleaseCmd are the commands device dev sends.
func CheckoutCmd(reqID string, dev int) ledger.Command {
	return ledger.Command{Type: ledger.CmdCheckout, RequestID: reqID, Payload: &ledger.Checkout{Account: Account, Device: fmt.Sprint("d", dev), Feature: Feature}}
}

func RenewCmd(reqID string, dev int, lease uint64, ttl time.Duration) ledger.Command {
	return ledger.Command{Type: ledger.CmdRenew, RequestID: reqID, Payload: &ledger.Renew{Account: Account, Device: fmt.Sprint("d", dev), Leases: []uint64{lease}, TTL: ttl}}
}

func ReleaseCmd(reqID string, dev int, lease uint64) ledger.Command {
	return ledger.Command{Type: ledger.CmdRelease, RequestID: reqID, Payload: &ledger.Release{Account: Account, Device: fmt.Sprint("d", dev), LeaseID: lease}}
}

// device is one simulated device. It holds at most one lease of the pool.
// After an operation whose answer was lost it does not know whether it
// holds a lease, and asks again with a checkout (a device asking again
// gets the lease it holds).
func (w *Workload) device(stop <-chan struct{}, d int, rng *rand.Rand) {
	var held uint64
	unsure := false
	defer func() {
		w.mu.Lock()
		w.acks.Holding[d], w.acks.Unsure[d] = held, unsure
		w.mu.Unlock()
	}()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		reqID := fmt.Sprintf("d%d-op%d", d, n)
		var in linearize.Input
		var cmd ledger.Command
		p := rng.Float64()
		switch {
		case held == 0 || unsure || p < 0.1:
			in = linearize.Input{Kind: linearize.Checkout, Device: d}
			cmd = CheckoutCmd(reqID, d)
		case w.Expiry && p < 0.2:
			// Abandon the lease: go quiet until its seat is reusable.
			held = 0
			quiet := w.settings.LeaseTTL + w.settings.MaxSkew + time.Duration(rng.Int64N(int64(500*time.Millisecond)))
			select {
			case <-stop:
				return
			case <-time.After(quiet):
			}
			continue
		case p < 0.45:
			in = linearize.Input{Kind: linearize.Renew, Device: d, Lease: held}
			cmd = RenewCmd(reqID, d, held, 0)
		case p < 0.85:
			in = linearize.Input{Kind: linearize.Release, Device: d, Lease: held}
			cmd = ReleaseCmd(reqID, d, held)
		default:
			// A stale or foreign fencing ID must be refused (S5).
			stale := w.randomSeen(rng, held)
			if stale == 0 {
				continue
			}
			in = linearize.Input{Kind: linearize.Release, Device: d, Lease: stale}
			cmd = ReleaseCmd(reqID, d, stale)
		}
		call := w.rec.Now()
		ctx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
		res, err := w.p.Propose(ctx, cmd)
		cancel()
		out := w.outcome(d, in, res, err)
		w.rec.Record(d, in, call, out)
		if out.Outcome != linearize.Unknown {
			w.completed.Add(1)
		}
		switch {
		case in.Kind == linearize.Checkout && out.Outcome == linearize.OK:
			held, unsure = out.Lease, false
		case in.Kind == linearize.Checkout && out.Outcome == linearize.Refused:
			held, unsure = 0, false
		case in.Kind == linearize.Checkout:
			unsure = true
		case in.Kind == linearize.Release && in.Lease == held && out.Outcome == linearize.OK:
			held = 0
		case in.Kind == linearize.Release && in.Lease == held:
			unsure = true // lost answer, or (a bug) our own release refused
		case in.Kind == linearize.Renew && out.Outcome == linearize.Refused:
			// Refused renewal of our own lease: a bug unless it expired
			// because we were too slow; find out with a checkout.
			unsure = true
		}
	}
}

func (w *Workload) randomSeen(rng *rand.Rand, not uint64) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) == 0 {
		return 0
	}
	id := w.seen[rng.IntN(len(w.seen))]
	if id == not {
		return 0
	}
	return id
}

// outcome classifies a result and keeps what the device acknowledged.
func (w *Workload) outcome(d int, in linearize.Input, res ledger.Result, err error) linearize.Output {
	if err != nil {
		return linearize.Output{Outcome: linearize.Unknown}
	}
	dev := fmt.Sprint("d", d)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch in.Kind {
	case linearize.Checkout:
		switch {
		case res.Error == nil && res.Lease != nil:
			l := *res.Lease
			if l.Device != dev {
				w.errorf("checkout by %s returned lease %+v", dev, l)
			}
			if _, ok := w.acks.Grants[l.ID]; !ok {
				w.acks.Grants[l.ID] = l
				w.seen = append(w.seen, l.ID)
			}
			if l.Horizon.After(w.acks.Renews[l.ID]) {
				w.acks.Renews[l.ID] = l.Horizon
			}
			return linearize.Output{Outcome: linearize.OK, Lease: l.ID}
		case res.Error != nil && res.Error.Code == protocol.CodeNoSeat:
			return linearize.Output{Outcome: linearize.Refused, Code: string(res.Error.Code)}
		}
		w.errorf("checkout by %s: unexpected result %+v", dev, res)
	case linearize.Renew:
		if len(res.Renewed) != 1 {
			w.errorf("renew by %s: unexpected result %+v", dev, res)
			break
		}
		rr := res.Renewed[0]
		if rr.Lease != nil {
			if rr.Lease.Horizon.After(w.acks.Renews[rr.ID]) {
				w.acks.Renews[rr.ID] = rr.Lease.Horizon
			}
			return linearize.Output{Outcome: linearize.OK}
		}
		if Refusal(rr.Error) {
			return linearize.Output{Outcome: linearize.Refused, Code: string(rr.Error.Code)}
		}
		w.errorf("renew by %s: unexpected result %+v", dev, rr)
	case linearize.Release:
		if res.Error == nil {
			if len(res.Ended) != 1 || res.Ended[0].ID != in.Lease {
				w.errorf("release of %d by %s ended %+v", in.Lease, dev, res.Ended)
			} else {
				w.acks.Ends[in.Lease] = res.Ended[0].At
			}
			return linearize.Output{Outcome: linearize.OK}
		}
		if Refusal(res.Error) {
			return linearize.Output{Outcome: linearize.Refused, Code: string(res.Error.Code)}
		}
		w.errorf("release of %d by %s: unexpected result %+v", in.Lease, dev, res)
	}
	return linearize.Output{Outcome: linearize.Unknown}
}

// Refusal reports whether a renew or release was refused for a reason a
// stale or foreign lease ID explains.
func Refusal(e *protocol.Error) bool {
	if e == nil {
		return false
	}
	switch e.Code {
	case protocol.CodeNotHolder, protocol.CodeLeaseNotFound, protocol.CodeLeaseExpired, protocol.CodeLeaseRevoked:
		return true
	}
	return false
}
