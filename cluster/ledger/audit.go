package ledger

import (
	"fmt"
	"sort"
	"time"
)

// The audit log is part of the replicated state: Apply appends one record
// per command, so every node holds the same log, it survives leader changes
// and it travels in snapshots. Records cost no extra Raft entries: grants,
// denials, releases, revocations and reclaims are audited while their own
// (already batched) commands apply. Denials decided by Apply (no seat,
// subscription over, unknown feature) are therefore recorded at no extra
// cost; a request the leader refuses before proposing (malformed, bad
// token) is not a ledger event and is only logged by the node.
//
// Refused administrative commands are not recorded: bad input changes
// nothing, not even the audit log, and the refusal is logged by the node
// that answered it.
//
// Heartbeat renewals are not audited — they are the bulk of the log and say
// nothing an administrator needs — except when a renewal ends a lease.

// Audit retention defaults and bounds.
const (
	DefaultAuditRetention = 90 * 24 * time.Hour
	// maxAuditRecords bounds memory and snapshot size whatever the
	// retention: beyond it the oldest records go first.
	maxAuditRecords = 100_000
)

// Outcome of an audited command.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
)

// AuditRecord is one entry of the audit log.
type AuditRecord struct {
	Seq       uint64      `json:"seq"`
	Time      time.Time   `json:"time"`
	Actor     string      `json:"actor,omitempty"`
	Account   string      `json:"account,omitempty"`
	Type      CommandType `json:"type"`
	Outcome   string      `json:"outcome"`
	Code      string      `json:"code,omitempty"`
	Summary   string      `json:"summary"`
	RequestID string      `json:"request_id,omitempty"`
	// Feature and Lease identify the lease a grant created.
	Feature string `json:"feature,omitempty"`
	Lease   uint64 `json:"lease,omitempty"`
	// Ended lists the leases this command ended (release, revoke after its
	// horizon, reclaim, expiry); the usage report closes their intervals.
	Ended []EndedLease `json:"ended,omitempty"`
}

// auditLog holds records in Seq order.
type auditLog struct {
	records []AuditRecord
	nextSeq uint64
}

// AuditRetention is how long audit records are kept (the settings' value, or
// the default when unset).
func (st Settings) AuditRetentionOrDefault() time.Duration {
	if st.AuditRetention > 0 {
		return st.AuditRetention
	}
	return DefaultAuditRetention
}

// pruneAudit drops records older than the retention at command time now.
func (s *State) pruneAudit(now time.Time) {
	cut := now.Add(-s.settings.AuditRetentionOrDefault())
	recs := s.audit.records
	n := 0
	for n < len(recs) && (recs[n].Time.Before(cut) || len(recs)-n > maxAuditRecords) {
		n++
	}
	if n > 0 {
		s.audit.records = dropFront(recs, n)
	}
}

// record appends the audit record of command c with result r. Called from
// apply for every non-batch command, so batched children get one each.
func (s *State) record(c *Command, r Result) {
	// Sign-in failures are not audited: spraying guesses would otherwise
	// push real records out of the bounded log. Admin request records are
	// idempotency bookkeeping: the admin write itself is recorded.
	if r.Replayed || c.Type == CmdBatch || c.Type == CmdSignInBrake || c.Type == CmdAdminRequest {
		return
	}
	if _, skipped := c.Payload.(*SkippedEntry); skipped {
		return
	}
	if c.Type == CmdDeviceSeen || (c.Type == CmdRenew && len(r.Ended) == 0) {
		return
	}
	if c.Type == CmdReclaim && len(r.Ended) == 0 {
		return
	}
	// A refused administrative command changed nothing and leaves nothing
	// behind (the node logs it); a refused checkout is a denial, which
	// billing and capacity planning need.
	if r.Error != nil && c.Type != CmdCheckout {
		return
	}
	// Likewise an import that was refused or changed no row.
	if im := r.Import; im != nil && (!im.Applied || im.Created+im.Updated == 0) {
		return
	}
	rec := AuditRecord{
		Time: c.Now, Actor: c.Actor, Type: auditType(c), Outcome: OutcomeOK,
		RequestID: c.RequestID, Ended: r.Ended,
	}
	rec.Account, rec.Summary = describe(c)
	if rec.Account == "" && r.Lease != nil {
		rec.Account = r.Lease.Account // a revocation names only the lease
	}
	if r.Error != nil {
		rec.Outcome = OutcomeDenied
		rec.Code = string(r.Error.Code)
		rec.Summary += ": " + r.Error.Message
	}
	if c.Type == CmdCheckout && r.Lease != nil {
		rec.Lease = r.Lease.ID
		rec.Feature = r.Lease.Feature
		rec.Summary += fmt.Sprintf(" -> lease %d", r.Lease.ID)
	}
	if rec.Actor == "" {
		rec.Actor = defaultActor(c)
	}
	s.audit.nextSeq++
	rec.Seq = s.audit.nextSeq
	s.audit.records = append(s.audit.records, rec)
}

// AuditFilter selects audit records. Zero fields match everything.
type AuditFilter struct {
	// After is a cursor: only records with a greater Seq.
	After   uint64
	Account string
	Type    CommandType
	Actor   string
	Since   time.Time
	Until   time.Time
	// Newest returns the latest matches first (with Limit: the last
	// Limit of them), for a console showing what just happened.
	Newest bool
	// Limit caps the answer (0: no cap).
	Limit int
}

func (f AuditFilter) match(r *AuditRecord) bool {
	switch {
	case f.Account != "" && r.Account != f.Account && !endedIn(r, f.Account):
		return false
	case f.Type != "" && r.Type != f.Type:
		return false
	case f.Actor != "" && r.Actor != f.Actor:
		return false
	case !f.Since.IsZero() && r.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	}
	return true
}

// endedIn reports whether an account-less record (revoke, reclaim) ended a
// lease of account, so that the account's log shows it.
func endedIn(r *AuditRecord, account string) bool {
	if r.Account != "" {
		return false
	}
	for _, e := range r.Ended {
		if e.Account == account {
			return true
		}
	}
	return false
}

// Audit returns copies of the records matching f in Seq order and whether
// more remain after the last one returned.
func (s *State) Audit(f AuditFilter) (out []AuditRecord, more bool) {
	recs := s.audit.records
	first := sort.Search(len(recs), func(i int) bool { return recs[i].Seq > f.After })
	if f.Newest {
		for i := len(recs) - 1; i >= first; i-- {
			if !f.match(&recs[i]) {
				continue
			}
			if f.Limit > 0 && len(out) == f.Limit {
				return out, true
			}
			out = append(out, f.view(&recs[i]))
		}
		return out, false
	}
	for i := first; i < len(recs); i++ {
		r := &recs[i]
		if !f.match(r) {
			continue
		}
		if f.Limit > 0 && len(out) == f.Limit {
			return out, true
		}
		out = append(out, f.view(r))
	}
	return out, false
}

// view is the copy of r the filter's reader sees.
func (f AuditFilter) view(r *AuditRecord) AuditRecord {
	cp := *r
	cp.Ended = nil
	for _, e := range r.Ended {
		// A reclaim spans accounts: an account's view lists only its
		// own leases.
		if f.Account == "" || e.Account == f.Account {
			cp.Ended = append(cp.Ended, e)
		}
	}
	if r.Account == "" && f.Account != "" {
		cp.Account = f.Account
		if r.Type == CmdReclaim {
			cp.Summary = fmt.Sprintf("reclaim %d expired lease(s)", len(cp.Ended))
		}
	}
	return cp
}

// AuditStart is the time of the oldest record kept (zero if none): a usage
// report over an earlier period is incomplete.
func (s *State) AuditStart() time.Time {
	if len(s.audit.records) == 0 {
		return time.Time{}
	}
	return s.audit.records[0].Time
}

// PoolSeatDays is the seat usage of one pool over a period.
type PoolSeatDays struct {
	Account  string  `json:"account"`
	Feature  string  `json:"feature"`
	SeatDays float64 `json:"seat_days"`
	// Leases counts leases that held a seat during the period.
	Leases int `json:"leases"`
	// PeakSeats is the most leases held at once during the period.
	PeakSeats int `json:"peak_seats"`
}

// UsageReport computes seat-days per pool over [from, to) from the audit
// log's grants and ends, plus the leases still active (up to the ledger's
// latest command time). Only account may be restricted (empty: all).
// A lease holds its seat from its grant until it ended; a revoked lease
// until its seat was reclaimed, as the seat was unavailable that long.
func (s *State) UsageReport(account string, from, to time.Time) []PoolSeatDays {
	spans := s.leaseSpans()
	end := to
	if s.lastNow.Before(end) {
		end = s.lastNow
	}
	byPool := map[poolKey]*PoolSeatDays{}
	events := map[poolKey][]seatEvent{}
	for _, sp := range spans {
		if account != "" && sp.account != account {
			continue
		}
		e := sp.end
		if e.IsZero() || e.After(end) {
			e = end
		}
		st := sp.start
		if st.Before(from) {
			st = from
		}
		if !e.After(st) {
			continue
		}
		k := poolKey{sp.account, sp.feature}
		u := byPool[k]
		if u == nil {
			u = &PoolSeatDays{Account: sp.account, Feature: sp.feature}
			byPool[k] = u
		}
		u.SeatDays += e.Sub(st).Hours() / 24
		u.Leases++
		events[k] = append(events[k], seatEvent{st, 1}, seatEvent{e, -1})
	}
	out := make([]PoolSeatDays, 0, len(byPool))
	for k, u := range byPool {
		ev := events[k]
		sortSeatEvents(ev)
		cur := 0
		for _, x := range ev {
			cur += x.delta
			if cur > u.PeakSeats {
				u.PeakSeats = cur
			}
		}
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].Feature < out[j].Feature
	})
	return out
}

// seatEvent is a seat taken (+1) or given back (-1) at a time, for
// sweeping lease spans in time order.
type seatEvent struct {
	at    time.Time
	delta int
}

// sortSeatEvents orders events in time, ends before starts at the same
// instant: a seat handed over is not two seats.
func sortSeatEvents(ev []seatEvent) {
	sort.Slice(ev, func(i, j int) bool {
		if ev[i].at.Equal(ev[j].at) {
			return ev[i].delta < ev[j].delta
		}
		return ev[i].at.Before(ev[j].at)
	})
}

// leaseSpan is when one lease held its seat; a zero end means it still does.
type leaseSpan struct {
	account, feature string
	start, end       time.Time
}

// leaseSpans rebuilds every lease's seat-holding span from the audit log's
// grants and ends, plus the leases active now.
func (s *State) leaseSpans() map[uint64]*leaseSpan {
	spans := map[uint64]*leaseSpan{}
	for i := range s.audit.records {
		r := &s.audit.records[i]
		if r.Type == CmdCheckout && r.Lease != 0 {
			spans[r.Lease] = &leaseSpan{account: r.Account, feature: r.Feature, start: r.Time}
		}
		for _, e := range r.Ended {
			sp, ok := spans[e.ID]
			if !ok {
				// Granted before the oldest record kept: count from it.
				sp = &leaseSpan{account: e.Account, feature: e.Feature, start: s.AuditStart()}
				spans[e.ID] = sp
			}
			sp.end = e.At
		}
	}
	for _, l := range s.leases {
		sp, ok := spans[l.ID]
		if !ok {
			sp = &leaseSpan{account: l.Account, feature: l.Feature, start: l.Since}
			spans[l.ID] = sp
		}
		sp.end = time.Time{}
	}
	return spans
}

// DayPeak is the most seats an account held at once during one UTC day.
type DayPeak struct {
	Day  string `json:"day"` // YYYY-MM-DD
	Peak int    `json:"peak"`
}

// DailyPeaks reports, for each of days UTC days starting at from's day, the
// most leases of account held at once (all pools together), from the same
// history as UsageReport. Days after the ledger's latest command are left
// out.
func (s *State) DailyPeaks(account string, from time.Time, days int) []DayPeak {
	return s.dailyPeaks(account, "", from, days)
}

// dailyPeaks is DailyPeaks for one pool, or all of the account's (feature
// empty).
func (s *State) dailyPeaks(account, feature string, from time.Time, days int) []DayPeak {
	first := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	var ev []seatEvent
	for _, sp := range s.leaseSpans() {
		if sp.account != account || (feature != "" && sp.feature != feature) {
			continue
		}
		ev = append(ev, seatEvent{sp.start, 1})
		if !sp.end.IsZero() {
			ev = append(ev, seatEvent{sp.end, -1})
		}
	}
	sortSeatEvents(ev)
	out := make([]DayPeak, 0, days)
	cur, i := 0, 0
	for d := 0; d < days; d++ {
		dayStart := first.AddDate(0, 0, d)
		if dayStart.After(s.lastNow) {
			break
		}
		dayEnd := dayStart.AddDate(0, 0, 1)
		for ; i < len(ev) && ev[i].at.Before(dayStart); i++ {
			cur += ev[i].delta
		}
		peak := cur
		for ; i < len(ev) && ev[i].at.Before(dayEnd); i++ {
			cur += ev[i].delta
			peak = max(peak, cur)
		}
		out = append(out, DayPeak{Day: dayStart.Format(time.DateOnly), Peak: peak})
	}
	return out
}
