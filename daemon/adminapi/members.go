package adminapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/passwords"
	"github.com/tally-licensing/tally/protocol"
)

// DefaultInviteTTL is how long an invitation stays open when the request
// names no expiry.
const DefaultInviteTTL = 7 * 24 * time.Hour

// MemberRequest is the body of the members endpoints; each uses the fields
// it needs. Password is hashed (argon2id) on this node before proposing:
// the ledger only ever sees the PHC string.
type MemberRequest struct {
	Email    string      `json:"email,omitempty"`
	Emails   []string    `json:"emails,omitempty"`
	Role     ledger.Role `json:"role,omitempty"`
	Password string      `json:"password,omitempty"`
	Teams    []string    `json:"teams,omitempty"`
	Name     string      `json:"name,omitempty"`
	// ExpiresIn is an invitation's lifetime, e.g. "72h" (default 7 days).
	ExpiresIn   string    `json:"expires_in,omitempty"`
	Seats       *int      `json:"seats,omitempty"`
	Mode        string    `json:"mode,omitempty"`
	Domain      string    `json:"domain,omitempty"`
	Plan        string    `json:"plan,omitempty"`
	PeriodStart time.Time `json:"period_start,omitempty"`
	PeriodEnd   time.Time `json:"period_end,omitempty"`
	Renewal     string    `json:"renewal,omitempty"`
}

// SignInResponse is POST /v1/accounts/{account}/signin.
type SignInResponse struct {
	User ledger.UserView `json:"user"`
}

func (a *api) registerMembers(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /v1/accounts/{account}/usage", a.memberUsage)
	auth("GET /v1/accounts/{account}/users", a.listUsers)
	auth("POST /v1/accounts/{account}/users", a.memberOp(ledger.MemAddUser))
	auth("POST /v1/accounts/{account}/users/bulk", a.memberOp(ledger.MemAddUsers))
	auth("GET /v1/accounts/{account}/users/{email}", a.getUser)
	auth("DELETE /v1/accounts/{account}/users/{email}", a.memberOp(ledger.MemDeleteUser))
	auth("PUT /v1/accounts/{account}/users/{email}/role", a.memberOp(ledger.MemSetRole))
	auth("PUT /v1/accounts/{account}/users/{email}/password", a.memberOp(ledger.MemSetPassword))
	auth("PUT /v1/accounts/{account}/users/{email}/plan", a.memberOp(ledger.MemSetUserPlan))
	auth("POST /v1/accounts/{account}/signin", a.signIn)
	auth("POST /v1/accounts/{account}/invitations", a.memberOp(ledger.MemInvite))
	auth("POST /v1/accounts/{account}/invitations/{email}/accept", a.memberOp(ledger.MemAccept))
	auth("DELETE /v1/accounts/{account}/invitations/{email}", a.memberOp(ledger.MemCancelInvite))
	auth("POST /v1/accounts/{account}/invitations/expire", a.memberOp(ledger.MemExpireInvites))
	auth("GET /v1/accounts/{account}/teams", a.listTeams)
	auth("POST /v1/accounts/{account}/teams", a.memberOp(ledger.MemCreateTeam))
	auth("DELETE /v1/accounts/{account}/teams/{team}", a.memberOp(ledger.MemDeleteTeam))
	auth("PUT /v1/accounts/{account}/teams/{team}/members/{email}", a.memberOp(ledger.MemTeamAdd))
	auth("DELETE /v1/accounts/{account}/teams/{team}/members/{email}", a.memberOp(ledger.MemTeamRemove))
	auth("PUT /v1/accounts/{account}/teams/{team}/plan", a.memberOp(ledger.MemSetTeamPlan))
	auth("PUT /v1/accounts/{account}/teams/{team}/admins/{email}", a.memberOp(ledger.MemSetTeamAdmin))
	auth("DELETE /v1/accounts/{account}/teams/{team}/admins/{email}", a.memberOp(ledger.MemSetTeamAdmin))
	auth("PUT /v1/accounts/{account}/seat-policy", a.memberOp(ledger.MemSetPolicy))
	auth("PUT /v1/accounts/{account}/seats", a.memberOp(ledger.MemSetSeats))
	auth("PUT /v1/accounts/{account}/subscription", a.memberOp(ledger.MemSetSubscription))
	auth("POST /v1/accounts/{account}/subscription/renew", a.memberOp(ledger.MemRenew))
	auth("PUT /v1/accounts/{account}/admin-email", a.memberOp(ledger.MemSetAdminEmail))
	auth("POST /v1/accounts/{account}/activate", a.memberOp(ledger.MemActivate))
}

// memberOp builds the ledger command for op from the path and body and
// proposes it through the normal admin path (so every change is recorded
// like any other admin command), answering with the command's result.
func (a *api) memberOp(op string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req MemberRequest
		if r.ContentLength != 0 && r.Method != http.MethodDelete {
			if err := decodeLimit(r, &req, 8<<20); err != nil {
				return err
			}
		}
		// No local account check: this node may trail the leader, and the
		// ledger refuses an unknown account itself.
		account := r.PathValue("account")
		m := &ledger.MembersOp{
			Op: op, Account: account, Email: req.Email, Emails: req.Emails, Role: req.Role, Teams: req.Teams,
			Plan: req.Plan, PeriodStart: req.PeriodStart, PeriodEnd: req.PeriodEnd, Renewal: req.Renewal,
			Team: r.PathValue("team"), By: caller(r),
		}
		if e := r.PathValue("email"); e != "" {
			m.Email = e
		}
		switch op {
		case ledger.MemAddUser, ledger.MemSetPassword, ledger.MemAccept:
			if req.Password == "" && op == ledger.MemAddUser {
				break // a user may be created without a password and set one later
			}
			hash, err := passwords.Hash(req.Password)
			if err != nil {
				return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
			}
			m.PasswordHash = hash
		case ledger.MemSetTeamAdmin:
			m.TeamAdmin = r.Method == http.MethodPut
		case ledger.MemInvite:
			if adminOf := a.teamsAdministered(callerToken(r)); adminOf != nil {
				// A team administrator invites members into their teams only.
				if len(req.Teams) == 0 || !subset(req.Teams, adminOf) || (req.Role != "" && req.Role != ledger.RoleMember) {
					return protocol.Errorf(protocol.CodeForbidden, "a team administrator invites members into the teams they administer (%s) only", strings.Join(adminOf, ", "))
				}
			}
			ttl := DefaultInviteTTL
			if req.ExpiresIn != "" {
				d, err := time.ParseDuration(req.ExpiresIn)
				if err != nil || d <= 0 {
					return protocol.Errorf(protocol.CodeInvalidArgument, "expires_in %q: want a positive duration such as 72h", req.ExpiresIn)
				}
				ttl = d
			}
			// The expiry is fixed here, by the proposer; the leader's loop
			// reaps it with an expire_invites command.
			m.Expires = a.now().Add(ttl)
		case ledger.MemCreateTeam:
			m.Team = req.Name
		case ledger.MemSetSeats:
			if req.Seats == nil {
				return protocol.Errorf(protocol.CodeInvalidArgument, "seats is required")
			}
			m.Seats = *req.Seats
		case ledger.MemSetPolicy:
			m.Policy = &ledger.SeatPolicy{Mode: req.Mode, Emails: req.Emails, Domain: req.Domain}
			m.Emails = nil
		}
		if err := a.checkMemberGrant(callerToken(r), m); err != nil {
			return err
		}
		res, err := a.apply(r, ledger.Command{Type: ledger.CmdMembers, Members: m})
		if err != nil {
			return err
		}
		a.log.Info("members change", "account", account, "op", op, "email", m.Email, "team", m.Team, "by", caller(r))
		out := res.Members
		if out == nil {
			out = &ledger.MembersResult{}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (a *api) memberUsage(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	var u ledger.MemberUsage
	var ok bool
	a.cfg.Store.Read(func(st *ledger.State) { u, ok = st.MemberUsage(account) })
	if !ok {
		return protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	if err := a.knownAccount(account); err != nil {
		return err
	}
	var out []ledger.UserView
	a.cfg.Store.Read(func(st *ledger.State) { out = st.Users(account, r.URL.Query().Get("team")) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) getUser(w http.ResponseWriter, r *http.Request) error {
	account, email := r.PathValue("account"), r.PathValue("email")
	var u ledger.UserView
	var ok bool
	a.cfg.Store.Read(func(st *ledger.State) { u, ok = st.User(account, email) })
	if !ok {
		return protocol.Errorf(protocol.CodeNotFound, "no user %s in account %s", email, account)
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (a *api) listTeams(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	if err := a.knownAccount(account); err != nil {
		return err
	}
	var out []ledger.TeamUsage
	a.cfg.Store.Read(func(st *ledger.State) {
		u, _ := st.MemberUsage(account)
		out = u.Teams
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// signIn checks a member's password against the stored argon2id hash; it
// changes nothing (sign-in sessions are not part of the ledger).
func (a *api) signIn(w http.ResponseWriter, r *http.Request) error {
	var req MemberRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	account := r.PathValue("account")
	source := a.clientSource(r)
	if wait := a.signInWait(account, req.Email, source); wait > 0 {
		return braked(account, req.Email, wait)
	}
	u, ok, err := a.checkPassword(account, req.Email, req.Password)
	if err != nil {
		return err
	}
	if !ok {
		a.signInFailed(r.Context(), account, req.Email, source)
		return wrongPassword(account)
	}
	a.signInSucceeded(r.Context(), account, req.Email)
	writeJSON(w, http.StatusOK, SignInResponse{User: u})
	return nil
}
