package ledger

import (
	"fmt"
	"regexp"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// CmdSetPrices sets an account's plan prices: what one member seat costs
// per billing period. They are a commercial term (only cluster-wide
// tokens set them) and feed the estimate of the next charge that usage
// shows (NextCharge).
const CmdSetPrices CommandType = "set_prices"

// Billing periods.
const (
	PeriodMonth = "month"
	PeriodYear  = "year"
)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// Prices are an account's plan prices. SeatPrice is in the currency's
// minor unit (cents), so that sums are exact.
type Prices struct {
	Currency  string `json:"currency"`
	SeatPrice int64  `json:"seat_price"`
	Period    string `json:"period"`
}

// SetPrices is CmdSetPrices's payload; a zero SeatPrice and empty
// Currency clear the prices.
type SetPrices struct {
	Account string `json:"account"`
	Prices
}

func (s *State) setPrices(now time.Time, op *SetPrices) Result {
	p := op.Prices
	clear := p == Prices{}
	if !clear {
		switch {
		case !currencyPattern.MatchString(p.Currency):
			return fail(protocol.CodeInvalidArgument, "currency %q: want an ISO 4217 code such as EUR or USD", p.Currency)
		case p.SeatPrice < 0 || p.SeatPrice > 100_000_000_00:
			return fail(protocol.CodeInvalidArgument, "seat price %d (minor units) is out of range", p.SeatPrice)
		case p.Period != PeriodMonth && p.Period != PeriodYear:
			return fail(protocol.CodeInvalidArgument, "period %q: want month or year", p.Period)
		}
	}
	return s.inOrg(now, op.Account, true, func(o *Org, _ *Account) Result {
		if clear {
			o.Prices = nil
		} else {
			o.Prices = &p
		}
		return Result{}
	})
}

func (op *SetPrices) describe() (string, string) {
	if op.Prices == (Prices{}) {
		return op.Account, "clear plan prices"
	}
	return op.Account, fmt.Sprintf("set plan prices: %s per seat per %s", FormatMoney(op.SeatPrice, op.Currency), op.Period)
}

// ChargeEstimate is the next charge as the ledger can foresee it: the
// member seats the account will hold after its next renewal times the seat
// price. It is an estimate: seats bought or freed before then change it.
type ChargeEstimate struct {
	Currency string `json:"currency"`
	// Seats are the seats charged: the purchased seats, or with the
	// shrink-to-allocated renewal those in use now.
	Seats int `json:"seats"`
	// SeatPrice and Period repeat the prices it is based on.
	SeatPrice int64  `json:"seat_price"`
	Period    string `json:"period"`
	// Amount is Seats × SeatPrice, in minor units.
	Amount int64 `json:"amount"`
	// At is when it falls due: the end of the current period (zero when
	// the account has no contract period).
	At time.Time `json:"at,omitempty"`
	// Display is Amount formatted ("EUR 1,234.50").
	Display string `json:"display"`
}

// nextCharge estimates o's next charge; nil without prices.
func (o *Org) nextCharge() *ChargeEstimate {
	if o == nil || o.Prices == nil {
		return nil
	}
	seats := o.Seats
	if o.Subscription.Renewal == RenewShrinkAllocated {
		if active, pending := o.used(); active+pending < seats {
			seats = active + pending
		}
	}
	amount := int64(seats) * o.Prices.SeatPrice
	return &ChargeEstimate{Currency: o.Prices.Currency, Seats: seats, SeatPrice: o.Prices.SeatPrice, Period: o.Prices.Period,
		Amount: amount, At: o.Subscription.End, Display: FormatMoney(amount, o.Prices.Currency)}
}

// FormatMoney writes minor units as "EUR 1,234.50".
func FormatMoney(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	whole, cents := minor/100, minor%100
	digits := fmt.Sprint(whole)
	var b []byte
	for i := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, digits[i])
	}
	return fmt.Sprintf("%s %s%s.%02d", currency, sign, b, cents)
}
