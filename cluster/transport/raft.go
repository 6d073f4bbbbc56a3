package transport

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// NewNetworkTransport is Raft's NetworkTransport over layer: a pool of up to
// 3 connections per peer and a 10 second I/O timeout. Its log goes to
// logger (slog.Default() if nil) with component=raft-net.
//
// The result is a *raft.NetworkTransport: closing it (raft.WithClose) also
// closes layer. raft.Raft.Shutdown does not close its transport; the caller
// does, after Shutdown.
func NewNetworkTransport(layer *TLSStreamLayer, logger *slog.Logger) raft.Transport {
	if logger == nil {
		logger = slog.Default()
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  newHCLogger(logger, "raft-net"),
	})
}

// hcLogger is an hclog.Logger writing structured records to slog. hclog
// levels map to the same slog levels (Trace to Debug-4); the level is
// whatever the slog handler enables, so SetLevel does nothing.
type hcLogger struct {
	l       *slog.Logger // with the implied args
	base    *slog.Logger // without them (for ResetNamed/Named)
	name    string
	implied []any
}

func newHCLogger(l *slog.Logger, name string) hclog.Logger {
	return &hcLogger{l: l.With("component", name), base: l, name: name}
}

func slogLevel(level hclog.Level) (slog.Level, bool) {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4, true
	case hclog.Debug:
		return slog.LevelDebug, true
	case hclog.Info, hclog.NoLevel:
		return slog.LevelInfo, true
	case hclog.Warn:
		return slog.LevelWarn, true
	case hclog.Error:
		return slog.LevelError, true
	}
	return 0, false // hclog.Off
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	lv, ok := slogLevel(level)
	if !ok {
		return
	}
	ctx := context.Background()
	if !h.l.Enabled(ctx, lv) {
		return
	}
	h.l.Log(ctx, lv, msg, args...)
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(level hclog.Level) bool {
	lv, _ := slogLevel(level)
	return h.l.Enabled(context.Background(), lv)
}

func (h *hcLogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hcLogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hcLogger) ImpliedArgs() []any { return h.implied }

func (h *hcLogger) With(args ...any) hclog.Logger {
	implied := append(append([]any(nil), h.implied...), args...)
	return &hcLogger{l: h.l.With(args...), base: h.base, name: h.name, implied: implied}
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{l: h.base.With("component", name).With(h.implied...), base: h.base, name: name, implied: h.implied}
}

func (h *hcLogger) SetLevel(hclog.Level) {}

func (h *hcLogger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return &hcWriter{h: h, level: level}
}

// hcWriter logs each line written to it as one record.
type hcWriter struct {
	h     *hcLogger
	level hclog.Level
}

func (w *hcWriter) Write(p []byte) (int, error) {
	for line := range bytes.SplitSeq(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.h.Log(w.level, string(line))
	}
	return len(p), nil
}
