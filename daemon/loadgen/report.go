package loadgen

import (
	"fmt"
	"html"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is every run of one invocation (typically a 1-node and a 3-node
// cluster), written as JSON and drawn as an SVG chart.
type Report struct {
	Command string `json:"command"`
	// Commit is the VCS revision tally-bench was built from.
	Commit        string    `json:"commit"`
	Config        Config    `json:"config"`
	OpenFileLimit uint64    `json:"open_file_limit"`
	Floor         *Floor    `json:"floor,omitempty"`
	Runs          []*Result `json:"runs"`
	Targets       []Target  `json:"targets"`
}

// Target is one row of the results table: a figure, the floor it is read
// against, and the target it should meet.
type Target struct {
	Figure string  `json:"figure"`
	Now    float64 `json:"now"`
	Floor  float64 `json:"floor,omitempty"`
	// Ratio is Now/Floor (0 without a floor).
	Ratio  float64 `json:"ratio,omitempty"`
	Unit   string  `json:"unit"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
}

// run returns the run with n nodes, or nil.
func (r *Report) run(n int) *Result {
	for _, run := range r.Runs {
		if run.Nodes == n {
			return run
		}
	}
	return nil
}

func (run *Result) phase(name string) *Phase {
	for i := range run.Phases {
		if run.Phases[i].Name == name {
			return &run.Phases[i]
		}
	}
	return nil
}

// Heartbeat budget: 100,000 devices heartbeating every 30 s on one core.
const (
	budgetDevices  = 100000
	budgetInterval = 30.0 // seconds
)

// HeartbeatBudgetUs is the server CPU one heartbeat may cost for the
// budget's fleet to fit in one core: 300 µs.
const HeartbeatBudgetUs = 1e6 * budgetInterval / budgetDevices

// ComputeTargets fills r.Targets from the runs and the floor.
func (r *Report) ComputeTargets() {
	r.Targets = nil
	add := func(t Target) {
		if t.Floor > 0 {
			t.Ratio = t.Now / t.Floor
		}
		r.Targets = append(r.Targets, t)
	}
	f := r.Floor
	if f == nil {
		f = &Floor{}
	}
	one := r.run(1)
	if one != nil {
		add(Target{Figure: fmt.Sprintf("server RSS per enrolled device, 1 node, %d devices (floor: per open raw QUIC connection)", one.Devices),
			Now: one.LeaderRSSPerKDevKiB / 1000, Floor: f.ServerRSSPerConnKiB, Unit: "KiB", Target: "≤ 16 KiB at 50k devices",
			Met: one.LeaderRSSPerKDevKiB/1000 <= 16 && one.Devices >= 50000})
		if one.SettleSeconds > 0 {
			add(Target{Figure: fmt.Sprintf("server RSS per device, settled after the storms (devices idle), 1 node, %d devices", one.Devices),
				Now: one.LeaderRSSSettledPerKDevKiB / 1000, Floor: f.ServerRSSPerConnKiB, Unit: "KiB", Target: "≤ 16 KiB at 50k devices",
				Met: one.LeaderRSSSettledPerKDevKiB/1000 <= 16 && one.Devices >= 50000})
		}
		if co := one.phase("checkout"); co != nil {
			add(Target{Figure: "server CPU per checkout, 1 node (floor: QUIC round trip + Ed25519 sign)",
				Now: one.ServerCPUmsPerKCheckouts / 1000, Floor: f.CheckoutCPUus() / 1000, Unit: "ms", Target: "≤ 0.12 ms",
				Met: one.ServerCPUmsPerKCheckouts/1000 <= 0.12})
			add(Target{Figure: "checkouts/s, 1 node (floor: raw QUIC round trips/s, same connections)",
				Now: co.OpsPerSec, Floor: f.RoundTrip.OpsPerSec, Unit: "/s", Target: "≥ 0.8 × floor",
				Met: f.RoundTrip.OpsPerSec > 0 && co.OpsPerSec >= 0.8*f.RoundTrip.OpsPerSec})
			add(Target{Figure: "checkout p99, 1 node (floor: raw QUIC round trip p99)",
				Now: co.P99ms, Floor: f.RoundTrip.P99ms, Unit: "ms", Target: "< 20 ms", Met: co.P99ms < 20})
		}
		if hb := one.phase("heartbeat"); hb != nil {
			floor, what := f.ServerCPUusPerRT, "QUIC round trip on an open connection"
			if one.IdleCloseSeconds > 0 {
				floor, what = f.ServerCPUusPerResumed, "resumed QUIC connection + round trip"
			}
			add(Target{Figure: fmt.Sprintf("server CPU per QUIC heartbeat, 1 node (floor: %s)", what),
				Now: one.ServerCPUmsPerKHeartbeats, Floor: floor, Unit: "µs",
				Target: fmt.Sprintf("≤ %.0f µs (100k devices / 30 s in one core)", HeartbeatBudgetUs),
				Met:    one.ServerCPUmsPerKHeartbeats <= HeartbeatBudgetUs})
		}
		if dg := one.phase("heartbeat-datagram"); dg != nil && one.ServerCPUusPerDatagram > 0 {
			add(Target{Figure: "server CPU per datagram heartbeat, 1 node (floor: AES-GCM datagram round trip)",
				Now: one.ServerCPUusPerDatagram, Floor: f.ServerCPUusPerDatagram, Unit: "µs",
				Target: fmt.Sprintf("≤ %.0f µs", HeartbeatBudgetUs), Met: one.ServerCPUusPerDatagram <= HeartbeatBudgetUs})
			mix := SteadyMix(ledgerDefaultTTL, ledgerDefaultInterval)
			add(Target{Figure: fmt.Sprintf("server CPU per heartbeat, steady fleet, 1 node (TTL %s, interval %s: %.2f QUIC + %.2f datagram per heartbeat; floor: the same mix of floors)",
				ledgerDefaultTTL, ledgerDefaultInterval, mix.QUICPerHeartbeat, mix.DatagramPerHeartbeat),
				Now: one.SteadyHeartbeatUs, Floor: mix.Cost(f.ServerCPUusPerResumed, f.ServerCPUusPerDatagram), Unit: "µs",
				Target: fmt.Sprintf("≤ %.0f µs (100k devices / 30 s in one core)", HeartbeatBudgetUs),
				Met:    one.SteadyHeartbeatUs > 0 && one.SteadyHeartbeatUs <= HeartbeatBudgetUs})
		}
		if one.AgentIdleRSSKiB > 0 {
			mib := float64(one.AgentIdleRSSKiB) / 1024
			add(Target{Figure: "tally-agent idle RSS", Now: mib, Unit: "MiB", Target: "≤ 10 MiB", Met: mib <= 10})
		}
	}
	three := r.run(3)
	if one != nil && three != nil {
		c1, c3 := one.phase("checkout"), three.phase("checkout")
		if c1 != nil && c3 != nil && c1.OpsPerSec > 0 {
			add(Target{Figure: "checkouts/s, 3 nodes ÷ 1 node (all on this machine's cores, beside the load generator)", Now: c3.OpsPerSec / c1.OpsPerSec, Unit: "×", Target: "≥ 1 ×",
				Met: c3.OpsPerSec >= c1.OpsPerSec})
			if x, ok := coreCapacityRatio(c1, c3); ok {
				add(Target{Figure: "checkout capacity, 3 nodes ÷ 1 node, a core per node (1 node's CPU per checkout ÷ the busiest node's in the 3-node run)",
					Now: x, Unit: "×", Target: "≥ 1 ×", Met: x >= 1})
			}
		}
	}
	if three != nil {
		add(Target{Figure: "elections on the healthy 3-node cluster under load", Now: float64(three.Elections), Unit: "",
			Target: "0", Met: three.Elections == 0})
		if three.GrantsResumeSeconds > 0 {
			add(Target{Figure: "grants resume after a leader kill (floor: new leader known)", Now: three.GrantsResumeSeconds,
				Floor: three.ElectionSeconds, Unit: "s", Target: "≤ 1.5 s median", Met: three.GrantsResumeSeconds <= 1.5})
		}
	}
}

// PrintTargets writes the results table as Markdown.
func (r *Report) PrintTargets(w io.Writer) {
	fmt.Fprintln(w, "| figure | now | floor | ratio | target | met? |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, t := range r.Targets {
		floor, ratio := "—", "—"
		if t.Floor > 0 {
			floor, ratio = fmt.Sprintf("%s %s", num(t.Floor), t.Unit), fmt.Sprintf("%.2f ×", t.Ratio)
		}
		met := "no"
		if t.Met {
			met = "yes"
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s | %s |\n", t.Figure, num(t.Now), t.Unit, floor, ratio, t.Target, met)
	}
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// PrintTable writes the human-readable summary.
func (r *Report) PrintTable(w io.Writer) {
	fmt.Fprintf(w, "command: %s\ncommit:  %s\nopen-file limit: %d\n\n", r.Command, r.Commit, r.OpenFileLimit)
	if f := r.Floor; f != nil {
		fmt.Fprintf(w, "floor (raw quic-go mutual TLS, %d connections, separate process; Ed25519 on one core):\n", f.Connections)
		fw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(fw, "phase\tops/s\tp50 ms\tp99 ms\tp999 ms\tserver CPU µs/op\terrors\t")
		for _, p := range []Phase{f.Handshake, f.RoundTrip, f.Resumed, f.Datagram} {
			fmt.Fprintf(fw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.0f\t%d\t\n", p.Name, p.OpsPerSec, p.P50ms, p.P99ms, p.P999ms, perOpUs(p), p.Errors)
		}
		fw.Flush()
		fmt.Fprintf(w, "  server RSS per open connection %.1f KiB; %.0f%% of reconnects resumed; Ed25519 %.0f signs/s (%.1f µs)\n\n",
			f.ServerRSSPerConnKiB, f.ResumedFraction*100, f.Ed25519SignsPerSec, 1e6/max(1, f.Ed25519SignsPerSec))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "nodes\tdevices\tphase\tops/s\tp50 ms\tp99 ms\tp999 ms\traft entries/op\tserver CPU %\terrors\t")
	for _, run := range r.Runs {
		for _, p := range run.Phases {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.4f\t%.0f\t%d\t\n", run.Nodes, run.Devices, p.Name,
				p.OpsPerSec, p.P50ms, p.P99ms, p.P999ms, p.EntriesPerOp, p.ServerCPUPct, p.Errors)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%d-node, %d devices:\n", run.Nodes, run.Devices)
		fmt.Fprintf(tw, "  leader memory per 1,000 connected devices\t%.0f KiB (%.1f KiB per device)\n", run.LeaderRSSPerKDevKiB, run.LeaderRSSPerKDevKiB/1000)
		if run.SettleSeconds > 0 {
			state := "settled"
			if !run.MemorySettled {
				state = "not settled when the wait ended"
			}
			fmt.Fprintf(tw, "  RSS per device, settled after the storms\t%.1f KiB (%s after %.0f s, devices idle)\n",
				run.LeaderRSSSettledPerKDevKiB/1000, state, run.SettleSeconds)
			if run.LeaderLiveHeapPerKDevKiB > 0 {
				fmt.Fprintf(tw, "  live heap per device, settled after the storms\t%.1f KiB (after a forced GC)\n", run.LeaderLiveHeapPerKDevKiB/1000)
			}
		}
		fmt.Fprintf(tw, "  server CPU per 1,000 checkouts / heartbeats\t%.0f ms / %.0f ms\n", run.ServerCPUmsPerKCheckouts, run.ServerCPUmsPerKHeartbeats)
		if run.ServerCPUusPerDatagram > 0 {
			fallbacks := 0
			if p := run.phase("heartbeat-datagram"); p != nil {
				fallbacks = p.QUICFallbacks
			}
			fmt.Fprintf(tw, "  server CPU per datagram heartbeat / steady mix\t%.1f µs / %.1f µs (%d fell back to QUIC)\n", run.ServerCPUusPerDatagram, run.SteadyHeartbeatUs, fallbacks)
		}
		fmt.Fprintf(tw, "  agents' idle close / spread over nodes\t%.1f s / %v\n", run.IdleCloseSeconds, run.Spread)
		if run.Nodes > 1 {
			fmt.Fprintf(tw, "  elections while healthy under load\t%d\n", run.Elections)
			for _, p := range run.Phases {
				var parts []string
				for _, u := range p.PerNode {
					parts = append(parts, fmt.Sprintf("%s %.1f s CPU %.0f MiB", u.Node, u.CPUSeconds, float64(u.RSSKiB)/1024))
				}
				if len(parts) > 0 {
					fmt.Fprintf(tw, "  per node, %s\t%s\n", p.Name, strings.Join(parts, ", "))
				}
			}
		}
		if run.ElectionSeconds > 0 {
			fmt.Fprintf(tw, "  leader kill: new leader after / grants resume after\t%.2f s / %.2f s\n", run.ElectionSeconds, run.GrantsResumeSeconds)
		}
		if run.AgentIdleRSSKiB > 0 {
			fmt.Fprintf(tw, "  tally-agent idle RSS (private + file-backed)\t%.1f MiB (%.1f + %.1f)\n",
				float64(run.AgentIdleRSSKiB)/1024, float64(run.AgentIdleAnonKiB)/1024, float64(run.AgentIdleFileKiB)/1024)
		}
		fmt.Fprintf(tw, "  load generator CPU / RSS\t%.1f s / %.0f MiB\n", run.LoadGenCPUSeconds, float64(run.LoadGenRSSKiB)/1024)
		fmt.Fprintf(tw, "  machine: %d cores, loadavg at start %s, at end %s\n", run.Cores, run.LoadAvgStart, run.LoadAvgEnd)
		for _, p := range run.Phases {
			if p.FirstErr != "" {
				fmt.Fprintf(tw, "  %s: first error: %s\n", p.Name, p.FirstErr)
			}
			if p.FirstRetry != "" {
				fmt.Fprintf(tw, "  %s: %d retries, the first after: %s\n", p.Name, p.Retries, p.FirstRetry)
			}
		}
	}
	tw.Flush()
	if len(r.Targets) > 0 {
		fmt.Fprintln(w)
		r.PrintTargets(w)
	}
}

// SVG draws throughput and p99 latency per phase, one bar per cluster size:
// a hand-written chart, so that the harness needs no plotting library.
func (r *Report) SVG() string {
	phases := []string{}
	seen := map[string]bool{}
	for _, run := range r.Runs {
		for _, p := range run.Phases {
			if !seen[p.Name] {
				seen[p.Name] = true
				phases = append(phases, p.Name)
			}
		}
	}
	colors := []string{"#4472c4", "#ed7d31", "#70ad47", "#a5a5a5"}
	const W, H, top, left, chartH = 900, 430, 66, 60, 280
	panelW := (W - left - 40) / 2
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">Tally load harness: %s</text>`+"\n", left, html.EscapeString(title(r)))
	panel := func(x0 int, label string, val func(Phase) float64) {
		maxV := 0.0
		for _, run := range r.Runs {
			for _, p := range run.Phases {
				maxV = max(maxV, val(p))
			}
		}
		if maxV == 0 {
			maxV = 1
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0, top-22, label)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, top+chartH, x0+panelW, top+chartH)
		groupW := panelW / max(1, len(phases))
		barW := (groupW - 10) / max(1, len(r.Runs))
		for gi, name := range phases {
			gx := x0 + gi*groupW + 5
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", gx+groupW/2-5, top+chartH+16, name)
			for ri, run := range r.Runs {
				for _, p := range run.Phases {
					if p.Name != name {
						continue
					}
					v := val(p)
					h := int(v / maxV * chartH)
					x := gx + ri*barW
					fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%d-node %s: %.2f</title></rect>`+"\n",
						x, top+chartH-h, barW-2, h, colors[ri%len(colors)], run.Nodes, name, v)
					fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="10">%s</text>`+"\n", x+barW/2, top+chartH-h-3, short(v))
				}
			}
		}
	}
	panel(left, "operations per second", func(p Phase) float64 { return p.OpsPerSec })
	panel(left+panelW+40, "p99 latency (ms)", func(p Phase) float64 { return p.P99ms })
	for ri, run := range r.Runs {
		y := H - 40 + ri*16
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`, left, y-10, colors[ri%len(colors)])
		extra := ""
		if run.GrantsResumeSeconds > 0 {
			extra = fmt.Sprintf(", grants resume %.2f s after leader kill", run.GrantsResumeSeconds)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%d-node, %d devices, %.1f KiB server memory per device, loadavg %s%s</text>`+"\n",
			left+18, y, run.Nodes, run.Devices, run.LeaderRSSPerKDevKiB/1000, html.EscapeString(firstField(run.LoadAvgStart)), extra)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func title(r *Report) string {
	if len(r.Runs) == 0 {
		return "no runs"
	}
	return fmt.Sprintf("%d devices on %d cores, %s", r.Runs[0].Devices, r.Runs[0].Cores, r.Runs[0].Started.Format("2006-01-02 15:04 UTC"))
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func short(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// The cluster's default lease TTL and heartbeat interval
// (ledger.DefaultSettings), for the steady mix.
const (
	ledgerDefaultTTL      = 5 * time.Minute
	ledgerDefaultInterval = 30 * time.Second
	// agentServersRefresh is how often a tally-agent asks for the server
	// list (agent.ServersRefreshInterval), over QUIC.
	agentServersRefresh = 5 * time.Minute
)

// Mix is what share of a steady device's heartbeats go over QUIC.
type Mix struct {
	// QUICPerHeartbeat counts QUIC exchanges per heartbeat: the one in
	// every Cycle that renews the lease, plus the server-list refresh.
	QUICPerHeartbeat float64
	// DatagramPerHeartbeat is the share answered by datagram.
	DatagramPerHeartbeat float64
	// Cycle is heartbeats from one renewal to the next.
	Cycle int
}

// SteadyMix is the mix for a lease TTL and heartbeat interval: a node
// renews a lease (over QUIC) once its horizon is less than TTL/2 away, so
// after a renewal the next floor(TTL/2 / interval) heartbeats are datagrams
// and the one after renews again. The agent also asks for the server list
// over QUIC every agentServersRefresh.
func SteadyMix(ttl, interval time.Duration) Mix {
	cycle := int(ttl/2/interval) + 1
	return Mix{
		Cycle:                cycle,
		QUICPerHeartbeat:     1/float64(cycle) + float64(interval)/float64(agentServersRefresh),
		DatagramPerHeartbeat: 1 - 1/float64(cycle),
	}
}

// Cost is server CPU per heartbeat for the mix, given what one QUIC
// heartbeat and one datagram heartbeat cost.
func (m Mix) Cost(quicUs, datagramUs float64) float64 {
	return m.QUICPerHeartbeat*quicUs + m.DatagramPerHeartbeat*datagramUs
}

// coreCapacityRatio projects what a 3-node cluster grants, against one
// node, when every node has a core of its own, as on real servers: the
// cluster grants as fast as its busiest node (the leader, which also
// replicates) gets through its share, so the ratio is one node's CPU per
// checkout over the busiest node's CPU per checkout of the whole cluster.
// On the bench's one machine the three processes and the load generator
// share its cores, and the measured throughput ratio says more about that
// sharing than about the cluster.
func coreCapacityRatio(one, three *Phase) (float64, bool) {
	if one.Ops == 0 || three.Ops == 0 || one.ServerCPUSeconds <= 0 || len(three.PerNode) == 0 {
		return 0, false
	}
	busiest := 0.0
	for _, n := range three.PerNode {
		busiest = max(busiest, n.CPUSeconds)
	}
	if busiest <= 0 {
		return 0, false
	}
	return (one.ServerCPUSeconds / float64(one.Ops)) / (busiest / float64(three.Ops)), true
}
