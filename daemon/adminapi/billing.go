package adminapi

import (
	"net/http"

	"github.com/tally-licensing/tally/cluster/ledger"
	wire "github.com/tally-licensing/tally/protocol/api"
)

// registerBilling adds the purchase side of member seats: requests for
// more seats (an account's administrators ask; the cluster operator is
// e-mailed and decides) and the plan prices behind the usage page's
// estimate of the next charge (a commercial term: cluster tokens only).
func (a *api) registerBilling(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	auth("GET /v1/accounts/{account}/seat-requests", a.listSeatRequests)
	auth("POST /v1/accounts/{account}/seat-requests", a.requestSeats)
	auth("PUT /v1/accounts/{account}/prices", a.setPrices)
}

func (a *api) requestSeats(w http.ResponseWriter, r *http.Request) error {
	var req wire.SeatRequestRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	op := &ledger.RequestSeats{Account: r.PathValue("account"), Seats: req.Seats, Note: req.Note, By: caller(r)}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdRequestSeats, Payload: op}); err != nil {
		return err
	}
	a.log.Info("seats requested", "account", op.Account, "seats", op.Seats, "by", op.By)
	writeJSON(w, http.StatusCreated, wire.SeatRequestRequest{Seats: op.Seats, Note: op.Note})
	return nil
}

func (a *api) listSeatRequests(w http.ResponseWriter, r *http.Request) error {
	var out []ledger.SeatRequest
	a.cfg.Store.Read(func(st *ledger.State) { out = st.SeatRequests(r.PathValue("account")) })
	if out == nil {
		out = []ledger.SeatRequest{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) setPrices(w http.ResponseWriter, r *http.Request) error {
	var req ledger.Prices
	if err := decode(r, &req); err != nil {
		return err
	}
	if _, err := a.apply(r, ledger.Command{Type: ledger.CmdSetPrices, Payload: &ledger.SetPrices{Account: r.PathValue("account"), Prices: req}}); err != nil {
		return err
	}
	return a.memberUsage(w, r)
}
