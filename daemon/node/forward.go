package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/cluster/store"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/protocol"
)

// forwarder sends ledger commands from a follower to the leader's internal
// endpoint, authenticated with this node's certificate.
type forwarder struct {
	n      *Node
	client *http.Client
}

func newForwarder(n *Node) (*forwarder, error) {
	cert, err := certs.KeyPair(n.keys.nodeCert, n.keys.nodeKey)
	if err != nil {
		return nil, err
	}
	return &forwarder{n: n, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: certs.NodeClientTLS(cert, n.keys.ca.Pool()), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16},
	}}, nil
}

// leaderAdmin finds the leader's admin address in the node registry.
func (f *forwarder) leaderAdmin() (string, string, error) {
	_, id := f.n.Store.Leader()
	if id == "" {
		return "", "", protocol.Errorf(protocol.CodeNotLeader, "no leader is known right now; the cluster may be electing one")
	}
	var addr string
	f.n.Store.Read(func(st *ledger.State) {
		for _, x := range st.Nodes() {
			if x.ID == id {
				addr = x.AdminAddr
			}
		}
	})
	if addr == "" {
		return "", id, protocol.Errorf(protocol.CodeNotLeader, "the leader %s has not registered its admin address yet", id)
	}
	return addr, id, nil
}

// propose forwards cmd to the leader. The command's time is cleared so that
// the leader stamps its own clock: seats are reclaimed by the leader's time
// (S3), never a follower's.
func (f *forwarder) propose(ctx context.Context, cmd ledger.Command) (ledger.Result, error) {
	addr, id, err := f.leaderAdmin()
	if err != nil {
		return ledger.Result{}, err
	}
	cmd.Now = time.Time{}
	body, err := json.Marshal(cmd)
	if err != nil {
		return ledger.Result{}, fmt.Errorf("encode forwarded %s: %w", cmd.Type, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+adminapi.PathInternalPropose, bytes.NewReader(body))
	if err != nil {
		return ledger.Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return ledger.Result{}, protocol.Errorf(protocol.CodeUnavailable, "forward %s to leader %s at %s: %v", cmd.Type, id, addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return ledger.Result{}, protocol.Errorf(protocol.CodeUnavailable, "read the leader's answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb adminapi.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return ledger.Result{}, &protocol.Error{Code: protocol.Code(eb.Error.Code), Message: eb.Error.Message}
		}
		return ledger.Result{}, protocol.Errorf(protocol.CodeUnavailable, "leader %s answered HTTP %d", id, resp.StatusCode)
	}
	var res ledger.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return ledger.Result{}, fmt.Errorf("decode the leader's result: %w", err)
	}
	// Answer only once this node has applied the command too: the caller's
	// next request here (a read of what it just wrote, a heartbeat of the
	// lease it just got) must see it.
	if idx, err := strconv.ParseUint(resp.Header.Get(adminapi.HeaderAppliedIndex), 10, 64); err == nil {
		wctx, cancel := context.WithTimeout(ctx, catchUpWait)
		err := f.n.Store.WaitApplied(wctx, idx)
		cancel()
		if err != nil {
			// The command did commit: say so rather than fail a change
			// that happened. Reads here may trail it a little longer.
			f.n.log.Warn("a forwarded command committed but this node has not applied it yet", "type", cmd.Type, "index", idx, "applied", f.n.Store.AppliedIndex())
		}
	}
	return res, nil
}

// isNotLeader reports whether err means "ask the leader instead".
func isNotLeader(err error) bool {
	var nl *store.ErrNotLeader
	return errors.As(err, &nl) || protocol.CodeOf(err) == protocol.CodeNotLeader
}

// forwardHTTP proxies an administrator's request to the leader's admin API,
// over this node's mutually authenticated connection. The administrator's
// own Authorization header travels along: the leader checks it again.
func (f *forwarder) forwardHTTP(w http.ResponseWriter, r *http.Request) {
	addr, _, err := f.leaderAdmin()
	if err != nil {
		writeProtocolError(w, err)
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "https", Host: addr})
			// The leader's sign-in brake counts per source address: pass
			// on the caller's (adminapi.clientSource trusts it only from a
			// node certificate).
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Tally-Forwarded", f.n.keys.id.NodeID)
		},
		Transport: f.client.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeProtocolError(w, protocol.Errorf(protocol.CodeUnavailable, "forward to the leader at %s: %v", addr, err))
		},
	}
	adminapi.ClearFreshness(w.Header()) // the leader says how fresh its answer is
	proxy.ServeHTTP(w, r)
}

func writeProtocolError(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = protocol.Errorf(protocol.CodeInternal, "%v", err)
	}
	var body adminapi.ErrorBody
	body.Error.Code, body.Error.Message = string(pe.Code), pe.Message
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(pe.Code.HTTPStatus())
	json.NewEncoder(w).Encode(body)
}

// nodeStatus asks another node for its Raft status.
func (f *forwarder) nodeStatus(ctx context.Context, n ledger.Node) (store.Status, error) {
	var st store.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+n.AdminAddr+"/internal/v1/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		// The caller reports the node as unreachable; the reason is
		// the dial error alone, so it is not said twice.
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("decode status: %w", err)
	}
	return st, nil
}
