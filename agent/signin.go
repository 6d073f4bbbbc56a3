package agent

import (
	"context"
	"maps"
	"net"
	"net/http"
	"os/user"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/protocol"
)

// Member sign-in on the device. Each OS user that talks to the agent (known
// from the socket's peer credentials, never from what the caller says) has
// at most one signed-in member; the member's credential is kept in
// signins.json (0600) and sent with that OS user's checkouts, and the
// cluster takes the lease's holder from it.

// Version is the agent's build, reported to the cluster with heartbeats so
// that administrators see which agents run where.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// callerOf is the OS user behind a local API request ("" when the
// platform does not say, in which case all callers share one sign-in).
func callerOf(r *http.Request) string {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if c == nil {
		return ""
	}
	return peerUser(c)
}

// osUserName turns "uid:1001" into "ann (uid 1001)" for the cluster's
// records; the key stays the ID, which cannot be renamed under us.
func osUserName(osUser string) string {
	uid, ok := strings.CutPrefix(osUser, "uid:")
	if !ok {
		return osUser
	}
	if u, err := user.LookupId(uid); err == nil {
		return u.Username + " (uid " + uid + ")"
	}
	return osUser
}

func (a *agent) signInOf(osUser string) (state.SignIn, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	si, ok := a.signins[osUser]
	return si, ok
}

// signInIDsLocked lists the held sign-ins' IDs for the heartbeat; a.mu is
// held.
func (a *agent) signInIDsLocked() []string {
	var ids []string
	for _, si := range a.signins {
		ids = append(ids, si.SignInID)
	}
	slices.Sort(ids)
	return ids
}

// login signs email in for osUser, replacing that OS user's previous
// sign-in (whose leases the cluster then revokes).
func (a *agent) login(ctx context.Context, osUser, email, password string) (protocol.LoginResponse, error) {
	if email == "" || password == "" {
		return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeInvalidArgument, "sign-in needs an email and a password")
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var resp protocol.LoginResponse
	err := a.call(ctx, protocol.TypeLogin, newRequestID(), protocol.LoginRequest{Email: email, Password: password, OSUser: osUserName(osUser), AgentVersion: Version()}, &resp)
	if err != nil {
		return protocol.LoginResponse{}, err
	}
	a.adoptSignIn(ctx, osUser, resp)
	resp.Credential = "" // the application never needs it
	return resp, nil
}

// adoptSignIn keeps a new sign-in for osUser, ending the one it replaces
// (whose leases the cluster then revokes).
func (a *agent) adoptSignIn(ctx context.Context, osUser string, resp protocol.LoginResponse) {
	if old, ok := a.signInOf(osUser); ok && old.SignInID != resp.SignInID {
		if err := a.call(ctx, protocol.TypeLogout, newRequestID(), protocol.LogoutRequest{Credential: old.Credential}, nil); err != nil && protocol.CodeOf(err) != protocol.CodeNotSignedIn {
			a.log.Warn("could not end the previous sign-in", "os_user", osUser, "email", old.Email, "err", err)
		}
		a.forgetLeasesOf(osUser)
	}
	a.mu.Lock()
	a.signins[osUser] = state.SignIn{OSUser: osUser, Credential: resp.Credential, SignInID: resp.SignInID, Account: resp.Account,
		Email: resp.Email, Role: resp.Role, Since: a.now().UTC()}
	a.mu.Unlock()
	a.persistSignIns()
	a.poke()
	a.log.Info("member signed in", "email", resp.Email, "os_user", osUser)
}

// loginStart opens a browser-approved sign-in for osUser and returns the
// code the member approves elsewhere; loginWait then waits for it.
func (a *agent) loginStart(ctx context.Context, osUser string) (protocol.LoginStartResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var resp protocol.LoginStartResponse
	if err := a.call(ctx, protocol.TypeLoginStart, newRequestID(), protocol.LoginStartRequest{OSUser: osUserName(osUser)}, &resp); err != nil {
		return protocol.LoginStartResponse{}, err
	}
	a.mu.Lock()
	if a.approvals == nil {
		a.approvals = map[string]protocol.LoginStartResponse{}
	}
	a.approvals[osUser] = resp
	a.mu.Unlock()
	a.log.Info("waiting for a browser approval", "os_user", osUser, "code", resp.UserCode, "expires", resp.Expires)
	resp.ApprovalID = "" // only the agent polls it
	return resp, nil
}

// loginWait polls osUser's open approval until a member approves it (the
// sign-in is then kept like one made with a password), it expires, or ctx
// ends.
func (a *agent) loginWait(ctx context.Context, osUser string) (protocol.LoginResponse, error) {
	a.mu.Lock()
	ap, ok := a.approvals[osUser]
	a.mu.Unlock()
	if !ok {
		return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeNotFound, "no browser sign-in is open for you on this device: start one (tally-agent login --browser)")
	}
	interval := max(ap.Interval.D(), 500*time.Millisecond)
	for {
		var resp protocol.LoginResponse
		pctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := a.call(pctx, protocol.TypeLoginPoll, newRequestID(), protocol.LoginPollRequest{ApprovalID: ap.ApprovalID}, &resp)
		cancel()
		switch protocol.CodeOf(err) {
		case "":
			if err != nil {
				return protocol.LoginResponse{}, err
			}
			a.mu.Lock()
			delete(a.approvals, osUser)
			a.mu.Unlock()
			a.adoptSignIn(ctx, osUser, resp)
			resp.Credential = ""
			return resp, nil
		case protocol.CodeApprovalPending:
		default:
			a.mu.Lock()
			delete(a.approvals, osUser)
			a.mu.Unlock()
			return protocol.LoginResponse{}, err
		}
		select {
		case <-ctx.Done():
			return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeTimeout, "stopped waiting for the approval of code %s", ap.UserCode)
		case <-time.After(interval):
		}
	}
}

// logout ends osUser's sign-in here and on the cluster.
func (a *agent) logout(ctx context.Context, osUser string) (state.SignIn, error) {
	si, ok := a.signInOf(osUser)
	if !ok {
		return state.SignIn{}, protocol.Errorf(protocol.CodeNotSignedIn, "no member is signed in for you on this device")
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err := a.call(ctx, protocol.TypeLogout, newRequestID(), protocol.LogoutRequest{Credential: si.Credential}, nil)
	if err != nil && protocol.CodeOf(err) != protocol.CodeNotSignedIn {
		return state.SignIn{}, err
	}
	a.dropSignIns([]string{si.SignInID})
	a.log.Info("member signed out", "email", si.Email, "os_user", osUser)
	return si, nil
}

// whoami asks the cluster who osUser's credential proves now.
func (a *agent) whoami(ctx context.Context, osUser string) (protocol.Member, error) {
	si, ok := a.signInOf(osUser)
	if !ok {
		return protocol.Member{}, protocol.Errorf(protocol.CodeNotSignedIn, "no member is signed in for you on this device (tally-agent login)")
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var m protocol.Member
	err := a.call(ctx, protocol.TypeWhoAmI, newRequestID(), protocol.WhoAmIRequest{Credential: si.Credential}, &m)
	if protocol.CodeOf(err) == protocol.CodeNotSignedIn {
		a.dropSignIns([]string{si.SignInID})
	}
	return m, err
}

// dropSignIns forgets sign-ins the cluster ended, and the leases held
// under them: their tokens are no longer served.
func (a *agent) dropSignIns(ids []string) {
	if len(ids) == 0 {
		return
	}
	var users []string
	a.mu.Lock()
	for u, si := range a.signins {
		if slices.Contains(ids, si.SignInID) {
			users = append(users, u)
			delete(a.signins, u)
		}
	}
	a.mu.Unlock()
	if len(users) == 0 {
		return
	}
	for _, u := range users {
		a.log.Warn("member sign-in ended by the cluster or on this device; its leases are dropped", "os_user", u)
		a.forgetLeasesOf(u)
	}
	a.persistSignIns()
}

// forgetLeasesOf drops osUser's signed-in leases from the cache (the
// cluster revoked them with the sign-in).
func (a *agent) forgetLeasesOf(osUser string) {
	a.mu.Lock()
	for k, l := range a.leases {
		if l.OSUser == osUser && l.Member != "" {
			delete(a.leases, k)
			delete(a.activity, k)
			delete(a.owners, k)
		}
	}
	a.mu.Unlock()
	a.persist()
}

func (a *agent) persistSignIns() {
	a.persistMu.Lock()
	defer a.persistMu.Unlock()
	a.mu.Lock()
	s := &state.SignIns{Users: maps.Clone(a.signins)}
	a.mu.Unlock()
	if err := a.dir.SaveSignIns(s); err != nil {
		a.log.Error("cannot save the member sign-ins", "err", err)
	}
}
