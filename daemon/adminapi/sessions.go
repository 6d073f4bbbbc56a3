package adminapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/authtoken"
	"github.com/tally-licensing/tally/daemon/passwords"
	"github.com/tally-licensing/tally/protocol"
)

// checkPassword verifies a member's password against the argon2id hash in
// the ledger. ok is false for a wrong password or an unknown (or not yet
// accepted) member, which costs as long to refuse; err is for a stored hash
// that cannot be read.
func (a *api) checkPassword(account, email, password string) (u ledger.UserView, ok bool, err error) {
	var hash string
	a.cfg.Store.Read(func(st *ledger.State) {
		hash, _ = st.PasswordHash(account, email) // "" for no such member
		u, _ = st.User(account, email)
	})
	match, err := passwords.VerifyStored(hash, password)
	if err != nil {
		return u, false, protocol.Errorf(protocol.CodeInternal, "stored password of %s: %v", u.Email, err)
	}
	return u, match, nil
}

// authenticate signs a member in with a password behind the shared
// sign-in brake: a member or source past its free failures waits, a wrong
// password (or an unknown member) counts against both, and a right one
// clears the member's count. what names the sign-in in the log.
func (a *api) authenticate(r *http.Request, account, email, password, what string) (ledger.UserView, error) {
	source := a.clientSource(r)
	key := SignInKey(account, email)
	if wait, blocked := a.signIns.Blocked(key, source, a.now()); blocked {
		return ledger.UserView{}, braked(account, email, wait)
	}
	u, ok, err := a.checkPassword(account, email, password)
	if err != nil {
		return ledger.UserView{}, err
	}
	if !ok {
		a.signIns.Fail(r.Context(), key, source)
		a.log.Warn(what+" refused: wrong password", "account", account, "email", email, "remote", source)
		return ledger.UserView{}, wrongPassword(account)
	}
	a.signIns.Succeed(r.Context(), key)
	return u, nil
}

// wrongPassword is the one refusal for an unknown email and a wrong
// password alike.
func wrongPassword(account string) error {
	return protocol.Errorf(protocol.CodeUnauthorized, "wrong email or password for account %s", account)
}

// createSession signs a member in: it checks the password against the
// argon2id hash in the ledger and records a session token through Raft,
// so the session works on every node until it expires or is signed out.
func (a *api) createSession(w http.ResponseWriter, r *http.Request) {
	// The leader checks the password, keeps the sign-in brake and records
	// the session; a follower passes the request on as it came.
	if a.proxyWriteToLeader(w, r) {
		return
	}
	if err := a.startSession(w, r); err != nil {
		writeError(w, err)
	}
}

func (a *api) startSession(w http.ResponseWriter, r *http.Request) error {
	var req SessionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Account == "" || req.Email == "" || req.Password == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "account, email and password are required")
	}
	now := a.now()
	u, err := a.authenticate(r, req.Account, req.Email, req.Password, "console sign-in")
	if err != nil {
		return err
	}
	access, perr := ledger.SessionAccess(u)
	if perr != nil {
		return perr
	}
	tok, err := authtoken.New(authtoken.Admin)
	if err != nil {
		return err
	}
	expires := now.Add(ledger.SessionTTL)
	want := &ledger.AdminToken{ID: tok.ID, Name: "console session of " + u.Email, Hash: tok.Hash(), Role: string(access),
		Account: u.Account, Session: u.Email, Expires: expires}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdCreateAdminToken, Payload: want, Actor: memberActor(u.Account, u.Email)}); err != nil {
		return err
	}
	a.log.Info("console session started", "account", u.Account, "email", u.Email, "access", access, "expires", expires)
	writeJSON(w, http.StatusCreated, SessionResponse{Token: tok.String(), ID: tok.ID, Account: u.Account, Email: u.Email, Role: u.Role,
		Access: string(access), AdminOf: u.AdminOf, Expires: expires})
	return nil
}

// endSession signs the caller's console session out.
func (a *api) endSession(w http.ResponseWriter, r *http.Request) error {
	tok := callerToken(r)
	if tok.Session == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "admin token %s is not a console session: revoke it with tallyctl tokens revoke", tok.ID)
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdRevokeAdminToken, Payload: &ledger.RevokeAdminToken{ID: tok.ID}}); err != nil {
		return err
	}
	a.log.Info("console session ended", "account", tok.Account, "email", tok.Session)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkSession re-validates a console session at each request, on
// whichever node answers: it must not have expired, and the member must
// still exist with a role that gives the same access.
func (a *api) checkSession(rec ledger.AdminToken) error {
	if rec.Session == "" {
		return nil
	}
	if !a.now().Before(rec.Expires) {
		return protocol.Errorf(protocol.CodeUnauthorized, "the console session of %s expired at %s: sign in again", rec.Session, rec.Expires.Format(time.RFC3339))
	}
	var u ledger.UserView
	var ok bool
	a.cfg.Store.Read(func(st *ledger.State) { u, ok = st.User(rec.Account, rec.Session) })
	if !ok {
		return protocol.Errorf(protocol.CodeUnauthorized, "%s is no longer a member of account %s", rec.Session, rec.Account)
	}
	if access, perr := ledger.SessionAccess(u); perr != nil || access != rec.TokenRole() {
		return protocol.Errorf(protocol.CodeUnauthorized, "the role of %s changed to %s: sign in again", rec.Session, u.Role)
	}
	return nil
}

func memberActor(account, email string) string {
	return fmt.Sprintf("member:%s/%s", account, strings.ToLower(email))
}
