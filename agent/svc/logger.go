package svc

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/kardianos/service"

	"github.com/tally-licensing/tally/agent"
)

// SystemLogHandler is a slog.Handler writing to the system's logger (syslog
// or the journal on Linux, the unified log on macOS, the Event Log on
// Windows) through kardianos/service.
func SystemLogHandler(cfg *service.Config, level slog.Leveler) (slog.Handler, error) {
	s, err := service.New(NewProgram(agent.Config{}), cfg)
	if err != nil {
		return nil, err
	}
	l, err := s.SystemLogger(nil)
	if err != nil {
		return nil, err
	}
	return NewLogHandler(l, level), nil
}

// NewLogHandler formats records as slog's text handler does (without the
// time, which the system logger adds) and hands each line to l at the
// matching severity.
func NewLogHandler(l service.Logger, level slog.Leveler) slog.Handler {
	h := &logHandler{out: l, buf: &bytes.Buffer{}, mu: &sync.Mutex{}}
	h.text = slog.NewTextHandler(h.buf, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return h
}

type logHandler struct {
	out  service.Logger
	text slog.Handler
	buf  *bytes.Buffer
	mu   *sync.Mutex
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.text.Enabled(ctx, l) }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	line := strings.TrimSuffix(h.buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.out.Error(line)
	case r.Level >= slog.LevelWarn:
		return h.out.Warning(line)
	}
	return h.out.Info(line)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{out: h.out, text: h.text.WithAttrs(attrs), buf: h.buf, mu: h.mu}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{out: h.out, text: h.text.WithGroup(name), buf: h.buf, mu: h.mu}
}
