package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogFor routes hashicorp/raft's hclog output into slog. Raft logs one line
// per write; each becomes one slog record at a matching level.
func hclogFor(l *slog.Logger, name string) hclog.Logger {
	// Raft narrates every election and snapshot at INFO; that belongs in a
	// debug log, not in an operator's terminal.
	level := hclog.Warn
	if l.Enabled(context.Background(), slog.LevelDebug) {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:            name,
		Level:           level,
		Output:          &slogWriter{l: l.With("component", name)},
		DisableTime:     true,
		IncludeLocation: false,
	})
}

type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		msg := string(line)
		lvl := slog.LevelInfo
		switch {
		case strings.Contains(msg, "[ERROR]"):
			lvl = slog.LevelError
		case strings.Contains(msg, "[WARN]"):
			lvl = slog.LevelWarn
		case strings.Contains(msg, "[DEBUG]"), strings.Contains(msg, "[TRACE]"):
			lvl = slog.LevelDebug
		}
		for _, tag := range []string{"[ERROR] ", "[WARN]  ", "[INFO]  ", "[DEBUG] ", "[TRACE] "} {
			msg = strings.Replace(msg, tag, "", 1)
		}
		w.l.Log(context.Background(), lvl, msg)
	}
	return len(p), nil
}
