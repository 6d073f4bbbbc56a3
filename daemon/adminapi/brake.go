package adminapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// SignInBrake slows password guessing down. Its users — console sessions,
// tallyctl's password check, members signing in on devices — name the
// member by SignInKey and the source of the attempt (an IP address, or a
// device); Blocked says whether, and for how long, a sign-in must wait;
// Fail counts a wrong password against both; Succeed clears the member.
type SignInBrake interface {
	Blocked(key, source string, now time.Time) (time.Duration, bool)
	Fail(ctx context.Context, key, source string)
	Succeed(ctx context.Context, key string)
}

// SignInKey is the brake's key for a member of an account.
func SignInKey(account, email string) string {
	return account + "\x00" + ledger.NormalizeEmail(email)
}

// LedgerBrake is the sign-in brake kept in the ledger (ledger/brake.go):
// failures are commands, so every node sees the same counts, a new leader
// knows what the old one counted, and N nodes do not give N times the
// tries. Reads are local; Fail and Succeed propose.
type LedgerBrake struct {
	Read    func(func(*ledger.State))
	Propose func(ctx context.Context, c ledger.Command) (ledger.Result, error)
	Logger  *slog.Logger
}

func memberKey(key string) string {
	account, email, _ := strings.Cut(key, "\x00")
	return ledger.BrakeMember(account, email)
}

// Blocked implements SignInBrake.
func (b *LedgerBrake) Blocked(key, source string, now time.Time) (time.Duration, bool) {
	var d time.Duration
	b.Read(func(st *ledger.State) { d = st.SignInDelay(now, memberKey(key), ledger.BrakeSource(source)) })
	return d, d > 0
}

// Fail implements SignInBrake.
func (b *LedgerBrake) Fail(ctx context.Context, key, source string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c := ledger.Command{Type: ledger.CmdSignInBrake, Payload: &ledger.SignInBrake{Fail: []string{memberKey(key), ledger.BrakeSource(source)}}}
	if _, err := b.Propose(ctx, c); err != nil && b.Logger != nil {
		b.Logger.Warn("could not record a failed sign-in with the brake", "err", err)
	}
}

// Succeed implements SignInBrake. It clears the member's count, not the
// source's (one good password must not reset a source spraying guesses at
// others), and proposes nothing when there is nothing to clear.
func (b *LedgerBrake) Succeed(ctx context.Context, key string) {
	k := memberKey(key)
	var n int
	b.Read(func(st *ledger.State) { n = st.BrakeFailures(k) })
	if n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := b.Propose(ctx, ledger.Command{Type: ledger.CmdSignInBrake, Payload: &ledger.SignInBrake{Reset: []string{k}}}); err != nil && b.Logger != nil {
		b.Logger.Warn("could not clear the sign-in brake", "err", err)
	}
}

// braked is the refusal of a sign-in the brake holds back.
func braked(account, email string, wait time.Duration) error {
	return protocol.Errorf(protocol.CodeTooManyRequests, "too many wrong passwords for %s in account %s, or from this address; try again in %v", email, account, wait.Round(time.Second)+time.Second)
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
	if _, err := a.nodes.Verify(r.TLS.PeerCertificates, a.now()); err != nil {
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
