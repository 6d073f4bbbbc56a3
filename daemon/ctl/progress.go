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

// show draws "phase [=====>    ] n/total unit"; total 0 means unknown.
// Redraws are limited to ten a second.
func (p *progress) show(phase string, n, total int64, unit string) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && (total == 0 || n < total) {
		return
	}
	p.last = now
	const width = 30
	var bar string
	if total > 0 {
		done := int(int64(width) * n / total)
		bar = "[" + strings.Repeat("=", done) + strings.Repeat(" ", width-done) + "]"
		fmt.Fprintf(p.w, "\r%-10s %s %d/%d %s ", phase, bar, n, total, unit)
	} else {
		fmt.Fprintf(p.w, "\r%-10s %d %s%s", phase, n, unit, strings.Repeat(" ", width))
	}
	p.drew = true
}

// done ends the bar's line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drew {
		fmt.Fprintln(p.w)
		p.drew = false
		p.last = time.Time{}
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
