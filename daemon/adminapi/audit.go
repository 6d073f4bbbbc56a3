package adminapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// Audit paging bounds for the JSON form; exports stream every match.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

func (a *api) registerAudit(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /v1/audit", a.audit)
	auth("GET /v1/usage-report", a.usageReport)
	auth("GET /v1/accounts/{account}/usage-history", a.usageHistory)
}

func (a *api) usageHistory(w http.ResponseWriter, r *http.Request) error {
	account := r.PathValue("account")
	days := 30
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "days=%q: want a number of days from 1 to 366", v)
		}
		days = n
	}
	from := a.now().AddDate(0, 0, 1-days)
	h := UsageHistory{Account: account, Points: []UsagePoint{}}
	var known bool
	a.cfg.Store.Read(func(st *ledger.State) {
		acct, ok := st.Account(account)
		if !ok {
			return
		}
		known = true
		for _, p := range acct.Pools {
			h.Seats += p.Seats
		}
		h.HistoryFrom = st.AuditStart()
		start := from
		if h.HistoryFrom.After(start) {
			start = h.HistoryFrom // no invented zeros before the history began
		}
		for _, d := range st.DailyPeaks(account, start, days) {
			h.Points = append(h.Points, UsagePoint{Day: d.Day, Peak: d.Peak, Seats: h.Seats})
		}
	})
	if !known {
		return protocol.Errorf(protocol.CodeUnknownAccount, "no account %q", account)
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// parseTime accepts RFC 3339 or a date (midnight UTC).
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, protocol.Errorf(protocol.CodeInvalidArgument, "%s %q is neither RFC 3339 (2026-11-01T12:00:00Z) nor a date (2026-11-01)", name, v)
}

func auditFilter(r *http.Request) (ledger.AuditFilter, string, error) {
	q := r.URL.Query()
	f := ledger.AuditFilter{Account: q.Get("account"), Type: ledger.CommandType(q.Get("type")), Actor: q.Get("actor"), Newest: q.Get("order") == "newest"}
	if o := q.Get("order"); o != "" && o != "newest" && o != "oldest" {
		return f, "", protocol.Errorf(protocol.CodeInvalidArgument, "order %q: want oldest (the default) or newest", o)
	}
	var err error
	if f.Since, err = parseTime("since", q.Get("since")); err != nil {
		return f, "", err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return f, "", err
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = strconv.ParseUint(v, 10, 64); err != nil {
			return f, "", protocol.Errorf(protocol.CodeInvalidArgument, "after %q is not a record sequence number", v)
		}
	}
	format := q.Get("format")
	switch format {
	case "", "json":
		f.Limit = defaultAuditLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxAuditLimit {
				return f, "", protocol.Errorf(protocol.CodeInvalidArgument, "limit %q must be a number from 1 to %d", v, maxAuditLimit)
			}
			f.Limit = n
		}
	case "ndjson", "csv":
	default:
		return f, "", protocol.Errorf(protocol.CodeInvalidArgument, "format %q: want json, ndjson or csv", format)
	}
	return f, format, nil
}

func (a *api) audit(w http.ResponseWriter, r *http.Request) error {
	f, format, err := auditFilter(r)
	if err != nil {
		return err
	}
	var page AuditPage
	a.cfg.Store.Read(func(st *ledger.State) { page.Records, page.More = st.Audit(f) })
	switch format {
	case "ndjson":
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="tally-audit.ndjson"`)
		enc := json.NewEncoder(w)
		for i := range page.Records {
			if err := enc.Encode(&page.Records[i]); err != nil {
				return nil // the client went away
			}
		}
		return nil
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="tally-audit.csv"`)
		cw := csv.NewWriter(w)
		cw.Write([]string{"seq", "time", "actor", "account", "type", "outcome", "code", "summary", "request_id", "lease", "ended"})
		for _, rec := range page.Records {
			var ended []string
			for _, e := range rec.Ended {
				ended = append(ended, strconv.FormatUint(e.ID, 10))
			}
			lease := ""
			if rec.Lease != 0 {
				lease = strconv.FormatUint(rec.Lease, 10)
			}
			cw.Write([]string{strconv.FormatUint(rec.Seq, 10), rec.Time.UTC().Format(time.RFC3339Nano), rec.Actor, rec.Account,
				string(rec.Type), rec.Outcome, rec.Code, rec.Summary, rec.RequestID, lease, strings.Join(ended, " ")})
		}
		cw.Flush()
		return nil
	}
	if page.Records == nil {
		page.Records = []ledger.AuditRecord{}
	}
	page.Next = f.After
	if n := len(page.Records); n > 0 {
		page.Next = page.Records[n-1].Seq
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *api) usageReport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err := parseTime("from", q.Get("from"))
	if err != nil {
		return err
	}
	to, err := parseTime("to", q.Get("to"))
	if err != nil {
		return err
	}
	if from.IsZero() || to.IsZero() {
		return protocol.Errorf(protocol.CodeInvalidArgument, "a usage report needs from= and to= (RFC 3339 or dates)")
	}
	if !to.After(from) {
		return protocol.Errorf(protocol.CodeInvalidArgument, "to %s must be after from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	rep := UsageReport{From: from, To: to}
	a.cfg.Store.Read(func(st *ledger.State) {
		rep.Pools = st.UsageReport(q.Get("account"), from, to)
		rep.HistoryFrom = st.AuditStart()
	})
	if q.Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		cw.Write([]string{"account", "feature", "seat_days", "leases", "peak_seats"})
		for _, p := range rep.Pools {
			cw.Write([]string{p.Account, p.Feature, strconv.FormatFloat(p.SeatDays, 'f', 4, 64), strconv.Itoa(p.Leases), strconv.Itoa(p.PeakSeats)})
		}
		cw.Flush()
		return nil
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
