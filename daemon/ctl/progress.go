package ctl

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line progress bar on a terminal, for imports of large
// files. On anything else (a pipe, a file, a test's buffer) it draws
// nothing, so scripts and logs see only the result.
type progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	last time.Time
	drew bool
	// drawn is the step on screen; pending one skipped by the rate limit.
	drawn   step
	pending *step
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

type step struct {
	phase    string
	n, total int64
	unit     string
}

// show draws "phase [=====>    ] n/total unit"; total 0 means unknown.
// Redraws are limited to ten a second, except for a new phase and the last
// step of a known total; done draws a step that was skipped.
func (p *progress) show(phase string, n, total int64, unit string) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	s := step{phase, n, total, unit}
	if now.Sub(p.last) < 100*time.Millisecond && phase == p.drawn.phase && (total == 0 || n < total) {
		p.pending = &s
		return
	}
	p.last = now
	p.draw(s)
}

func (p *progress) draw(s step) {
	const width = 30
	if s.total > 0 {
		done := int(int64(width) * min(s.n, s.total) / s.total)
		bar := "[" + strings.Repeat("=", done) + strings.Repeat(" ", width-done) + "]"
		fmt.Fprintf(p.w, "\r%-10s %s %d/%d %s ", s.phase, bar, s.n, s.total, s.unit)
	} else {
		fmt.Fprintf(p.w, "\r%-10s %d %s%s", s.phase, s.n, s.unit, strings.Repeat(" ", width))
	}
	p.drawn, p.pending, p.drew = s, nil, true
}

// done draws the last step if it was skipped and ends the bar's line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil {
		p.draw(*p.pending)
	}
	if p.drew {
		fmt.Fprintln(p.w)
		p.drew = false
		p.last = time.Time{}
		p.drawn = step{}
	}
}

// countingReader reports how many bytes have been read through it.
type countingReader struct {
	r  io.Reader
	n  int64
	fn func(n int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.fn(c.n)
	return n, err
}
