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

func (a *api) registerMembers(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /v1/accounts/{account}/usage", a.memberUsage)
	auth("GET /v1/accounts/{account}/users", a.listUsers)
	auth("POST /v1/accounts/{account}/users", a.memberOp(ledger.CmdAddUser))
	auth("POST /v1/accounts/{account}/users/bulk", a.memberOp(ledger.CmdAddUsers))
	auth("GET /v1/accounts/{account}/users/{email}", a.getUser)
	auth("DELETE /v1/accounts/{account}/users/{email}", a.memberOp(ledger.CmdDeleteUser))
	auth("PUT /v1/accounts/{account}/users/{email}/role", a.memberOp(ledger.CmdSetRole))
	auth("PUT /v1/accounts/{account}/users/{email}/password", a.memberOp(ledger.CmdSetPassword))
	auth("PUT /v1/accounts/{account}/users/{email}/plan", a.memberOp(ledger.CmdSetUserPlan))
	auth("POST /v1/accounts/{account}/signin", a.signIn)
	auth("POST /v1/accounts/{account}/invitations", a.memberOp(ledger.CmdInvite))
	auth("POST /v1/accounts/{account}/invitations/{email}/accept", a.memberOp(ledger.CmdAcceptInvite))
	auth("DELETE /v1/accounts/{account}/invitations/{email}", a.memberOp(ledger.CmdCancelInvite))
	auth("POST /v1/accounts/{account}/invitations/expire", a.memberOp(ledger.CmdExpireInvites))
	auth("GET /v1/accounts/{account}/teams", a.listTeams)
	auth("POST /v1/accounts/{account}/teams", a.memberOp(ledger.CmdCreateTeam))
	auth("DELETE /v1/accounts/{account}/teams/{team}", a.memberOp(ledger.CmdDeleteTeam))
	auth("PUT /v1/accounts/{account}/teams/{team}/members/{email}", a.memberOp(ledger.CmdAddToTeam))
	auth("DELETE /v1/accounts/{account}/teams/{team}/members/{email}", a.memberOp(ledger.CmdRemoveFromTeam))
	auth("PUT /v1/accounts/{account}/teams/{team}/plan", a.memberOp(ledger.CmdSetTeamPlan))
	auth("PUT /v1/accounts/{account}/teams/{team}/admins/{email}", a.memberOp(ledger.CmdSetTeamAdmin))
	auth("DELETE /v1/accounts/{account}/teams/{team}/admins/{email}", a.memberOp(ledger.CmdSetTeamAdmin))
	auth("PUT /v1/accounts/{account}/seat-policy", a.memberOp(ledger.CmdSetSeatPolicy))
	auth("PUT /v1/accounts/{account}/seats", a.memberOp(ledger.CmdSetSeats))
	auth("PUT /v1/accounts/{account}/subscription", a.memberOp(ledger.CmdSetSubscription))
	auth("POST /v1/accounts/{account}/subscription/renew", a.memberOp(ledger.CmdRenewContract))
	auth("PUT /v1/accounts/{account}/admin-email", a.memberOp(ledger.CmdSetAdminEmail))
	auth("POST /v1/accounts/{account}/activate", a.memberOp(ledger.CmdActivate))
}

// memberOp builds the ledger command for op from the path and body and
// proposes it through the normal admin path (so every change is recorded
// like any other admin command), answering with the command's result.
func (a *api) memberOp(op ledger.CommandType) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req MemberRequest
		if r.ContentLength != 0 && r.Method != http.MethodDelete {
			if err := decodeLimit(r, &req, 8<<20); err != nil {
				return err
			}
		}
		// No local account check: this node may trail the leader, and the
		// ledger refuses an unknown account itself.
		m := memberArgs{account: r.PathValue("account"), email: req.Email, team: r.PathValue("team"), req: req}
		if e := r.PathValue("email"); e != "" {
			m.email = e
		}
		switch op {
		case ledger.CmdAddUser, ledger.CmdSetPassword, ledger.CmdAcceptInvite:
			if req.Password == "" && op == ledger.CmdAddUser {
				break // a user may be created without a password and set one later
			}
			hash, err := passwords.Hash(req.Password)
			if err != nil {
				return protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
			}
			m.passwordHash = hash
		case ledger.CmdSetTeamAdmin:
			m.teamAdmin = r.Method == http.MethodPut
		case ledger.CmdInvite:
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
			m.expires = a.now().Add(ttl)
		case ledger.CmdCreateTeam:
			m.team = req.Name
		case ledger.CmdSetSeats:
			if req.Seats == nil {
				return protocol.Errorf(protocol.CodeInvalidArgument, "seats is required")
			}
		}
		if err := a.checkMemberGrant(callerToken(r), op, m); err != nil {
			return err
		}
		res, err := a.apply(r, ledger.Command{Type: op, Payload: m.payload(op)})
		if err != nil {
			return err
		}
		if name := strings.TrimSpace(req.DisplayName); name != "" && (op == ledger.CmdAddUser || op == ledger.CmdInvite) {
			// The display name is a command of its own (add_user's format 1
			// payload has no field for it); the user exists now.
			if res, err = a.apply(r, ledger.Command{Type: ledger.CmdSetDisplayName, Payload: &ledger.SetDisplayName{Account: m.account, Email: m.email, DisplayName: name}}); err != nil {
				return err
			}
		}
		a.log.Info("members change", "account", m.account, "op", op, "email", m.email, "team", m.team, "by", caller(r))
		out := res.Members
		if out == nil {
			out = &ledger.MembersResult{}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// memberArgs is what a member operation's request says, from its path and
// body, once the handler has hashed a password or fixed an expiry.
type memberArgs struct {
	account, email, team string
	req                  MemberRequest
	passwordHash         string
	teamAdmin            bool
	expires              time.Time
}

// payload is the ledger payload of member operation op.
func (m memberArgs) payload(op ledger.CommandType) any {
	acct, req := m.account, m.req
	switch op {
	case ledger.CmdAddUser:
		return &ledger.AddUser{Account: acct, Email: m.email, Role: req.Role, PasswordHash: m.passwordHash, Teams: req.Teams}
	case ledger.CmdAddUsers:
		return &ledger.AddUsers{Account: acct, Emails: req.Emails, Role: req.Role}
	case ledger.CmdDeleteUser:
		return &ledger.DeleteUser{Account: acct, Email: m.email}
	case ledger.CmdSetRole:
		return &ledger.SetRole{Account: acct, Email: m.email, Role: req.Role}
	case ledger.CmdSetPassword:
		return &ledger.SetPassword{Account: acct, Email: m.email, PasswordHash: m.passwordHash}
	case ledger.CmdSetUserPlan:
		return &ledger.SetUserPlan{Account: acct, Email: m.email, Plan: req.Plan, PeriodEnd: req.PeriodEnd}
	case ledger.CmdInvite:
		return &ledger.Invite{Account: acct, Email: m.email, Role: req.Role, Teams: req.Teams, Expires: m.expires}
	case ledger.CmdAcceptInvite:
		return &ledger.AcceptInvite{Account: acct, Email: m.email, PasswordHash: m.passwordHash}
	case ledger.CmdCancelInvite:
		return &ledger.CancelInvite{Account: acct, Email: m.email}
	case ledger.CmdExpireInvites:
		return &ledger.ExpireInvites{Account: acct}
	case ledger.CmdCreateTeam:
		return &ledger.CreateTeam{Account: acct, Team: m.team}
	case ledger.CmdDeleteTeam:
		return &ledger.DeleteTeam{Account: acct, Team: m.team}
	case ledger.CmdAddToTeam:
		return &ledger.AddToTeam{Account: acct, Email: m.email, Team: m.team}
	case ledger.CmdRemoveFromTeam:
		return &ledger.RemoveFromTeam{Account: acct, Email: m.email, Team: m.team}
	case ledger.CmdSetTeamPlan:
		return &ledger.SetTeamPlan{Account: acct, Team: m.team, Plan: req.Plan, PeriodEnd: req.PeriodEnd}
	case ledger.CmdSetTeamAdmin:
		return &ledger.SetTeamAdmin{Account: acct, Email: m.email, Team: m.team, TeamAdmin: m.teamAdmin}
	case ledger.CmdSetSeatPolicy:
		return &ledger.SetSeatPolicy{Account: acct, Policy: &ledger.SeatPolicy{Mode: req.Mode, Emails: req.Emails, Domain: req.Domain}}
	case ledger.CmdSetSeats:
		return &ledger.SetSeats{Account: acct, Seats: *req.Seats}
	case ledger.CmdSetSubscription:
		return &ledger.SetSubscription{Account: acct, Plan: req.Plan, PeriodStart: req.PeriodStart, PeriodEnd: req.PeriodEnd, Renewal: req.Renewal}
	case ledger.CmdRenewContract:
		return &ledger.RenewContract{Account: acct}
	case ledger.CmdSetAdminEmail:
		return &ledger.SetAdminEmail{Account: acct, Email: m.email}
	case ledger.CmdActivate:
		return &ledger.Activate{Account: acct, Email: m.email}
	}
	return nil
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
	u, err := a.authenticate(r, r.PathValue("account"), req.Email, req.Password, "member sign-in")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SignInResponse{User: u})
	return nil
}
