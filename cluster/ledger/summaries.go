package ledger

import (
	"fmt"
	"time"
)

// Audit summaries and default actors of the commands declared in
// commands.go, policy.go and notifications.go (registry.go wires them up).
// A summary never includes secrets (token hashes, public keys).

func (b *Bootstrap) describe() (string, string) { return "", "bootstrap cluster " + b.ClusterID }

func (st *Settings) describe() (string, string) {
	return "", fmt.Sprintf("settings lease_ttl=%v heartbeat=%v max_skew=%v audit_retention=%v", st.LeaseTTL, st.HeartbeatInterval, st.MaxSkew, st.AuditRetentionOrDefault())
}

func (k *SigningKey) describe() (string, string) { return "", "register signing key " + k.KeyID }

func (t *AdminToken) describe() (string, string) {
	return t.Account, fmt.Sprintf("create admin token %s (%s)", t.ID, t.Name)
}

func (r *RevokeAdminToken) describe() (string, string) { return "", "revoke admin token " + r.ID }

func (a *CreateAccount) describe() (string, string) {
	return a.ID, fmt.Sprintf("create account %s (%s)", a.ID, a.Model)
}

func (p *SetPool) describe() (string, string) {
	return p.Account, fmt.Sprintf("set pool %s to %d seats", p.Feature, p.Seats)
}

func (t *EnrollToken) describe() (string, string) {
	return t.Account, "create enrollment token " + t.ID
}

func (r *RevokeEnrollToken) describe() (string, string) {
	return r.Account, "revoke enrollment token " + r.ID
}

func (e *EnrollDevice) describe() (string, string) { return e.Account, "enroll device " + e.Code }
func (e *EnrollDevice) actor() string              { return deviceActor(e.Account, e.Code) }

func (k *Checkout) describe() (string, string) {
	s := fmt.Sprintf("checkout %s by %s", k.Feature, k.Device)
	if k.User != "" {
		s += " for " + k.User
	}
	return k.Account, s
}
func (k *Checkout) actor() string { return deviceActor(k.Account, k.Device) }

func (r *Renew) describe() (string, string) {
	return r.Account, fmt.Sprintf("renew %d lease(s) of %s", len(r.Leases), r.Device)
}
func (r *Renew) actor() string { return deviceActor(r.Account, r.Device) }

func (r *Release) describe() (string, string) {
	return r.Account, fmt.Sprintf("release lease %d by %s", r.LeaseID, r.Device)
}
func (r *Release) actor() string { return deviceActor(r.Account, r.Device) }

func (r *Revoke) describe() (string, string) { return "", fmt.Sprintf("revoke lease %d", r.LeaseID) }

func (r *Reclaim) describe() (string, string) {
	return "", fmt.Sprintf("reclaim %d expired lease(s)", len(r.Leases))
}

func (n *Node) describe() (string, string)       { return "", "register node " + n.ID }
func (r *RemoveNode) describe() (string, string) { return "", "remove node " + r.ID }

func (p *SetProduct) describe() (string, string) {
	return p.Account, fmt.Sprintf("set product %s (%d)", p.Code, p.Quantity)
}

func (im *ImportAssignments) describe() (string, string) {
	return im.Account, fmt.Sprintf("import %d assignment row(s) of %s", len(im.Rows), im.Product)
}

func (p *SetPolicy) describe() (string, string) {
	scope := "account"
	if p.Feature != "" {
		scope = "pool " + p.Feature
	}
	s := "set policy of " + scope
	if !p.SubscriptionEnd.IsZero() {
		s += ", subscription end " + p.SubscriptionEnd.Format(time.RFC3339)
	}
	return p.Account, s
}

func (n *NotificationClaim) describe() (string, string) {
	return n.Account, fmt.Sprintf("claim %s reminder for %s to %s", n.Kind, n.Day, n.To)
}

func (n *NotificationDone) describe() (string, string) {
	if n.Sent {
		return n.Account, fmt.Sprintf("%s reminder for %s sent", n.Kind, n.Day)
	}
	return n.Account, fmt.Sprintf("%s reminder for %s not sent (%s); released for retry", n.Kind, n.Day, n.Error)
}
