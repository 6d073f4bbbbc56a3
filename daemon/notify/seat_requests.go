package notify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// SeatRequests mails each request for more member seats (ledger
// request_seats) to the cluster operator, once: the claim is for the day
// of the request and the kind names the request, so neither a leader
// change nor the next day sends it again. Requests older than Within are
// left alone (claims are remembered 72 hours).
type SeatRequests struct {
	To     string
	Within time.Duration
}

// seatRequestKind is the claim kind of request id.
func seatRequestKind(id int) string { return "seat-request-" + strconv.Itoa(id) }

func (s SeatRequests) Due(st *ledger.State, now time.Time) []Reminder {
	var out []Reminder
	for _, r := range st.SeatRequests("") {
		if now.Sub(r.At) > s.Within {
			continue
		}
		body := fmt.Sprintf("Account %s asks for %d more member seats (it has %d purchased).\n\nRequested by %s on %s.\n",
			r.Account, r.Seats, r.SeatsThen, orSomeone(r.By), at(r.At))
		if r.Note != "" {
			body += "\nNote: " + r.Note + "\n"
		}
		body += fmt.Sprintf("\nTo grant it: tallyctl seats set %s %d\n", r.Account, r.SeatsThen+r.Seats)
		out = append(out, Reminder{Account: r.Account, Kind: seatRequestKind(r.ID), To: s.To, Day: r.At.UTC().Format(time.DateOnly),
			Subject: fmt.Sprintf("Tally: %s requests %d more seats", r.Account, r.Seats), Body: body})
	}
	return out
}

func orSomeone(by string) string {
	if by == "" {
		return "an administrator"
	}
	return by
}
