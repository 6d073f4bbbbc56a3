package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// getPublic fetches a path without a token.
func (s *server) getPublic(path string) (int, string) {
	s.t.Helper()
	return s.do("", http.MethodGet, path, "")
}

// metricValue finds one sample in a Prometheus text exposition.
func metricValue(body, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// TestMetricsHealthAndOpenAPI scrapes a real tallyd after a grant and a
// denial, and checks the health endpoints and the served OpenAPI document.
func TestMetricsHealthAndOpenAPI(t *testing.T) {
	s := startServer(t)
	tok := s.setupAccount("acme", "cad", 1)
	a1, a2 := startAgent(t, s, "a1", tok), startAgent(t, s, "a2", tok)
	a1.mustCheckout("cad")
	if r := a2.checkout("cad"); r.code == 0 {
		t.Fatal("second checkout of one seat succeeded")
	}

	want := map[string]float64{
		`tally_leases{account="acme",feature="cad",state="held"}`:    1,
		`tally_leases{account="acme",feature="cad",state="revoked"}`: 0,
		`tally_pool_seats{account="acme",feature="cad"}`:             1,
		`tally_queue_length{account="acme",feature="cad"}`:           0,
		`tally_grants_total`:                  1,
		`tally_denials_total{code="no_seat"}`: 1,
		`tally_denials_recorded_total{account="acme",code="no_seat",feature="cad"}`: 1,
		`tally_raft_state{state="Leader"}`:                                          1,
		`tally_raft_state{state="Follower"}`:                                        0,
		`tally_raft_has_leader`:                                                     1,
	}
	var body string
	eventually(t, 15*time.Second, "metrics show the grant, the denial and heartbeats", func() error {
		code, b := s.do(s.token, http.MethodGet, "/metrics", "")
		if code != 200 {
			return fmt.Errorf("/metrics: %d", code)
		}
		body = b
		for series, v := range want {
			got, ok := metricValue(body, series)
			if !ok || got != v {
				return fmt.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
			}
		}
		if hb, _ := metricValue(body, "tally_heartbeats_total"); hb < 1 {
			return fmt.Errorf("no heartbeats counted yet")
		}
		return nil
	})
	for _, series := range []string{"tally_raft_term", "tally_raft_commit_index", "tally_raft_applied_index", "tally_raft_commit_seconds_count"} {
		if v, ok := metricValue(body, series); !ok || v < 1 {
			t.Errorf("%s = %v (present %v), want at least 1", series, v, ok)
		}
	}

	if code, b := s.getPublic("/healthz"); code != 200 || !strings.Contains(b, "ok") {
		t.Fatalf("/healthz: %d %s", code, b)
	}
	if code, b := s.getPublic("/readyz"); code != 200 || !strings.Contains(b, "ready") {
		t.Fatalf("/readyz: %d %s", code, b)
	}
	code, b := s.getPublic("/v1/openapi.json")
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if code != 200 || json.Unmarshal([]byte(b), &doc) != nil || doc.Paths["/v1/audit"]["get"] == nil || doc.Paths["/v1/leases/{id}/revoke"]["post"] == nil {
		t.Fatalf("/v1/openapi.json: %d %.300s", code, b)
	}
	// The admin API itself still wants a token.
	if code, _ := s.getPublic("/v1/leases"); code != 401 {
		t.Fatalf("/v1/leases without a token: %d", code)
	}
}

// TestReadyzWithoutQuorum: a node that has lost its cluster's quorum is
// alive but not ready, and says why.
func TestReadyzWithoutQuorum(t *testing.T) {
	first := startServer(t, clusterSettings...)
	second := &server{t: t, dir: t.TempDir(),
		extra: clusterSettings, join: first, nodeID: "node2"}
	second.start()
	eventually(t, 30*time.Second, "node2 is ready", func() error {
		if code, b := second.getPublic("/readyz"); code != 200 {
			return fmt.Errorf("%d %s", code, b)
		}
		return nil
	})
	first.proc.kill9() // one of two: no quorum, no leader
	eventually(t, 30*time.Second, "node2 reports not ready", func() error {
		code, b := second.getPublic("/readyz")
		if code != 503 || !strings.Contains(b, "no Raft leader") {
			return fmt.Errorf("%d %s", code, b)
		}
		return nil
	})
	if code, _ := second.getPublic("/healthz"); code != 200 {
		t.Fatalf("/healthz of a live node without quorum: %d", code)
	}
	_, body := second.do(second.token, http.MethodGet, "/metrics", "")
	if v, ok := metricValue(body, "tally_raft_has_leader"); !ok || v != 0 {
		t.Fatalf("tally_raft_has_leader = %v (present %v)", v, ok)
	}
}
