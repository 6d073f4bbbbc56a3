package ledger

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// snapshotVersion is bumped when the snapshot layout changes incompatibly;
// Restore refuses versions it does not know rather than misreading them.
const snapshotVersion = 1

// snapshot is the serialised ledger. Maps become sorted slices so that two
// nodes with the same state write byte-identical snapshots.
type snapshot struct {
	Version      int              `json:"version"`
	ClusterID    string           `json:"cluster_id"`
	Settings     Settings         `json:"settings"`
	Accounts     []*snapAccount   `json:"accounts"`
	Devices      []*snapDevice    `json:"devices"`
	Leases       []*snapLease     `json:"leases"`
	NextLeaseID  uint64           `json:"next_lease_id"`
	Keys         []*SigningKey    `json:"keys"`
	Nodes        []*Node          `json:"nodes"`
	AdminTokens  []*AdminToken    `json:"admin_tokens"`
	EnrollTokens []*EnrollToken   `json:"enroll_tokens"`
	Requests     []*requestRecord `json:"requests"`
	Ended        []EndedLease     `json:"ended"`
	LastNow      time.Time        `json:"last_now"`
	AppliedIndex uint64           `json:"applied_index"`
	licenseSnapshot
	Policy policyBook `json:"policy"`
	memberSnapshot
	Audit         []AuditRecord        `json:"audit,omitempty"`
	AuditNextSeq  uint64               `json:"audit_next_seq,omitempty"`
	Notified      []NotificationClaim  `json:"notified,omitempty"`
	AdminRequests []AdminRequestRecord `json:"admin_requests,omitempty"`
	Brake         []BrakeEntry         `json:"brake,omitempty"`
	SignIns       []*DeviceSignIn      `json:"sign_ins,omitempty"`
	Approvals     []*DeviceApproval    `json:"approvals,omitempty"`
	Vendors       *vendorSnapshot      `json:"vendors,omitempty"`
}

// WriteSnapshot serialises the whole ledger to w.
func (s *State) WriteSnapshot(w io.Writer) error {
	snap := snapshot{
		Version: snapshotVersion, ClusterID: s.clusterID, Settings: s.settings,
		NextLeaseID: s.nextLeaseID, LastNow: s.lastNow, AppliedIndex: s.appliedIndex,
	}
	for _, a := range s.accounts {
		snap.Accounts = append(snap.Accounts, snapOfAccount(a))
	}
	sort.Slice(snap.Accounts, func(i, j int) bool { return snap.Accounts[i].ID < snap.Accounts[j].ID })
	for _, d := range s.devices {
		snap.Devices = append(snap.Devices, snapOfDevice(d))
	}
	sort.Slice(snap.Devices, func(i, j int) bool {
		a, b := snap.Devices[i], snap.Devices[j]
		return a.Account < b.Account || (a.Account == b.Account && a.Code < b.Code)
	})
	for _, l := range s.leases {
		snap.Leases = append(snap.Leases, snapOfLease(l))
	}
	sort.Slice(snap.Leases, func(i, j int) bool { return snap.Leases[i].ID < snap.Leases[j].ID })
	for _, k := range s.keys {
		snap.Keys = append(snap.Keys, k)
	}
	sort.Slice(snap.Keys, func(i, j int) bool { return snap.Keys[i].KeyID < snap.Keys[j].KeyID })
	for _, n := range s.nodes {
		snap.Nodes = append(snap.Nodes, n)
	}
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].ID < snap.Nodes[j].ID })
	for _, t := range s.adminTokens {
		snap.AdminTokens = append(snap.AdminTokens, t)
	}
	sort.Slice(snap.AdminTokens, func(i, j int) bool { return snap.AdminTokens[i].ID < snap.AdminTokens[j].ID })
	for _, t := range s.enrollTok {
		snap.EnrollTokens = append(snap.EnrollTokens, t)
	}
	sort.Slice(snap.EnrollTokens, func(i, j int) bool { return snap.EnrollTokens[i].ID < snap.EnrollTokens[j].ID })
	for _, id := range s.requestOrder {
		if rec, ok := s.requests[id]; ok {
			snap.Requests = append(snap.Requests, rec)
		}
	}
	for _, id := range s.endedOrder {
		if e, ok := s.ended[id]; ok {
			snap.Ended = append(snap.Ended, e)
		}
	}
	snap.licenseSnapshot = s.lic.snapshot()
	snap.Policy = s.pol
	snap.memberSnapshot = s.mem.snapshot()
	snap.Audit, snap.AuditNextSeq = s.audit.records, s.audit.nextSeq
	snap.Notified = s.NotificationClaims()
	snap.Brake = s.brake.sorted()
	snap.AdminRequests = s.adminRequestsSnapshot()
	snap.SignIns = s.signins.sorted()
	snap.Approvals = s.sortedApprovals()
	snap.Vendors = s.ven.snapshot(s)
	enc := json.NewEncoder(w)
	if err := enc.Encode(&snap); err != nil {
		return fmt.Errorf("write ledger snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot replaces the ledger with the one serialised in r. On error the
// ledger is left unchanged.
func (s *State) ReadSnapshot(r io.Reader) error {
	var snap snapshot
	// Strict, like the log: a field this tallyd does not know was written
	// by a newer one, and dropping it would lose what it holds.
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		if strings.Contains(err.Error(), "unknown field") {
			return fmt.Errorf("read ledger snapshot: %w: it was written by a newer tallyd; upgrade this node to that release", err)
		}
		return fmt.Errorf("read ledger snapshot: %w", err)
	}
	if p := nilEntry(&snap); p != "" {
		return fmt.Errorf("read ledger snapshot: %s is null", p)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("ledger snapshot version %d is not supported by this tallyd (want %d)", snap.Version, snapshotVersion)
	}
	n := New()
	n.clusterID = snap.ClusterID
	n.settings = snap.Settings
	n.nextLeaseID = snap.NextLeaseID
	n.lastNow = snap.LastNow
	n.appliedIndex = snap.AppliedIndex
	for _, a := range snap.Accounts {
		n.accounts[a.ID] = a.account()
	}
	for _, d := range snap.Devices {
		n.devices[DeviceRef{d.Account, d.Code}] = d.device()
	}
	for _, l := range snap.Leases {
		n.insertLease(l.lease())
	}
	for _, k := range snap.Keys {
		n.keys[k.KeyID] = k
	}
	for _, t := range snap.AdminTokens {
		n.adminTokens[t.ID] = t
	}
	for _, x := range snap.Nodes {
		n.nodes[x.ID] = x
	}
	for _, t := range snap.EnrollTokens {
		n.enrollTok[t.ID] = t
	}
	for _, rec := range snap.Requests {
		n.requests[rec.ID] = rec
		n.requestOrder = append(n.requestOrder, rec.ID)
	}
	for _, e := range snap.Ended {
		n.ended[e.ID] = e
		n.endedOrder = append(n.endedOrder, e.ID)
	}
	n.lic = restoreLicenseBook(snap.licenseSnapshot)
	if snap.Policy.Policies != nil {
		n.pol = snap.Policy
	}
	n.mem = restoreMemberBook(snap.memberSnapshot)
	n.audit = auditLog{records: snap.Audit, nextSeq: snap.AuditNextSeq}
	for i := range snap.Notified {
		c := snap.Notified[i]
		n.notified[c.key()] = &c
	}
	n.brake = restoreBrake(snap.Brake)
	n.restoreAdminRequests(snap.AdminRequests)
	for _, a := range snap.Approvals {
		n.signins.approvals[a.ID] = a
	}
	for _, si := range snap.SignIns {
		n.signins.add(si)
	}
	n.ven = restoreVendorBook(snap.Vendors)
	*s = *n
	return nil
}
