// Package failpoint holds the fault injectors of Tally's cluster tests: a
// Raft transport that drops, delays and partitions messages, and a Raft log
// store whose disk fails (fsync error, short write, full disk). Both wrap the
// real thing (hashicorp/raft's transports, raft-boltdb) and are driven by a
// seeded source, so a failing run replays from its seed.
//
// Design: docs/design.md#lease-safety.
package failpoint

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Faults is what a node's outgoing links suffer.
type Faults struct {
	Drop      float64       // an outgoing request is lost before delivery
	DropReply float64       // a delivered request's reply is lost
	MaxDelay  time.Duration // each outgoing request first waits up to this long
}

func (f Faults) String() string {
	return fmt.Sprintf("drop=%.2f dropReply=%.2f delay<%v", f.Drop, f.DropReply, f.MaxDelay)
}

// ErrDropped is a message the faults lost.
var ErrDropped = errors.New("faultnet: message dropped")

// ErrPartitioned is a message towards a blocked address.
var ErrPartitioned = errors.New("faultnet: no link to the target")

// Transport wraps a node's transport: hashicorp/raft's InmemTransport, or
// Tally's TLS stream layer under raft.NetworkTransport. Inbound RPCs arrive
// on the inner transport's consumer unchanged; outbound ones pass through
// the faults first, and fail at once towards a blocked address.
type Transport struct {
	raft.Transport
	mu  sync.Mutex
	rng *rand.Rand
	cfg Faults
	// pausedUntil holds every outgoing RPC until then (see PauseUntil).
	pausedUntil time.Time
	blocked     map[raft.ServerAddress]bool
}

// NewTransport wraps inner; rng decides every fault (seed it).
func NewTransport(inner raft.Transport, rng *rand.Rand) *Transport {
	return &Transport{Transport: inner, rng: rng}
}

var (
	_ raft.Transport   = (*Transport)(nil)
	_ raft.WithClose   = (*Transport)(nil)
	_ raft.WithPreVote = (*Transport)(nil)
)

// Block cuts (or restores) this node's outgoing link to target.
func (f *Transport) Block(target raft.ServerAddress, cut bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked == nil {
		f.blocked = map[raft.ServerAddress]bool{}
	}
	if cut {
		f.blocked[target] = true
	} else {
		delete(f.blocked, target)
	}
}

func (f *Transport) isBlocked(target raft.ServerAddress) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked[target]
}

// PauseUntil holds every outgoing RPC until t, as a stopped process's
// messages would wait in its socket buffers.
func (f *Transport) PauseUntil(t time.Time) {
	f.mu.Lock()
	f.pausedUntil = t
	f.mu.Unlock()
}

// Close closes the inner transport (the TLS listener and its connections).
func (f *Transport) Close() error {
	if c, ok := f.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

// SetFaults changes what the outgoing links suffer from now on.
func (f *Transport) SetFaults(cfg Faults) {
	f.mu.Lock()
	f.cfg = cfg
	f.mu.Unlock()
}

// before decides the fate of one outgoing RPC and waits its delay.
func (f *Transport) before() (dropRequest, dropReply bool) {
	f.mu.Lock()
	cfg := f.cfg
	var d time.Duration
	if cfg.MaxDelay > 0 {
		d = time.Duration(f.rng.Int64N(int64(cfg.MaxDelay)))
	}
	dropRequest = cfg.Drop > 0 && f.rng.Float64() < cfg.Drop
	dropReply = cfg.DropReply > 0 && f.rng.Float64() < cfg.DropReply
	if w := time.Until(f.pausedUntil); w > d {
		d = w
	}
	f.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	return dropRequest, dropReply
}

// call runs one RPC to target through the faults.
func (f *Transport) call(target raft.ServerAddress, rpc func() error) error {
	if f.isBlocked(target) {
		return ErrPartitioned
	}
	dq, dr := f.before()
	if dq {
		return ErrDropped
	}
	if err := rpc(); err != nil {
		return err
	}
	if dr {
		return ErrDropped
	}
	return nil
}

func (f *Transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return f.call(target, func() error { return f.Transport.AppendEntries(id, target, args, resp) })
}

func (f *Transport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return f.call(target, func() error { return f.Transport.RequestVote(id, target, args, resp) })
}

func (f *Transport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return f.call(target, func() error { return f.Transport.(raft.WithPreVote).RequestPreVote(id, target, args, resp) })
}

func (f *Transport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	return f.call(target, func() error { return f.Transport.InstallSnapshot(id, target, args, resp, data) })
}

func (f *Transport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return f.call(target, func() error { return f.Transport.TimeoutNow(id, target, args, resp) })
}

// AppendEntriesPipeline keeps Raft's pipelined replication (the production
// path) but lets the faults delay or drop what goes into the pipeline. A
// dropped pipelined append makes Raft fall back to plain RPCs, as a broken
// TCP stream would.
func (f *Transport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if f.isBlocked(target) {
		return nil, ErrPartitioned
	}
	p, err := f.Transport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &pipeline{AppendPipeline: p, f: f, target: target}, nil
}

type pipeline struct {
	raft.AppendPipeline
	f      *Transport
	target raft.ServerAddress
}

func (p *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if p.f.isBlocked(p.target) {
		return nil, ErrPartitioned
	}
	if dq, _ := p.f.before(); dq {
		return nil, ErrDropped
	}
	return p.AppendPipeline.AppendEntries(args, resp)
}
