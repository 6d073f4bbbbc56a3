package adminapi

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// The sign-in brake lives in the ledger (ledger/brake.go), so every node
// sees the same counts; sign-ins run on the leader (a follower proxies
// them), which reads the brake and records failures as commands.

// signInWait is how long a sign-in of the member from source must wait.
func (a *api) signInWait(account, email, source string) time.Duration {
	var d time.Duration
	a.cfg.Store.Read(func(st *ledger.State) {
		d = st.SignInDelay(a.now(), ledger.BrakeMember(account, email), ledger.BrakeSource(source))
	})
	return d
}

// braked is the refusal of a sign-in the brake holds back.
func braked(account, email string, wait time.Duration) error {
	return protocol.Errorf(protocol.CodeTooManyRequests, "too many wrong passwords for %s in account %s, or from this address; try again in %v", email, account, wait.Round(time.Second)+time.Second)
}

// signInFailed counts a wrong password against the member and the source.
func (a *api) signInFailed(ctx context.Context, account, email, source string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c := ledger.Command{Type: ledger.CmdSignInBrake, SignInBrake: &ledger.SignInBrake{Fail: []string{ledger.BrakeMember(account, email), ledger.BrakeSource(source)}}}
	if _, err := a.cfg.Propose(ctx, c); err != nil {
		a.log.Warn("could not record a failed sign-in with the brake", "account", account, "err", err)
	}
}

// signInSucceeded clears the member's count (not the source's: one good
// password must not reset a source that sprays guesses at others). It
// proposes nothing when there is nothing to clear.
func (a *api) signInSucceeded(ctx context.Context, account, email string) {
	key := ledger.BrakeMember(account, email)
	var n int
	a.cfg.Store.Read(func(st *ledger.State) { n = st.BrakeFailures(key) })
	if n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := a.cfg.Propose(ctx, ledger.Command{Type: ledger.CmdSignInBrake, SignInBrake: &ledger.SignInBrake{Reset: []string{key}}}); err != nil {
		a.log.Warn("could not clear the sign-in brake", "account", account, "err", err)
	}
}

// clientSource is the caller's IP address: the socket's peer, or, for a
// request a node of this cluster proxied (verified by its node
// certificate), the address that node saw (the last X-Forwarded-For entry,
// which the proxy appended itself).
func (a *api) clientSource(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || a.cfg.NodeCAs == nil {
		return host
	}
	if _, err := certs.VerifyNode(a.cfg.NodeCAs, r.TLS.PeerCertificates, a.now()); err != nil {
		return host
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return host
	}
	parts := strings.Split(xff[len(xff)-1], ",")
	if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
		return ip.String()
	}
	return host
}
