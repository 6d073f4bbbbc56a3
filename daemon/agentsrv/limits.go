package agentsrv

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
)

// Limits bound what one source, and everyone together, may hold open on
// the agent port, so that nobody can exhaust the node's memory or CPU
// without a device certificate (issue 13, finding 4). Zero fields take the
// defaults below.
type Limits struct {
	// MaxConns is the total of open agent connections.
	MaxConns int
	// MaxConnsPerSource is the open connections one IP address may hold;
	// many agents behind one NAT share it, so it is generous.
	MaxConnsPerSource int
	// MaxStreams is the concurrent requests (QUIC streams) one connection
	// may have in flight.
	MaxStreams int
	// MaxUnauthenticatedStreams is the same for a connection without a
	// device certificate (enrollment and the server list only).
	MaxUnauthenticatedStreams int
	// HandshakesPerSecond is the rate of new connections accepted, with a
	// burst of the same size.
	HandshakesPerSecond int
	// MaxUnauthenticatedPerSource is the connections without a device
	// certificate (enrolling devices) one IP address may hold.
	MaxUnauthenticatedPerSource int
	// MaxHeartbeatSessions is the datagram heartbeat sessions kept (one
	// per device at most, ~0.3 KiB each); issuing one beyond it evicts the
	// one issued longest ago.
	MaxHeartbeatSessions int
	// DatagramQueue is the datagrams waiting for an answer; beyond it
	// they are dropped (their agents fall back to QUIC).
	DatagramQueue int
}

// Defaults: about 115 KiB of server memory per connected device, so the
// total bounds the agent port's share near 2.3 GiB.
const (
	DefaultMaxConns                  = 20000
	DefaultMaxConnsPerSource         = 1024
	DefaultMaxStreams                = 32
	DefaultMaxUnauthenticatedStreams = 2
	DefaultHandshakesPerSecond       = 500
	DefaultMaxUnauthenticatedPerSrc  = 8
	DefaultMaxHeartbeatSessions      = 200000
	DefaultDatagramQueue             = 4096
	// unauthenticatedMaxFrame bounds a request on a connection without a
	// certificate: an enrollment with its CSR is a few kilobytes.
	unauthenticatedMaxFrame = 64 << 10
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxConns, DefaultMaxConns)
	def(&l.MaxConnsPerSource, DefaultMaxConnsPerSource)
	def(&l.MaxStreams, DefaultMaxStreams)
	def(&l.MaxUnauthenticatedStreams, DefaultMaxUnauthenticatedStreams)
	def(&l.HandshakesPerSecond, DefaultHandshakesPerSecond)
	def(&l.MaxUnauthenticatedPerSource, DefaultMaxUnauthenticatedPerSrc)
	def(&l.MaxHeartbeatSessions, DefaultMaxHeartbeatSessions)
	def(&l.DatagramQueue, DefaultDatagramQueue)
	return l
}

var errRefused = errors.New("connection refused by the agent port's limits")

// admission counts open connections per source and in total, and spaces
// new handshakes out with a token bucket.
type admission struct {
	lim Limits
	now func() time.Time

	mu       sync.Mutex
	bySource map[string]int
	anon     map[string]int // connections without a certificate, by source
	total    int
	tokens   float64
	last     time.Time

	open    prometheus.Gauge
	refused *prometheus.CounterVec
}

func newAdmission(lim Limits, now func() time.Time) *admission {
	return &admission{
		lim: lim, now: now, bySource: map[string]int{}, anon: map[string]int{}, tokens: float64(lim.HandshakesPerSecond),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tally_agent_connections", Help: "Open agent connections on this node."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_agent_connections_refused_total",
			Help: "Agent connections refused by a limit: per_source, total, handshake_rate, unauthenticated_per_source."}, []string{"limit"}),
	}
}

func sourceOf(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// handshake decides, before any cryptography, whether a new connection
// from info may start; it is quic.Config.GetConfigForClient.
func (a *admission) handshake(conf *quic.Config) func(*quic.ClientInfo) (*quic.Config, error) {
	return func(info *quic.ClientInfo) (*quic.Config, error) {
		src := sourceOf(info.RemoteAddr)
		a.mu.Lock()
		defer a.mu.Unlock()
		now := a.now()
		if !a.last.IsZero() {
			a.tokens += now.Sub(a.last).Seconds() * float64(a.lim.HandshakesPerSecond)
		}
		a.last = now
		if max := float64(a.lim.HandshakesPerSecond); a.tokens > max {
			a.tokens = max
		}
		switch {
		case a.total >= a.lim.MaxConns:
			a.refused.WithLabelValues("total").Inc()
			return nil, errRefused
		case a.bySource[src] >= a.lim.MaxConnsPerSource:
			a.refused.WithLabelValues("per_source").Inc()
			return nil, errRefused
		case a.tokens < 1:
			a.refused.WithLabelValues("handshake_rate").Inc()
			return nil, errRefused
		}
		a.tokens--
		return conf, nil
	}
}

// enter counts an accepted connection; it reports false (and counts
// nothing) when the limits were reached meanwhile by handshakes admitted
// together, or when the source holds its share of connections without a
// certificate already.
func (a *admission) enter(src string, anonymous bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.total >= a.lim.MaxConns || a.bySource[src] >= a.lim.MaxConnsPerSource:
		a.refused.WithLabelValues("total").Inc()
		return false
	case anonymous && a.anon[src] >= a.lim.MaxUnauthenticatedPerSource:
		a.refused.WithLabelValues("unauthenticated_per_source").Inc()
		return false
	}
	a.total++
	a.bySource[src]++
	if anonymous {
		a.anon[src]++
	}
	a.open.Set(float64(a.total))
	return true
}

func (a *admission) leave(src string, anonymous bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	// The maps hold only sources with connections open, so they are
	// bounded by the connection limits.
	if a.bySource[src]--; a.bySource[src] <= 0 {
		delete(a.bySource, src)
	}
	if anonymous {
		if a.anon[src]--; a.anon[src] <= 0 {
			delete(a.anon, src)
		}
	}
	a.open.Set(float64(a.total))
}

// Collectors are the agent port's metrics, for the node's registry.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.adm.open, s.adm.refused, s.dg.results, s.dg.accepted,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_heartbeat_sessions", Help: "Datagram heartbeat sessions held in this node's memory."},
			func() float64 { return float64(s.sessions.len()) })}
}

// streamSlots bounds the streams served at once on a connection without a
// certificate: beyond it, new streams wait unread (QUIC flow control holds
// the sender back) until one finishes or the connection closes.
type streamSlots chan struct{}

func (s streamSlots) take(ctx context.Context) bool {
	if s == nil {
		return true
	}
	select {
	case s <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s streamSlots) give() {
	if s != nil {
		<-s
	}
}
