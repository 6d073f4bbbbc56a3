// Package metrics exposes a tallyd node's Prometheus metrics: lease and
// queue gauges read from the ledger at scrape time, counters of what this
// node applied and received, Raft state, and commit latency.
//
// Design: docs/design.md#scale.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/daemon/leasing"
)

// Source is what the scrape-time gauges read.
type Source struct {
	Store   *store.Store
	Leasing *leasing.Service
}

// Metrics holds one node's registry. Counters count commands as this node
// applied them, so every node of a cluster reports the same grants.
type Metrics struct {
	reg           *prometheus.Registry
	grants        prometheus.Counter
	denials       *prometheus.CounterVec
	ended         *prometheus.CounterVec
	heartbeats    prometheus.Counter
	commitLatency prometheus.Histogram
	state         *stateCollector
}

// New registers the metrics over src.
func New(src Source) *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		grants: prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_grants_total", Help: "Checkouts granted (applied on this node)."}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_denials_total", Help: "Checkouts refused, by error code."},
			[]string{"code"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_leases_ended_total", Help: "Leases ended, by reason (released, expired, revoked, replaced)."},
			[]string{"reason"}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_heartbeats_total", Help: "Agent heartbeats received by this node; rate() gives the heartbeat rate."}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tally_raft_commit_seconds", Help: "Time from proposing a command on this node (the leader) to its application.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	m.state = &stateCollector{src: src}
	m.reg.MustRegister(m.grants, m.denials, m.ended, m.heartbeats, m.commitLatency,
		m.state, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors of other parts of the node (the agent port's
// connection limits) to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// SetStore gives the gauges the store once it is open.
func (m *Metrics) SetStore(st *store.Store) { m.state.src.Store = st }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Observe counts an applied command (the store's apply observer).
func (m *Metrics) Observe(cmd *ledger.Command, res ledger.Result) {
	if cmd.Type == ledger.CmdBatch {
		for i := range cmd.Batch {
			if i < len(res.Batch) {
				m.Observe(&cmd.Batch[i], res.Batch[i])
			}
		}
		return
	}
	if res.Replayed {
		return
	}
	if cmd.Type == ledger.CmdCheckout {
		if res.Error != nil {
			m.denials.WithLabelValues(string(res.Error.Code)).Inc()
		} else {
			m.grants.Inc()
		}
	}
	for _, e := range res.Ended {
		m.ended.WithLabelValues(string(e.Reason)).Inc()
	}
}

// Heartbeat counts one agent heartbeat.
func (m *Metrics) Heartbeat() { m.heartbeats.Inc() }

// Committed records how long a local proposal took to commit and apply.
func (m *Metrics) Committed(d time.Duration) { m.commitLatency.Observe(d.Seconds()) }

// stateCollector reads the ledger and Raft at scrape time, so gauges are
// never stale and cost nothing between scrapes.
type stateCollector struct{ src Source }

var (
	descLeases   = prometheus.NewDesc("tally_leases", "Leases held now, by pool and state (held, revoked).", []string{"account", "feature", "state"}, nil)
	descSeats    = prometheus.NewDesc("tally_pool_seats", "Purchased seats per pool.", []string{"account", "feature"}, nil)
	descQueue    = prometheus.NewDesc("tally_queue_length", "Checkouts waiting for a seat, by pool.", []string{"account", "feature"}, nil)
	descRole     = prometheus.NewDesc("tally_raft_state", "1 for this node's Raft state (Leader, Follower, Candidate).", []string{"state"}, nil)
	descTerm     = prometheus.NewDesc("tally_raft_term", "Current Raft term.", nil, nil)
	descCommit   = prometheus.NewDesc("tally_raft_commit_index", "Raft commit index.", nil, nil)
	descApplied  = prometheus.NewDesc("tally_raft_applied_index", "Raft index applied to the ledger.", nil, nil)
	descHasLeadr = prometheus.NewDesc("tally_raft_has_leader", "1 when this node knows a leader.", nil, nil)
	// descDenied is the ledger's replicated count of refused checkouts (every
	// node reports the same), for purchasing decisions; tally_denials_total
	// counts what this node applied since it started.
	descDenied = prometheus.NewDesc("tally_denials_recorded_total", "Refused checkouts recorded in the ledger (kept 400 days), by account, feature and reason.", []string{"account", "feature", "code"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeases, descSeats, descQueue, descRole, descTerm, descCommit, descApplied, descHasLeadr, descDenied} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Store == nil {
		return
	}
	st := c.src.Store.Status()
	for _, s := range []string{"Leader", "Follower", "Candidate"} {
		v := 0.0
		if st.State == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descRole, prometheus.GaugeValue, v, s)
	}
	ch <- prometheus.MustNewConstMetric(descTerm, prometheus.GaugeValue, float64(st.Term))
	ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, float64(st.CommitIndex))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(st.AppliedIndex))
	has := 0.0
	if st.LeaderID != "" {
		has = 1
	}
	ch <- prometheus.MustNewConstMetric(descHasLeadr, prometheus.GaugeValue, has)

	type key struct{ account, feature, state string }
	counts := map[key]int{}
	denied := map[key]int{} // state holds the refusal code
	var pools []ledger.PoolUsage
	c.src.Store.Read(func(s *ledger.State) {
		for _, l := range s.Leases(ledger.LeaseFilter{}) {
			state := "held"
			if l.Revoked {
				state = "revoked"
			}
			counts[key{l.Account, l.Feature, state}]++
		}
		pools = s.Usage("", time.Now().UTC())
		for _, d := range s.Denials("", "", "") {
			denied[key{d.Account, d.Feature, string(d.Code)}] += d.Count
		}
	})
	for k, n := range denied {
		ch <- prometheus.MustNewConstMetric(descDenied, prometheus.CounterValue, float64(n), k.account, k.feature, k.state)
	}
	for _, p := range pools {
		ch <- prometheus.MustNewConstMetric(descSeats, prometheus.GaugeValue, float64(p.Seats), p.Account, p.Feature)
		for _, state := range []string{"held", "revoked"} {
			ch <- prometheus.MustNewConstMetric(descLeases, prometheus.GaugeValue, float64(counts[key{p.Account, p.Feature, state}]), p.Account, p.Feature, state)
		}
	}
	queue := map[[2]string]int{}
	if c.src.Leasing != nil {
		for _, w := range c.src.Leasing.Waiting() {
			queue[[2]string{w.Account, w.Feature}]++
		}
	}
	for _, p := range pools {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(queue[[2]string{p.Account, p.Feature}]), p.Account, p.Feature)
	}
}
