package ledger

import (
	"slices"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Teams: named groups of members sharing one plan and period, each with
// its own administrators.

const (
	CmdCreateTeam     CommandType = "create_team"
	CmdDeleteTeam     CommandType = "delete_team"
	CmdAddToTeam      CommandType = "add_to_team"
	CmdRemoveFromTeam CommandType = "remove_from_team"
	CmdSetTeamAdmin   CommandType = "set_team_admin"
	CmdSetTeamPlan    CommandType = "set_team_plan"
)

// CreateTeam creates an empty team.
type CreateTeam struct {
	Account string `json:"account"`
	Team    string `json:"team,omitempty"`
}

// DeleteTeam deletes a team; members left in no team become unassigned.
type DeleteTeam struct {
	Account string `json:"account"`
	Team    string `json:"team,omitempty"`
}

// AddToTeam adds a user to a team.
type AddToTeam struct {
	Account string `json:"account"`
	Email   string `json:"email,omitempty"`
	Team    string `json:"team,omitempty"`
}

// RemoveFromTeam removes a user from a team (and from its administrators).
type RemoveFromTeam struct {
	Account string `json:"account"`
	Email   string `json:"email,omitempty"`
	Team    string `json:"team,omitempty"`
}

// SetTeamAdmin makes a team member the team's administrator (TeamAdmin) or
// no longer.
type SetTeamAdmin struct {
	Account   string `json:"account"`
	Email     string `json:"email,omitempty"`
	Team      string `json:"team,omitempty"`
	TeamAdmin bool   `json:"team_admin,omitempty"`
}

// SetTeamPlan puts every member of a team on one plan and period end.
type SetTeamPlan struct {
	Account   string    `json:"account"`
	Team      string    `json:"team,omitempty"`
	Plan      string    `json:"plan,omitempty"`
	PeriodEnd time.Time `json:"period_end,omitempty"`
}

func (s *State) createTeam(now time.Time, op *CreateTeam) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		if !ValidID(op.Team) {
			return fail(protocol.CodeInvalidArgument, "team name %q must be 1-64 letters, digits, '.', '_' or '-'", op.Team)
		}
		if o.Teams[op.Team] != nil {
			return fail(protocol.CodeAlreadyExists, "team %s already exists in account %s", op.Team, op.Account)
		}
		o.Teams[op.Team] = &Team{Name: op.Team, Created: now}
		return Result{}
	})
}

func (s *State) deleteTeam(now time.Time, op *DeleteTeam) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		if e := o.team(op.Team); e != nil {
			return Result{Error: e}
		}
		delete(o.Teams, op.Team)
		var changed []string
		for _, id := range sortedKeys(o.Users) {
			if u := o.Users[id]; slices.Contains(u.Teams, op.Team) {
				o.leaveTeam(u, op.Team)
				changed = append(changed, id)
			}
		}
		return changedResult(changed...)
	})
}

func (s *State) addToTeam(now time.Time, op *AddToTeam) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		if e := o.team(op.Team); e != nil {
			return Result{Error: e}
		}
		if slices.Contains(u.Teams, op.Team) {
			return userResult(o, u)
		}
		if e := o.checkTeamsPlan(u, []string{op.Team}); e != nil {
			return Result{Error: e}
		}
		u.Teams = sortedUnique(append(u.Teams, op.Team))
		u.Unassigned = false
		return userResult(o, u)
	})
}

func (s *State) removeFromTeam(now time.Time, op *RemoveFromTeam) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		if !slices.Contains(u.Teams, op.Team) {
			return fail(protocol.CodeNotFound, "%s is not in team %q", u.Email, op.Team)
		}
		o.leaveTeam(u, op.Team)
		return userResult(o, u)
	})
}

func (s *State) setTeamAdmin(now time.Time, op *SetTeamAdmin) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		u, e := o.user(op.Email)
		if e != nil {
			return Result{Error: e}
		}
		if e := o.team(op.Team); e != nil {
			return Result{Error: e}
		}
		if op.TeamAdmin && !slices.Contains(u.Teams, op.Team) {
			return fail(protocol.CodeNotAllowed, "%s is not in team %s: add them to it before making them its administrator", u.Email, op.Team)
		}
		if op.TeamAdmin {
			u.AdminOf = sortedUnique(append(u.AdminOf, op.Team))
		} else {
			u.AdminOf = without(u.AdminOf, op.Team)
		}
		return userResult(o, u)
	})
}

func (s *State) setTeamPlan(now time.Time, op *SetTeamPlan) Result {
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		if e := o.team(op.Team); e != nil {
			return Result{Error: e}
		}
		members := o.teamMembers(op.Team)
		saved := map[string]User{}
		for _, u := range members {
			saved[u.Email] = *u
			u.Plan, u.PeriodEnd = op.Plan, op.PeriodEnd
		}
		var changed []string
		for _, u := range members {
			if e := o.checkTeamsPlan(u, u.Teams); e != nil {
				for _, m := range members {
					*m = saved[m.Email]
				}
				return Result{Error: e}
			}
			changed = append(changed, u.Email)
		}
		return changedResult(changed...)
	})
}

func (op *CreateTeam) describe() (string, string) {
	return memberSummary(op.Account, "create_team", "", "", op.Team, "")
}
func (op *DeleteTeam) describe() (string, string) {
	return memberSummary(op.Account, "delete_team", "", "", op.Team, "")
}
func (op *AddToTeam) describe() (string, string) {
	return memberSummary(op.Account, "team_add", op.Email, "", op.Team, "")
}
func (op *RemoveFromTeam) describe() (string, string) {
	return memberSummary(op.Account, "team_remove", op.Email, "", op.Team, "")
}
func (op *SetTeamAdmin) describe() (string, string) {
	return memberSummary(op.Account, "set_team_admin", op.Email, "", op.Team, "")
}
func (op *SetTeamPlan) describe() (string, string) {
	return memberSummary(op.Account, "set_team_plan", "", "", op.Team, op.Plan)
}
