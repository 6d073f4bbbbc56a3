package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// metric scrapes one sample from the node's /metrics (0 when absent).
func (s *server) metric(series string) float64 {
	s.t.Helper()
	code, body := s.do(s.token, http.MethodGet, "/metrics", "")
	if code != 200 {
		s.t.Fatalf("/metrics: %d", code)
	}
	v, _ := metricValue(body, series)
	return v
}

// TestAgentHeartbeatsByDatagramAcrossARestart: a real tally-agent holding
// a lease heartbeats by datagram once its first QUIC heartbeat gave it a
// session, and those heartbeats open no QUIC connection. tallyd is then
// killed and restarted on its data: it has forgotten every session, so the
// agent's datagrams go unanswered (counted as unknown_key), the agent
// heartbeats over QUIC, gets a new session and goes back to datagrams —
// without ever losing its lease.
func TestAgentHeartbeatsByDatagramAcrossARestart(t *testing.T) {
	s := startServer(t, "--lease-ttl", "30s") // 500 ms heartbeats, a horizon move every ~15 s
	tok := s.setupAccount("acme", "cad", 1)
	a := startAgent(t, s, "a", tok)
	a.mustCheckout("cad")
	before := s.leases()
	if len(before) != 1 {
		t.Fatalf("%d leases, want 1", len(before))
	}
	const (
		ok       = `tally_heartbeat_datagrams_total{result="ok"}`
		unknown  = `tally_heartbeat_datagrams_total{result="unknown_key"}`
		accepted = `tally_agent_connections_accepted_total`
	)
	eventually(t, 30*time.Second, "the agent heartbeats by datagram", func() error {
		if n := s.metric(ok); n < 2 {
			return fmt.Errorf("%v datagram heartbeats answered ok", n)
		}
		return nil
	})
	ok0, conns0 := s.metric(ok), s.metric(accepted)
	eventually(t, 30*time.Second, "five more datagram heartbeats", func() error {
		if n := s.metric(ok); n < ok0+5 {
			return fmt.Errorf("%v more", n-ok0)
		}
		return nil
	})
	// The 30 s TTL puts no horizon move in these ~2.5 s, and nothing else
	// makes the agent connect.
	if n := s.metric(accepted) - conns0; n != 0 {
		t.Errorf("%v QUIC connections during datagram heartbeats, want 0", n)
	}

	s.proc.kill9()
	s.start()
	eventually(t, 60*time.Second, "the agent's old session is refused, and it comes back by datagram", func() error {
		if n := s.metric(unknown); n < 1 {
			return fmt.Errorf("%v datagrams with an unknown key", n)
		}
		if n := s.metric(ok); n < 2 {
			return fmt.Errorf("%v datagram heartbeats answered ok since the restart", n)
		}
		return nil
	})
	var kept bool
	for _, l := range s.leases() {
		kept = kept || l.ID == before[0].ID
	}
	if !kept {
		t.Errorf("lease %d is gone after the restart", before[0].ID)
	}
	if st := a.status(); st.Problem != "" || len(st.Leases) != 1 {
		t.Errorf("agent status: problem %q, %d leases (want none, 1)", st.Problem, len(st.Leases))
	}
	if out := a.proc.out.String(); strings.Contains(out, "lease lost") {
		t.Errorf("the agent lost its lease:\n%s", tail(out, 30))
	}
}
