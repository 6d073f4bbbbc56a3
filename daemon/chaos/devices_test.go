package chaos

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tally-licensing/tally/agent/client"
	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/linearize"
	"github.com/tally-licensing/tally/internal/clustertest/validate"
	"github.com/tally-licensing/tally/internal/e2eframework"
	"github.com/tally-licensing/tally/protocol"
)

func clientTLS(caFile string) (*tls.Config, error) { return client.TLSConfig(caFile, nil) }

// device is one enrolled device: a real QUIC client with its certificate.
// It holds at most one lease of the pool, and records every call for
// porcupine and every token for the token ledger.
type device struct {
	n      int
	code   string
	c      *client.Client
	rec    *linearize.Recorder
	tokens *validate.TokenLedger
	ops    *atomic.Int64
	codes  *codeCount
}

// codeCount counts the refusal codes devices saw, by operation.
type codeCount struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *codeCount) add(op string, code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[op+"/"+code]++
}

// describe is an error's code, with the start of the message for an
// internal error (which names the cause).
func describe(err error) string {
	code := string(protocol.CodeOf(err))
	if code == string(protocol.CodeInternal) {
		msg := err.Error()
		if len(msg) > 90 {
			msg = msg[:90]
		}
		return code + " (" + msg + ")"
	}
	return code
}

func (c *codeCount) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.m)
}

// enrollDevices enrolls n devices with tok over the cluster's agent
// addresses (each device lists them in its own seeded order).
func enrollDevices(ctx context.Context, c *procCluster, tok string, n int, seed uint64, rec *linearize.Recorder, tokens *validate.TokenLedger, ops *atomic.Int64, codes *codeCount) ([]*device, error) {
	base := c.tlsBase()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := []client.Option{client.WithLogger(quiet), client.WithDialTimeout(time.Second)}
	var out []*device
	for i := 0; i < n; i++ {
		servers := c.agentAddrs()
		rng := rand.New(rand.NewPCG(seed, 77+uint64(i)))
		rng.Shuffle(len(servers), func(a, b int) { servers[a], servers[b] = servers[b], servers[a] })
		key, err := certs.NewDeviceKey()
		if err != nil {
			return nil, err
		}
		code := fmt.Sprintf("chaos-%d", i)
		csr, err := certs.CreateCSR(key, code)
		if err != nil {
			return nil, err
		}
		keyPEM, err := certs.EncodeKeyPEM(key)
		if err != nil {
			return nil, err
		}
		ec, err := client.New(servers, base, opts...)
		if err != nil {
			return nil, err
		}
		var resp protocol.EnrollResponse
		// A follower may not have applied the token yet (issue 19's
		// read-your-writes item): enrolling is idempotent, so ask again.
		err = e2eframework.Poll(ctx, 30*time.Second, func() error {
			ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return ec.Do(ectx, protocol.TypeEnroll, "enroll-"+code, protocol.EnrollRequest{Token: tok, DeviceCode: code, CSR: csr, Hostname: "chaos"}, &resp)
		})
		ec.Close()
		if err != nil {
			return nil, fmt.Errorf("enroll %s: %w", code, err)
		}
		pair, err := certs.KeyPair(resp.Certificate, keyPEM)
		if err != nil {
			return nil, err
		}
		conf := base.Clone()
		conf.Certificates = []tls.Certificate{pair}
		dc, err := client.New(servers, conf, opts...)
		if err != nil {
			return nil, err
		}
		out = append(out, &device{n: i, code: code, c: dc, rec: rec, tokens: tokens, ops: ops, codes: codes})
	}
	return out, nil
}

// run checks out, renews (heartbeats) and releases until stop closes. A
// call whose answer is lost is asked again with the same request ID (the
// server answers a repeated ID with the recorded outcome), as the agent
// does, until an answer comes or the run stops.
func (d *device) run(stop <-chan struct{}, rng *rand.Rand, feature string) {
	var held uint64
	seq := 0
	call := func(typ protocol.Type, reqID string, body, out any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return d.c.Do(ctx, typ, reqID, body, out)
	}
	definite := func(err error) bool {
		return err == nil || (protocol.CodeOf(err) != "" && !protocol.CodeOf(err).Temporary())
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for !stopped() {
		seq++
		reqID := fmt.Sprintf("%s-%d", d.code, seq)
		switch p := rng.Float64(); {
		case held == 0:
			in := linearize.Input{Kind: linearize.Checkout, Device: d.n}
			start := d.rec.Now()
			var resp protocol.CheckoutResponse
			err := call(protocol.TypeCheckout, reqID, protocol.CheckoutRequest{Feature: feature}, &resp)
			for !definite(err) && !stopped() {
				time.Sleep(100 * time.Millisecond)
				err = call(protocol.TypeCheckout, reqID, protocol.CheckoutRequest{Feature: feature}, &resp)
			}
			got := time.Now()
			out := linearize.Output{Outcome: linearize.Unknown}
			switch {
			case err == nil:
				out = linearize.Output{Outcome: linearize.OK, Lease: resp.Lease.ID}
				held = resp.Lease.ID
				d.tokens.Received(resp.Lease.Token, got, d.code)
			case protocol.CodeOf(err) == protocol.CodeNoSeat:
				out = linearize.Output{Outcome: linearize.Refused, Code: string(protocol.CodeNoSeat)}
			case definite(err):
				// Any other refusal is not in the seat model: counted and
				// reported, recorded as unknown (it changed nothing).
				d.codes.add("checkout", describe(err))
				time.Sleep(100 * time.Millisecond)
			}
			d.rec.Record(d.n, in, start, out)
			if out.Outcome != linearize.Unknown {
				d.ops.Add(1)
			}
			if out.Outcome == linearize.Refused {
				time.Sleep(time.Duration(50+rng.IntN(200)) * time.Millisecond)
			}
		case p < 0.75:
			in := linearize.Input{Kind: linearize.Renew, Device: d.n, Lease: held}
			start := d.rec.Now()
			var resp protocol.HeartbeatResponse
			err := call(protocol.TypeHeartbeat, reqID, protocol.HeartbeatRequest{Leases: []protocol.LeaseRef{{ID: held, Feature: feature}}}, &resp)
			got := time.Now()
			out := linearize.Output{Outcome: linearize.Unknown}
			if err == nil && len(resp.Leases) == 1 {
				switch st := resp.Leases[0]; st.State {
				case protocol.LeaseHeld:
					out = linearize.Output{Outcome: linearize.OK}
					if st.Token != "" {
						d.tokens.Received(st.Token, got, d.code)
					}
				case protocol.LeaseLost:
					code := ""
					if st.Error != nil {
						code = string(st.Error.Code)
					}
					out = linearize.Output{Outcome: linearize.Refused, Code: code}
					d.codes.add("renew", code)
					held = 0 // the seat is gone; its last token stays valid until exp
				}
			}
			if err != nil {
				if code := protocol.CodeOf(err); definite(err) {
					d.codes.add("heartbeat", string(code)+describe(err)[len(code):])
				}
			}
			d.rec.Record(d.n, in, start, out)
			if out.Outcome != linearize.Unknown {
				d.ops.Add(1)
			}
			time.Sleep(time.Duration(100+rng.IntN(250)) * time.Millisecond)
		default:
			// Give the seat back: the token is discarded first.
			d.tokens.Discarded(held, time.Now())
			in := linearize.Input{Kind: linearize.Release, Device: d.n, Lease: held}
			start := d.rec.Now()
			err := call(protocol.TypeRelease, reqID, protocol.ReleaseRequest{LeaseID: held}, &protocol.ReleaseResponse{})
			for !definite(err) && !stopped() {
				time.Sleep(100 * time.Millisecond)
				err = call(protocol.TypeRelease, reqID, protocol.ReleaseRequest{LeaseID: held}, &protocol.ReleaseResponse{})
			}
			out := linearize.Output{Outcome: linearize.Unknown}
			switch {
			case err == nil:
				out = linearize.Output{Outcome: linearize.OK}
			case definite(err):
				out = linearize.Output{Outcome: linearize.Refused, Code: string(protocol.CodeOf(err))}
				d.codes.add("release", string(protocol.CodeOf(err)))
			}
			d.rec.Record(d.n, in, start, out)
			if out.Outcome != linearize.Unknown {
				d.ops.Add(1)
			}
			held = 0
		}
	}
}

// runDevices runs every device until stop; the returned function waits.
func runDevices(devs []*device, stop <-chan struct{}, seed uint64, feature string) (wait func()) {
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Add(1)
		go func(d *device) {
			defer wg.Done()
			d.run(stop, rand.New(rand.NewPCG(seed, 1000+uint64(d.n))), feature)
		}(d)
	}
	return wg.Wait
}
