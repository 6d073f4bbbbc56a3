package ledger

// clone returns a copy of r that shares no memory a caller could change.
//
// The idempotency record keeps a command's Result, and Apply's return value
// reaches callers (through Raft's ApplyFuture, on the leader, the very same
// value). Were the two to share *Lease or slices, a caller that adjusted the
// lease it got back (as the cluster tests did) would silently rewrite the
// leader's record, and its ledger — and every snapshot it takes — would
// differ from the followers'. The record therefore holds its own copy, and a
// replay hands out another.
func (r Result) clone() Result {
	out := r
	if r.Error != nil {
		e := *r.Error
		out.Error = &e
	}
	out.Lease = r.Lease.clone()
	if r.Renewed != nil {
		out.Renewed = make([]RenewResult, len(r.Renewed))
		for i, rr := range r.Renewed {
			out.Renewed[i] = RenewResult{ID: rr.ID, Lease: rr.Lease.clone()}
			if rr.Error != nil {
				e := *rr.Error
				out.Renewed[i].Error = &e
			}
		}
	}
	if r.Ended != nil {
		out.Ended = append([]EndedLease(nil), r.Ended...)
	}
	if r.Device != nil {
		d := *r.Device
		out.Device = &d
	}
	if r.Batch != nil {
		out.Batch = make([]Result, len(r.Batch))
		for i, b := range r.Batch {
			out.Batch[i] = b.clone()
		}
	}
	if r.Product != nil {
		p := *r.Product
		out.Product = &p
	}
	if r.License != nil {
		v := *r.License
		v.AddOns = append([]string(nil), r.License.AddOns...)
		v.AddOnCodes = append([]string(nil), r.License.AddOnCodes...)
		out.License = &v
	}
	if r.Import != nil {
		im := *r.Import
		im.Errors = append([]RowError(nil), r.Import.Errors...)
		out.Import = &im
	}
	return out
}

func (l *Lease) clone() *Lease {
	if l == nil {
		return nil
	}
	c := *l
	if l.AddOns != nil {
		c.AddOns = append([]string(nil), l.AddOns...)
	}
	return &c
}
