package ledger

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// Member sign-ins on devices (issue 14). A member proves themselves to the
// cluster once, with their password, over the device's mutual-TLS
// connection; the proposing node records a DeviceSignIn bound to that
// device (its Device Code and key fingerprint) with the hash of a random
// secret it hands back to the agent. From then on, a checkout names the
// sign-in, and Apply takes the lease's holder from the sign-in record in
// the ledger, never from a field the client typed: the holder is a fact of
// the replicated state, so every replica decides the same way.
//
// A sign-in ends when the member signs out, when an administrator signs
// them out, when their role or password changes, or when its device is
// removed; ending it revokes the leases granted under it (their seats come
// back at horizon plus skew, S3; a node-locked lease is vacated instead, its
// seat being the device's). Deleting a member revokes their leases but
// keeps their sign-ins, so that their devices hear not_a_member; a member
// added again later is not proven by them (checkoutHolder).

// Device sign-in commands.
const (
	CmdDeviceSignIn  CommandType = "device_sign_in"
	CmdDeviceSignOut CommandType = "device_sign_out"
	CmdDeviceSeen    CommandType = "device_seen"
)

// DeviceSignIn is a member signed in on a device, as proposed (Created is
// set by Apply) and as stored.
type DeviceSignIn struct {
	ID             string `json:"id"`
	Account        string `json:"account"`
	Device         string `json:"device"`
	KeyFingerprint string `json:"key_fingerprint"`
	Email          string `json:"email"`
	// SecretHash is the hex SHA-256 of the credential's secret, computed by
	// the proposer; the secret itself never enters the log.
	SecretHash string    `json:"secret_hash"`
	OSUser     string    `json:"os_user,omitempty"`
	Created    time.Time `json:"created"`
}

// DeviceSignOut ends sign-ins: the one with ID, or every sign-in of Email in
// Account (on Device only, when given).
type DeviceSignOut struct {
	Account string `json:"account"`
	ID      string `json:"id,omitempty"`
	Email   string `json:"email,omitempty"`
	Device  string `json:"device,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// DeviceSeen records a device's heartbeat time and agent version. The node
// proposes it at most every SeenEvery per device, so last-seen costs the log
// little however often devices heartbeat.
type DeviceSeen struct {
	Account      string `json:"account"`
	Device       string `json:"device"`
	AgentVersion string `json:"agent_version,omitempty"`
}

// SeenEvery is how stale a device's recorded last-seen may get before a
// heartbeat records it again. Every recording is a replicated write: at
// 100,000 devices, ten minutes is about 170 small commands a second in
// batches, one minute would be 1,700 (a tenth of all heartbeats).
const SeenEvery = 10 * time.Minute

// signInBook holds the sign-ins with an index by device.
type signInBook struct {
	byID     map[string]*DeviceSignIn
	byDevice map[DeviceRef]map[string]*DeviceSignIn
	// approvals are browser-approved sign-ins in progress (approvals.go).
	approvals map[string]*DeviceApproval
}

func newSignInBook() *signInBook {
	return &signInBook{byID: map[string]*DeviceSignIn{}, byDevice: map[DeviceRef]map[string]*DeviceSignIn{}, approvals: map[string]*DeviceApproval{}}
}

func (b *signInBook) add(si *DeviceSignIn) {
	b.byID[si.ID] = si
	ref := DeviceRef{si.Account, si.Device}
	if b.byDevice[ref] == nil {
		b.byDevice[ref] = map[string]*DeviceSignIn{}
	}
	b.byDevice[ref][si.ID] = si
}

func (b *signInBook) remove(si *DeviceSignIn) {
	delete(b.byID, si.ID)
	ref := DeviceRef{si.Account, si.Device}
	delete(b.byDevice[ref], si.ID)
	if len(b.byDevice[ref]) == 0 {
		delete(b.byDevice, ref)
	}
}

func (b *signInBook) sorted() []*DeviceSignIn {
	out := make([]*DeviceSignIn, 0, len(b.byID))
	for _, si := range b.byID {
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// deviceSignIn records a sign-in. The proposer checked the password; Apply
// checks what the ledger knows at this point of the log: the device is
// enrolled with that key and the member is active and not pending.
func (s *State) deviceSignIn(now time.Time, si *DeviceSignIn) Result {
	if si.ID == "" || si.SecretHash == "" {
		return fail(protocol.CodeInvalidArgument, "a sign-in needs an ID and a secret hash")
	}
	if _, ok := s.signins.byID[si.ID]; ok {
		return fail(protocol.CodeAlreadyExists, "sign-in %s already exists", si.ID)
	}
	d, ok := s.devices[DeviceRef{si.Account, si.Device}]
	if !ok {
		return fail(protocol.CodeNotEnrolled, "device %s is not enrolled in account %s", si.Device, si.Account)
	}
	if d.KeyFingerprint != si.KeyFingerprint {
		return fail(protocol.CodeDeviceConflict, "the sign-in was made with a key that is not device %s's", si.Device)
	}
	if _, perr := s.activeMember(si.Account, si.Email); perr != nil {
		return Result{Error: perr}
	}
	c := *si
	c.Email = NormalizeEmail(si.Email)
	c.Created = now
	s.signins.add(&c)
	return Result{Ended: s.assignNodeLocked(now, &c)}
}

// assignNodeLocked: in a Standard account, a member's first sign-in on a
// device assigns the device its node-locked seat of every pool that has one
// free (and whose product the member may use), before any checkout, so the
// device has its license from the moment someone logs in. A pool without a
// free seat is left alone: the sign-in itself never fails for it.
func (s *State) assignNodeLocked(now time.Time, si *DeviceSignIn) []EndedLease {
	acct := s.accounts[si.Account]
	if acct == nil || acct.Model != ModelStandard {
		return nil
	}
	var ended []EndedLease
	for _, feature := range sortedKeys(acct.Pools) {
		held := false
		for _, l := range s.byDevice[DeviceRef{si.Account, si.Device}] {
			if l.Feature == feature && l.Kind == KindNodeLocked && !l.Revoked {
				held = true
			}
		}
		if held {
			continue
		}
		r := s.checkout(now, &Checkout{Account: si.Account, Device: si.Device, Feature: feature, SignIn: si.ID})
		ended = append(ended, r.Ended...)
	}
	return ended
}

// deviceSignOut ends sign-ins and revokes their leases.
func (s *State) deviceSignOut(now time.Time, so *DeviceSignOut) Result {
	if so.ID == "" && so.Email == "" {
		return fail(protocol.CodeInvalidArgument, "a sign-out needs a sign-in ID or an email")
	}
	if so.ID != "" {
		si, ok := s.signins.byID[so.ID]
		if !ok || si.Account != so.Account {
			return fail(protocol.CodeNotFound, "no sign-in %s in account %s", so.ID, so.Account)
		}
		s.endSignIn(now, si)
		return Result{}
	}
	n := s.endSignIns(now, so.Account, so.Email, protocol.CanonicalDeviceCode(so.Device))
	if n == 0 {
		where := ""
		if so.Device != "" {
			where = " on device " + so.Device
		}
		return fail(protocol.CodeNotFound, "%s is not signed in%s in account %s", NormalizeEmail(so.Email), where, so.Account)
	}
	return Result{}
}

// endSignIns ends every sign-in of email in account (on device, if not
// empty) and returns how many ended. Member changes call it.
func (s *State) endSignIns(now time.Time, account, email, device string) int {
	email = NormalizeEmail(email)
	var due []*DeviceSignIn
	for _, si := range s.signins.byID {
		if si.Account == account && si.Email == email && (device == "" || si.Device == device) {
			due = append(due, si)
		}
	}
	for _, si := range due {
		s.endSignIn(now, si)
	}
	return len(due)
}

func (s *State) endSignIn(now time.Time, si *DeviceSignIn) {
	s.signins.remove(si)
	for _, l := range s.byDevice[DeviceRef{si.Account, si.Device}] {
		if l.SignIn == si.ID {
			revokeLease(now, l)
		}
	}
}

// vacate takes the member off a node-locked lease: the seat stays with the
// device (node-locked seats are the device's), the member's token is no
// longer renewed, and the next member who signs in on the device takes the
// seat over.
func vacate(l *Lease) {
	l.User, l.SignIn, l.Vacant = "", "", true
	l.License, l.AddOns = "", nil
}

// revokeLease ends a member's hold on a lease: a floating or borrowed lease
// is revoked (no longer renewed, its seat back at horizon plus skew, S3); a
// node-locked one is vacated, because its seat is the device's.
func revokeLease(now time.Time, l *Lease) {
	if l.Kind == KindNodeLocked && !l.Revoked {
		vacate(l)
		return
	}
	if !l.Revoked {
		l.Revoked, l.RevokedAt = true, now
	}
}

// revokeMemberLeases revokes the live leases of a member in an account,
// those of one license only when license is not empty. Deleting a member,
// making them an assistant, unassigning or terminating their license call it.
func (s *State) revokeMemberLeases(now time.Time, account, email, license string) {
	email = NormalizeEmail(email)
	for _, l := range s.leases {
		if l.Account == account && NormalizeEmail(l.User) == email && email != "" && (license == "" || l.License == license) {
			revokeLease(now, l)
		}
	}
}

// revokeLicenseLeases revokes the leases granted under one named license
// (from log format 2 on; format 1 left them to expire).
func (s *State) revokeLicenseLeases(now time.Time, licenseID string) {
	if !s.since(2) {
		return
	}
	for _, l := range s.leases {
		if l.License == licenseID {
			revokeLease(now, l)
		}
	}
}

// Member operations end sign-ins and leases (members_*.go call these): a
// deleted member, a member whose role no longer consumes a seat, or whose
// password changed is signed out everywhere; the first two also lose their
// live leases. A deleted member's sign-ins stay, so that the device hears
// not_a_member rather than a bare "sign in again"; a member re-added later
// is a new member, whom those old sign-ins do not prove (checkoutHolder).

func (s *State) deviceSeen(now time.Time, ds *DeviceSeen) Result {
	d, ok := s.devices[DeviceRef{ds.Account, ds.Device}]
	if !ok {
		return fail(protocol.CodeNotEnrolled, "device %s is not enrolled in account %s", ds.Device, ds.Account)
	}
	if now.After(d.LastSeen) {
		d.LastSeen = now
	}
	if ds.AgentVersion != "" {
		d.AgentVersion = ds.AgentVersion
	}
	return Result{}
}

// managesMembers reports whether seats of an account go to signed-in
// members: from its first member who is not one of its administrators (a
// Member, an Assistant, an invitation). A new account, or one whose only
// users are its owners and administrators (tallyd dev's demo, an account
// created with its administrator as a member), still lets devices check
// out on their own; a member who signs in there is recorded all the same.
func (s *State) managesMembers(account string) bool {
	o := s.org(account, false)
	if o == nil {
		return false
	}
	for _, u := range o.Users {
		if u.Pending || (u.Role != RoleOwner && u.Role != RoleAdministrator) {
			return true
		}
	}
	return false
}

// activeMember returns the member email names, or why they may not hold a
// seat.
func (s *State) activeMember(account, email string) (*User, *protocol.Error) {
	o := s.org(account, false)
	var u *User
	if o != nil {
		u = o.Users[NormalizeEmail(email)]
	}
	switch {
	case u == nil:
		return nil, protocol.Errorf(protocol.CodeNotAMember, "%s is not a member of account %s", NormalizeEmail(email), account)
	case u.Pending:
		return nil, protocol.Errorf(protocol.CodeNotAMember, "%s has not accepted the invitation to account %s yet", u.Email, account)
	}
	return u, nil
}

// checkoutHolder decides who a checkout is for, from the ledger alone. In an
// account that manages members, the holder is the member of the sign-in the
// checkout names, which must be this device's; that member must be active,
// in a role that consumes a seat, and hold a license of the product when
// the feature's product has named licenses. Elsewhere the holder is the
// device (User as the server filled it).
func (s *State) checkoutHolder(c *Checkout) (*Checkout, *protocol.Error) {
	if !s.since(2) {
		return c, nil // format 1: the holder is the user the leader named
	}
	if c.SignIn == "" && !s.managesMembers(c.Account) {
		return c, nil
	}
	if c.SignIn == "" {
		return nil, protocol.Errorf(protocol.CodeNotSignedIn, "account %s gives seats to signed-in members: sign in on this device first (tally-agent login)", c.Account)
	}
	si, ok := s.signins.byID[c.SignIn]
	if !ok {
		return nil, protocol.Errorf(protocol.CodeNotSignedIn, "the sign-in on device %s has ended (signed out, or the member's role or password changed): sign in again", c.Device)
	}
	if si.Account != c.Account || si.Device != c.Device {
		return nil, protocol.Errorf(protocol.CodeNotSignedIn, "sign-in %s belongs to another device", c.SignIn)
	}
	u, perr := s.activeMember(c.Account, si.Email)
	if perr != nil {
		return nil, perr
	}
	if u.Created.After(si.Created) {
		return nil, protocol.Errorf(protocol.CodeNotSignedIn, "%s was removed and added again since signing in on device %s: sign in again", u.Email, c.Device)
	}
	if !u.Role.ConsumesSeat() {
		return nil, protocol.Errorf(protocol.CodeAssistantNoSeat, "%s is an %s of account %s: assistants manage the account but hold no seat", u.Email, u.Role, c.Account)
	}
	if products := s.namedProducts(c.Account, c.Feature); len(products) > 0 {
		if lic, _ := s.licenseClaims(c.Account, c.Feature, u.Email); lic == "" {
			return nil, protocol.Errorf(protocol.CodeNoLicense, "%s has no %s license assigned in account %s, which %s needs", u.Email, products[0], c.Account, c.Feature)
		}
	}
	cp := *c
	cp.User = u.Email
	return &cp, nil
}

// namedProducts lists the base products whose holders check feature out.
func (s *State) namedProducts(account, feature string) []string {
	var out []string
	for code, p := range s.lic.products[account] {
		if p.Kind == ProductBase && p.PoolFeature() == feature {
			out = append(out, code)
		}
	}
	sort.Strings(out)
	return out
}

// memberTeams are the teams the checkout's authenticated member is in (none
// for a device-only checkout).
func (s *State) memberTeams(account, user string) []string {
	if user == "" || !s.since(2) { // format 1 matched the named team only
		return nil
	}
	o := s.org(account, false)
	if o == nil {
		return nil
	}
	if u := o.Users[NormalizeEmail(user)]; u != nil {
		return u.Teams
	}
	return nil
}

// leaseInTeam reports whether a lease counts for team: named at checkout,
// or held by a member of the team.
func (s *State) leaseInTeam(l *Lease, team string) bool {
	return l.Team == team || slices.Contains(s.memberTeams(l.Account, l.User), team)
}

// SignIns lists an account's sign-ins (of one device when device is not
// empty) without their secret hashes, sorted by device then email.
func (s *State) SignIns(account, device string) []DeviceSignIn {
	var out []DeviceSignIn
	for _, si := range s.signins.byID {
		if si.Account == account && (device == "" || si.Device == device) {
			c := *si
			c.SecretHash = ""
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Email < out[j].Email || (out[i].Email == out[j].Email && out[i].ID < out[j].ID)
	})
	return out
}

// SignIn returns a sign-in with its secret hash, for the node that verifies
// a credential.
func (s *State) SignIn(id string) (DeviceSignIn, bool) {
	si, ok := s.signins.byID[id]
	if !ok {
		return DeviceSignIn{}, false
	}
	return *si, true
}

func (si *DeviceSignIn) describe() (string, string) {
	return si.Account, fmt.Sprintf("sign in %s on device %s", NormalizeEmail(si.Email), si.Device)
}

func (si *DeviceSignIn) actor() string {
	return "member:" + si.Account + "/" + NormalizeEmail(si.Email)
}

func (so *DeviceSignOut) describe() (string, string) {
	what := so.ID
	if so.Email != "" {
		what = NormalizeEmail(so.Email)
		if so.Device != "" {
			what += " on device " + so.Device
		}
	}
	s := "sign out " + what
	if so.Reason != "" {
		s += " (" + so.Reason + ")"
	}
	return so.Account, s
}

func (ds *DeviceSeen) describe() (string, string) {
	return ds.Account, "device " + ds.Device + " seen"
}

// vacantError answers a heartbeat or renewal of a vacated node-locked lease.
func vacantError(l *Lease) *protocol.Error {
	return protocol.Errorf(protocol.CodeNotSignedIn, "lease %d: its member is no longer signed in on device %s; the device keeps the node-locked seat for the next member who signs in", l.ID, l.Device)
}

// VacantError is vacantError for the node that answers heartbeats.
func VacantError(l Lease) *protocol.Error { return vacantError(&l) }

// forgetDeviceSignIns drops the sign-ins of a removed device (its leases
// are revoked by the removal itself); a device enrolling again under the
// same code, with a new key, starts with none.
func (s *State) forgetDeviceSignIns(ref DeviceRef) {
	for _, si := range s.signins.byDevice[ref] {
		s.signins.remove(si)
	}
}
