package loadgen

import (
	"fmt"
	"html"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is every run of one invocation (typically a 1-node and a 3-node
// cluster), written as JSON and drawn as an SVG chart.
type Report struct {
	Command string    `json:"command"`
	Runs    []*Result `json:"runs"`
}

// PrintTable writes the human-readable summary.
func (r *Report) PrintTable(w io.Writer) {
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
		fmt.Fprintf(tw, "  server CPU per 1,000 checkouts / heartbeats\t%.0f ms / %.0f ms\n", run.ServerCPUmsPerKCheckouts, run.ServerCPUmsPerKHeartbeats)
		if run.ElectionSeconds > 0 {
			fmt.Fprintf(tw, "  leader kill: new leader after / grants resume after\t%.2f s / %.2f s\n", run.ElectionSeconds, run.GrantsResumeSeconds)
		}
		if run.AgentIdleRSSKiB > 0 {
			fmt.Fprintf(tw, "  tally-agent idle RSS\t%.1f MiB\n", float64(run.AgentIdleRSSKiB)/1024)
		}
		fmt.Fprintf(tw, "  load generator CPU / RSS\t%.1f s / %.0f MiB\n", run.LoadGenCPUSeconds, float64(run.LoadGenRSSKiB)/1024)
		fmt.Fprintf(tw, "  machine: %d cores, loadavg at start %s, at end %s\n", run.Cores, run.LoadAvgStart, run.LoadAvgEnd)
		for _, p := range run.Phases {
			if p.FirstErr != "" {
				fmt.Fprintf(tw, "  %s: first error: %s\n", p.Name, p.FirstErr)
			}
		}
	}
	tw.Flush()
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
