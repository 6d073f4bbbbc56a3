package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/adminapi"
	"github.com/tally-licensing/tally/daemon/authtoken"
	"github.com/tally-licensing/tally/daemon/passwords"
	"github.com/tally-licensing/tally/protocol"
)

// memberSignIns signs members in on devices (tally-agent login) and checks
// the credentials agents present. It implements agentsrv.SignIns.
//
// The password is checked here, on the node the agent reached, against the
// argon2id hash in the ledger (too slow and too secret for Apply); the
// sign-in itself is a ledger command bound to the device's Device Code and
// key fingerprint, so it works on every node and a credential presented by
// any other device is refused.
type memberSignIns struct {
	n     *Node
	brake adminapi.SignInBrake
	now   func() time.Time

	mu   sync.Mutex
	seen map[ledger.DeviceRef]time.Time // when this node last proposed device_seen
}

func newMemberSignIns(n *Node, brake adminapi.SignInBrake) *memberSignIns {
	return &memberSignIns{n: n, brake: brake, now: func() time.Time { return time.Now().UTC() }, seen: map[ledger.DeviceRef]time.Time{}}
}

// deviceBraked refuses a sign-in on a device while the member or the
// device (the source of the attempts) waits out the brake.
func deviceBraked(dev ledger.DeviceRef, email string, wait time.Duration) error {
	return protocol.Errorf(protocol.CodeTooManyRequests, "too many wrong passwords for %s in account %s, or from this device; try again in %v", email, dev.Account, wait.Round(time.Second)+time.Second)
}

func (m *memberSignIns) Login(ctx context.Context, dev ledger.DeviceRef, keyFP string, req protocol.LoginRequest, reqID string) (protocol.LoginResponse, error) {
	email := ledger.NormalizeEmail(req.Email)
	if email == "" || req.Password == "" {
		return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeInvalidArgument, "sign-in needs an email and a password")
	}
	key := adminapi.SignInKey(dev.Account, email)
	now := m.now()
	// The device is the source of the attempt: a device spraying guesses
	// over many members is braked as an address would be.
	source := "device:" + dev.Account + "/" + dev.Code
	if wait, blocked := m.brake.Blocked(key, source, now); blocked {
		return protocol.LoginResponse{}, deviceBraked(dev, email, wait)
	}
	var hash string
	m.n.Store.Read(func(st *ledger.State) { hash, _ = st.PasswordHash(dev.Account, email) }) // "" for no such member
	ok, err := passwords.VerifyStored(hash, req.Password)
	if err != nil {
		return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeInternal, "stored password of %s: %v", email, err)
	}
	if !ok {
		m.brake.Fail(ctx, key, source)
		return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeUnauthorized, "wrong email or password for account %s", dev.Account)
	}
	m.brake.Succeed(ctx, key)
	tok, err := authtoken.New(authtoken.Member)
	if err != nil {
		return protocol.LoginResponse{}, err
	}
	res, err := m.n.propose(ctx, ledger.Command{Type: ledger.CmdDeviceSignIn, RequestID: reqID, Payload: &ledger.DeviceSignIn{
		ID: tok.ID, Account: dev.Account, Device: dev.Code, KeyFingerprint: keyFP, Email: email, SecretHash: tok.Hash(), OSUser: req.OSUser,
	}})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return protocol.LoginResponse{}, err
	}
	if req.AgentVersion != "" {
		m.Seen(dev, req.AgentVersion)
	}
	mem, err := m.member(dev, tok.ID)
	if err != nil {
		return protocol.LoginResponse{}, err
	}
	m.n.log.Info("member signed in on a device", "account", dev.Account, "device", dev.Code, "email", email, "os_user", req.OSUser)
	return protocol.LoginResponse{Credential: tok.String(), Member: mem}, nil
}

// Verify checks a credential against the ledger: it must be a sign-in of
// this device, made with this device's key, whose secret matches.
func (m *memberSignIns) Verify(dev ledger.DeviceRef, keyFP, credential string) (string, error) {
	tok, err := authtoken.Parse(authtoken.Member, credential)
	if err != nil {
		return "", protocol.Errorf(protocol.CodeNotSignedIn, "the member credential is not one this cluster issued: sign in again")
	}
	var si ledger.DeviceSignIn
	var ok bool
	m.n.Store.Read(func(st *ledger.State) { si, ok = st.SignIn(tok.ID) })
	switch {
	case !ok:
		return "", protocol.Errorf(protocol.CodeNotSignedIn, "this sign-in has ended (signed out, or the member was removed or changed): sign in again")
	case si.Account != dev.Account || si.Device != dev.Code || si.KeyFingerprint != keyFP:
		// A credential copied from another device: refuse, and say so in
		// the log operators read.
		m.n.log.Warn("member credential presented by another device", "event", "signin_wrong_device",
			"account", dev.Account, "device", dev.Code, "signed_in_on", si.Device, "email", si.Email)
		return "", protocol.Errorf(protocol.CodeNotSignedIn, "this credential was issued to another device: sign in on this one")
	case !authtoken.Matches(si.SecretHash, tok.Secret):
		return "", protocol.Errorf(protocol.CodeNotSignedIn, "the member credential does not match its sign-in: sign in again")
	}
	return si.ID, nil
}

func (m *memberSignIns) Logout(ctx context.Context, dev ledger.DeviceRef, keyFP, credential string) error {
	id, err := m.Verify(dev, keyFP, credential)
	if err != nil {
		return err
	}
	res, err := m.n.propose(ctx, ledger.Command{Type: ledger.CmdDeviceSignOut, Payload: &ledger.DeviceSignOut{Account: dev.Account, ID: id, Reason: "signed out on the device"}})
	if err == nil {
		err = res.Err()
	}
	return err
}

func (m *memberSignIns) WhoAmI(dev ledger.DeviceRef, keyFP, credential string) (protocol.Member, error) {
	id, err := m.Verify(dev, keyFP, credential)
	if err != nil {
		return protocol.Member{}, err
	}
	return m.member(dev, id)
}

// member describes the member of a sign-in as the ledger has them now.
func (m *memberSignIns) member(dev ledger.DeviceRef, id string) (protocol.Member, error) {
	var out protocol.Member
	var perr *protocol.Error
	m.n.Store.Read(func(st *ledger.State) {
		si, ok := st.SignIn(id)
		if !ok {
			perr = protocol.Errorf(protocol.CodeNotSignedIn, "this sign-in has ended")
			return
		}
		u, ok := st.User(dev.Account, si.Email)
		if !ok {
			perr = protocol.Errorf(protocol.CodeNotAMember, "%s is not a member of account %s", si.Email, dev.Account)
			return
		}
		out = protocol.Member{SignInID: si.ID, Account: dev.Account, Device: dev.Code, Email: u.Email, Role: string(u.Role), Status: u.Status, Teams: u.Teams}
		for _, l := range st.Licenses(dev.Account, ledger.LicenseFilter{User: u.Email}) {
			if l.Kind == ledger.ProductBase {
				out.Licenses = append(out.Licenses, l.Product)
			}
		}
	})
	if perr != nil {
		return protocol.Member{}, perr
	}
	return out, nil
}

func (m *memberSignIns) SignedOut(dev ledger.DeviceRef, ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	var out []string
	m.n.Store.Read(func(st *ledger.State) {
		for _, id := range ids {
			if si, ok := st.SignIn(id); !ok || si.Account != dev.Account || si.Device != dev.Code {
				out = append(out, id)
			}
		}
	})
	return out
}

// Seen records the device's heartbeat in the ledger at most every
// ledger.SeenEvery, in the background so that the heartbeat is not held up.
func (m *memberSignIns) Seen(dev ledger.DeviceRef, agentVersion string) {
	now := m.now()
	var last time.Time
	var version string
	m.n.Store.Read(func(st *ledger.State) {
		if d, ok := st.Device(dev); ok {
			// Enrollment counts as seen: a device's first heartbeats after
			// it enrolled need no replicated write of their own.
			last, version = d.LastSeen, d.AgentVersion
			if d.Enrolled.After(last) {
				last = d.Enrolled
			}
		}
	})
	m.mu.Lock()
	if p := m.seen[dev]; p.After(last) {
		last = p
	}
	due := now.Sub(last) >= ledger.SeenEvery || (agentVersion != "" && agentVersion != version)
	if due {
		m.seen[dev] = now
	}
	m.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := m.n.propose(ctx, ledger.Command{Type: ledger.CmdDeviceSeen, Payload: &ledger.DeviceSeen{Account: dev.Account, Device: dev.Code, AgentVersion: agentVersion}}); err != nil {
			m.n.log.Debug("could not record a device's heartbeat", "device", dev.Code, "err", err)
		}
	}()
}

// activate is "Activate Existing License" with a password: a member who
// joins by activation sets their password (they sign in with it on every
// device); a member who already has one must give it (a wrong one counts on
// the brake); an existing member without a password, or an activation
// without one, joins but cannot sign in until an administrator sets it.
func (m *memberSignIns) activate(ctx context.Context, dev ledger.DeviceRef, req protocol.ActivateRequest, reqID string) (protocol.ActivateResponse, error) {
	hash := ""
	if req.Password != "" {
		email := ledger.NormalizeEmail(req.Email)
		key := adminapi.SignInKey(dev.Account, email)
		now := m.now()
		source := "device:" + dev.Account + "/" + dev.Code
		if wait, blocked := m.brake.Blocked(key, source, now); blocked {
			return protocol.ActivateResponse{}, deviceBraked(dev, email, wait)
		}
		var stored string
		m.n.Store.Read(func(st *ledger.State) { stored, _ = st.PasswordHash(dev.Account, email) })
		if stored != "" {
			if ok, err := passwords.Verify(stored, req.Password); err != nil || !ok {
				m.brake.Fail(ctx, key, source)
				return protocol.ActivateResponse{}, protocol.Errorf(protocol.CodeUnauthorized, "wrong email or password for account %s", dev.Account)
			}
		} else {
			h, err := passwords.Hash(req.Password)
			if err != nil {
				return protocol.ActivateResponse{}, protocol.Errorf(protocol.CodeInvalidArgument, "%v", err)
			}
			hash = h
		}
	}
	return m.n.activate(ctx, dev, req, hash, reqID)
}

// approvalPoll is how often an agent polls a browser-approved sign-in.
const approvalPoll = 2 * time.Second

// StartApproval opens a browser-approved sign-in for the device: a short
// user code the member enters, with their password, in the console.
func (m *memberSignIns) StartApproval(ctx context.Context, dev ledger.DeviceRef, keyFP string, req protocol.LoginStartRequest) (protocol.LoginStartResponse, error) {
	id, err := authtoken.New(authtoken.Member) // an unguessable ID: only this device polls it
	if err != nil {
		return protocol.LoginStartResponse{}, err
	}
	for attempt := 0; ; attempt++ {
		code, err := newUserCode()
		if err != nil {
			return protocol.LoginStartResponse{}, err
		}
		res, err := m.n.propose(ctx, ledger.Command{Type: ledger.CmdStartApproval, Payload: &ledger.DeviceApproval{
			ID: id.ID + id.Secret, Account: dev.Account, Device: dev.Code, KeyFingerprint: keyFP, UserCode: code, OSUser: req.OSUser,
		}})
		if err == nil {
			err = res.Err()
		}
		if protocol.CodeOf(err) == protocol.CodeAlreadyExists && attempt < 3 {
			continue // another device holds that code right now
		}
		if err != nil {
			return protocol.LoginStartResponse{}, err
		}
		a, _ := m.approval(id.ID + id.Secret)
		return protocol.LoginStartResponse{ApprovalID: a.ID, Account: dev.Account, UserCode: a.UserCode, Expires: a.Expires, Interval: protocol.Duration(approvalPoll)}, nil
	}
}

func (m *memberSignIns) approval(id string) (ledger.DeviceApproval, bool) {
	var a ledger.DeviceApproval
	var ok bool
	m.n.Store.Read(func(st *ledger.State) { a, ok = st.Approval(id) })
	return a, ok
}

// PollApproval answers a device waiting for its approval: pending, or the
// credential of the sign-in the approval became.
func (m *memberSignIns) PollApproval(ctx context.Context, dev ledger.DeviceRef, keyFP string, req protocol.LoginPollRequest) (protocol.LoginResponse, error) {
	a, ok := m.approval(req.ApprovalID)
	switch {
	case !ok:
		return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeNotFound, "the approval expired or is unknown: start again")
	case a.Account != dev.Account || a.Device != dev.Code || a.KeyFingerprint != keyFP:
		return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeNotSignedIn, "this approval belongs to another device")
	case a.Email == "":
		return protocol.LoginResponse{}, protocol.Errorf(protocol.CodeApprovalPending, "waiting for a member to enter code %s", a.UserCode)
	}
	tok, err := authtoken.New(authtoken.Member)
	if err != nil {
		return protocol.LoginResponse{}, err
	}
	res, err := m.n.propose(ctx, ledger.Command{Type: ledger.CmdFinishApproval, Payload: &ledger.FinishApproval{
		Account: dev.Account, ID: a.ID, SignInID: tok.ID, SecretHash: tok.Hash(),
	}})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return protocol.LoginResponse{}, err
	}
	mem, err := m.member(dev, tok.ID)
	if err != nil {
		return protocol.LoginResponse{}, err
	}
	m.n.log.Info("member signed in on a device by browser approval", "account", dev.Account, "device", dev.Code, "email", mem.Email)
	return protocol.LoginResponse{Credential: tok.String(), Member: mem}, nil
}

// newUserCode is eight Crockford symbols, "XXXX-XXXX" (40 bits).
func newUserCode() (string, error) {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate a user code: %w", err)
	}
	out := make([]byte, 0, 9)
	for i, x := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, alphabet[x&31])
	}
	return string(out), nil
}
