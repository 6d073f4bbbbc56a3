package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// AdminLimits bound the admin HTTPS server, so that slow or idle clients
// cannot hold its connections and goroutines, and say where /metrics is
// served without a token. Zero fields take the defaults.
type AdminLimits struct {
	// ReadTimeout bounds reading a whole request, body included (a 32 MiB
	// import over a slow link fits).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (an audit export included).
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections with no request.
	IdleTimeout time.Duration
	// MetricsAddr, when set, serves /metrics over plain HTTP on this
	// address without a token: the operator chooses its exposure (loopback,
	// a monitoring network). The admin listener's /metrics always needs a
	// cluster-wide token.
	MetricsAddr string
}

// Admin server defaults.
const (
	DefaultAdminReadTimeout  = 60 * time.Second
	DefaultAdminWriteTimeout = 120 * time.Second
	DefaultAdminIdleTimeout  = 120 * time.Second
)

func (l AdminLimits) withDefaults() AdminLimits {
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultAdminReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultAdminWriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultAdminIdleTimeout
	}
	return l
}

// serveMetrics starts the --metrics-addr listener, if any, until ctx ends.
func (n *Node) serveMetrics(ctx context.Context) error {
	addr := n.cfg.Admin.MetricsAddr
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.Metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	n.goRun(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("metrics server stopped", "err", err)
		}
	})
	n.goRun(func() {
		<-ctx.Done()
		srv.Close()
	})
	n.log.Info("serving metrics without a token", "addr", ln.Addr().String())
	return nil
}
