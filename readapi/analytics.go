package readapi

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"example.com/crm"
)

// Analytics answers GET /analytics/deals/summary and /funnel (API.md §4,
// Analytics). Deleted deals never count. Like Queries, it is scoped by the
// organization given (a nil orgID fails with crm.ErrNoTenant) and reads
// its writes unless ctx says WithEventualConsistency.
type Analytics interface {
	DealSummary(ctx context.Context, orgID uuid.UUID) (DealSummary, error)
	DealFunnel(ctx context.Context, orgID uuid.UUID) (DealFunnel, error)
}

// DealSummary is the body of GET /analytics/deals/summary.
type DealSummary struct {
	ByStatus   StatusSummaries `json:"by_status"`
	TotalDeals int64           `json:"total_deals"`
	// AverageWonAmount is, per currency, the won deals' total divided by
	// their number, rounded half up to the cent.
	AverageWonAmount MoneyByCurrency `json:"average_won_amount"`
	// WinRate is won / (won + lost) × 100; nil (null) when both are 0.
	WinRate *Rate `json:"win_rate"`
	// NewDealsLast30Days counts the live deals created in the 30 × 24 h
	// before the answer was computed.
	NewDealsLast30Days int64 `json:"new_deals_last_30_days"`
	// AsOfPosition is the position the answer reflects (see pgread).
	AsOfPosition int64 `json:"as_of_position"`
}

// StatusSummaries holds the four statuses, always all present.
type StatusSummaries struct {
	New        StatusSummary `json:"new"`
	InProgress StatusSummary `json:"in_progress"`
	Won        StatusSummary `json:"won"`
	Lost       StatusSummary `json:"lost"`
}

// Of returns the summary of status, or nil for an unknown status.
func (s *StatusSummaries) Of(status string) *StatusSummary {
	switch status {
	case "new":
		return &s.New
	case "in_progress":
		return &s.InProgress
	case "won":
		return &s.Won
	case "lost":
		return &s.Lost
	}
	return nil
}

// StatusSummary is the number of live deals in one status and their
// amounts summed per currency.
type StatusSummary struct {
	Count       int64           `json:"count"`
	TotalAmount MoneyByCurrency `json:"total_amount"`
}

// MoneyByCurrency maps a currency to a decimal string with two fraction
// digits ("300.00"). Sums are never added across currencies, and are
// strings because they may exceed an int64 of cents (and never pass
// through a float). A nil map is written as {}.
type MoneyByCurrency map[string]string

// MarshalJSON writes {} for a nil map.
func (m MoneyByCurrency) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]string(m))
}

// CentsText prints an integer number of cents, given as decimal digits
// (with an optional leading "-", as PostgreSQL prints a numeric), with
// exactly two fraction digits: "30000" → "300.00", "5" → "0.05".
func CentsText(cents string) string {
	sign := ""
	if strings.HasPrefix(cents, "-") {
		sign, cents = "-", cents[1:]
	}
	if len(cents) < 3 {
		cents = strings.Repeat("0", 3-len(cents)) + cents
	}
	return sign + cents[:len(cents)-2] + "." + cents[len(cents)-2:]
}

// DealFunnel is the body of GET /analytics/deals/funnel.
type DealFunnel struct {
	// Stages holds the four stages, always, in pipeline order.
	Stages []FunnelStage `json:"stages"`
	// AsOfPosition is the position the answer reflects (see pgread).
	AsOfPosition int64 `json:"as_of_position"`
}

// FunnelStage is one stage of the funnel.
type FunnelStage struct {
	Stage string `json:"stage"`
	// Count is the number of live deals currently in the stage.
	Count    int64        `json:"count"`
	ByStatus StatusCounts `json:"by_status"`
	// Reached counts the live deals whose furthest stage ever reached is
	// this one or a later one.
	Reached int64 `json:"reached"`
	// ConversionRate is Reached / the previous stage's Reached × 100; 100
	// for the first stage; nil (null) when the previous Reached is 0.
	ConversionRate *Rate `json:"conversion_rate"`
}

// StatusCounts counts deals per status, the four always present.
type StatusCounts struct {
	New        int64 `json:"new"`
	InProgress int64 `json:"in_progress"`
	Won        int64 `json:"won"`
	Lost       int64 `json:"lost"`
}

// Of returns the counter of status, or nil for an unknown status.
func (c *StatusCounts) Of(status string) *int64 {
	switch status {
	case "new":
		return &c.New
	case "in_progress":
		return &c.InProgress
	case "won":
		return &c.Won
	case "lost":
		return &c.Lost
	}
	return nil
}

// Rate is a percentage in hundredths (6667 is 66.67 %), computed exactly
// from integers, never through a float. It is written as a JSON number
// with at most two fraction digits and at least one (66.67, 50.5, 100.0),
// as the examples of API.md show them.
type Rate int64

// RateOf returns num / den × 100 rounded half up to two decimals, or nil
// when den is 0. num and den are counts (≥ 0, num ≤ den in practice).
func RateOf(num, den int64) *Rate {
	if den <= 0 {
		return nil
	}
	r := Rate((num*20000 + den) / (2 * den))
	return &r
}

// String returns the rate as it is written in JSON.
func (r Rate) String() string {
	// Exactly two fraction digits, then one trailing zero dropped.
	return strings.TrimSuffix(crm.Amount(r).String(), "0")
}

// MarshalJSON writes the rate as a JSON number (66.67, 100.0).
func (r Rate) MarshalJSON() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalJSON reads a JSON number with at most two fraction digits.
func (r *Rate) UnmarshalJSON(b []byte) error {
	s := string(b)
	if strings.HasPrefix(s, "-") {
		v, err := crm.ParseAmountString(s[1:])
		*r = -Rate(v)
		return err
	}
	v, err := crm.ParseAmountString(s)
	*r = Rate(v)
	return err
}
