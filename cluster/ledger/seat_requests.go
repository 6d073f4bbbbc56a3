package ledger

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tally-licensing/tally/protocol"
)

// CmdRequestSeats records an account's request to buy more member seats
// (`tallyctl seats request`, the console's "Request seats" button). It
// changes no seat: the cluster operator, whom the notifier e-mails
// (daemon/notify: SeatRequests), decides and raises the seats. Like every
// command it lands in the audit log.
const CmdRequestSeats CommandType = "request_seats"

// Bounds of a seat request.
const (
	MaxSeatRequest     = 100_000
	MaxSeatRequestNote = 500
	// keptSeatRequests is how many requests an account keeps (newest).
	keptSeatRequests = 50
)

// RequestSeats is CmdRequestSeats's payload. By is the authenticated
// caller, filled by the proposer (never taken from the request body).
type RequestSeats struct {
	Account string `json:"account"`
	Seats   int    `json:"seats"`
	Note    string `json:"note,omitempty"`
	By      string `json:"by,omitempty"`
}

// SeatRequest is one recorded request.
type SeatRequest struct {
	ID      int       `json:"id"`
	Seats   int       `json:"seats"`
	Note    string    `json:"note,omitempty"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at"`
	Account string    `json:"account"`
	// SeatsThen is the account's purchased member seats when asked.
	SeatsThen int `json:"seats_then"`
}

func (s *State) requestSeats(now time.Time, op *RequestSeats) Result {
	note := strings.TrimSpace(op.Note)
	switch {
	case op.Seats < 1 || op.Seats > MaxSeatRequest:
		return fail(protocol.CodeInvalidArgument, "a seat request is for 1 to %d more seats, not %d", MaxSeatRequest, op.Seats)
	case utf8.RuneCountInString(note) > MaxSeatRequestNote:
		return fail(protocol.CodeInvalidArgument, "the note has %d characters: at most %d", utf8.RuneCountInString(note), MaxSeatRequestNote)
	}
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		id := 1
		if n := len(o.SeatRequests); n > 0 {
			id = o.SeatRequests[n-1].ID + 1
		}
		req := SeatRequest{ID: id, Account: op.Account, Seats: op.Seats, Note: note, By: op.By, At: now, SeatsThen: o.Seats}
		o.SeatRequests = append(o.SeatRequests, req)
		if len(o.SeatRequests) > keptSeatRequests {
			o.SeatRequests = append([]SeatRequest(nil), o.SeatRequests[len(o.SeatRequests)-keptSeatRequests:]...)
		}
		return Result{}
	})
}

func (op *RequestSeats) describe() (string, string) {
	return op.Account, "request " + strconv.Itoa(op.Seats) + " more member seats"
}

// SeatRequests lists account's recorded requests, oldest first; with
// account empty, every account's.
func (s *State) SeatRequests(account string) []SeatRequest {
	var out []SeatRequest
	for _, id := range sortedKeys(s.mem.orgs) {
		if account != "" && id != account {
			continue
		}
		out = append(out, s.mem.orgs[id].SeatRequests...)
	}
	return out
}
