// Package analytics holds the "analytics" projector: it keeps the deal
// analytics of every organization pre-aggregated (migrations/00005), so
// that GET /analytics/deals/summary and /funnel read a few dozen rows
// whatever the number of deals (readapi/pgread answers them).
//
// The projector writes one row per deal in analytics_deals, with what
// analytics needs: status, stage, the furthest stage ever reached (the
// funnel's "reached" comes from the stage history, which only the event
// stream has), currency, amount, creation time and a deletion tombstone.
// Each batch moves every changed deal's contribution between the
// aggregate rows (per status/stage/currency, per furthest stage, per hour
// of creation) in the same transaction as the rows and the checkpoint, so
// the aggregates always equal what the rows say; a rebuild derives them
// by GROUP BY. The reducer (Apply) is idempotent: deal.created creates a
// row once, every other event is guarded by the stream version, and a
// guarded-out event changes no row and so no aggregate.
package analytics

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/projections"
)

// Name is the projector's name: its consumer group and checkpoint key, and
// what analytics queries wait on (API: never rename).
const Name = "analytics"

// Stages returns the deal pipeline, in order (the vocabulary is the
// aggregates', which projections may not import).
func Stages() []string { return []string{"qualification", "proposal", "negotiation", "closed"} }

// stageRank orders the pipeline; an unknown stage ranks 0 and never
// becomes the furthest.
var stageRank = map[string]int{"qualification": 1, "proposal": 2, "negotiation": 3, "closed": 4}

// Deal is a row of analytics_deals: what analytics needs of one deal.
type Deal struct {
	OrgID         uuid.UUID `db:"org_id" json:"org_id"`
	DealID        uuid.UUID `db:"deal_id" json:"deal_id"`
	Status        string    `db:"status" json:"status"`
	Stage         string    `db:"stage" json:"stage"`
	FurthestStage string    `db:"furthest_stage" json:"furthest_stage"`
	Currency      string    `db:"currency" json:"currency"`
	AmountCents   int64     `db:"amount_cents" json:"amount_cents"`
	CreatedAt     time.Time `db:"created_at" json:"created_at"`
	Deleted       bool      `db:"deleted" json:"deleted"`
	Version       int       `db:"version" json:"version"`
}

var (
	dealsTable = projections.NewTable("analytics_deals", [2]string{"org_id", "deal_id"},
		func(d *Deal) projections.Key { return projections.Key{Org: d.OrgID, ID: d.DealID} })
	cells   = projections.NewCounter("analytics_deal_cells", []string{"org_id", "status", "stage", "currency"}, []string{"n", "total_cents"})
	reached = projections.NewCounter("analytics_deal_reached", []string{"org_id", "stage"}, []string{"n"})
	created = projections.NewCounter("analytics_deal_created", []string{"org_id", "hour"}, []string{"n"})
)

// Apply is the analytics reducer: d is the deal's row before e (nil when
// there is none), the result the row after. A stage change moves the
// furthest stage when the new one lies beyond it (a rollback leaves it;
// a skip reaches every stage it jumps over, which "reached" counts by
// summing later stages). Updates of fields analytics do not read (title,
// contact, owner), comments and task links move only the version.
func Apply(d *Deal, e events.Event) (*Deal, error) {
	if c, ok := e.Data.(events.DealCreated); ok {
		if d != nil {
			return d, nil
		}
		return &Deal{OrgID: e.TenantID, DealID: e.StreamID, Status: c.Status, Stage: c.Stage, FurthestStage: c.Stage,
			Currency: c.Currency, AmountCents: int64(c.Amount), CreatedAt: e.OccurredAt, Version: e.Version}, nil
	}
	if d == nil || e.Version <= d.Version {
		return d, nil
	}
	next := *d
	next.Version = e.Version
	switch c := e.Data.(type) {
	case events.DealStageChanged:
		next.Stage = c.New
		if stageRank[c.New] > stageRank[d.FurthestStage] {
			next.FurthestStage = c.New
		}
	case events.DealStatusChanged:
		next.Status = c.New
	case events.DealUpdated:
		if ch, ok := c.Changes["amount"]; ok {
			a, err := amountOf(ch.New)
			if err != nil {
				return nil, fmt.Errorf("deal.updated: %w", err)
			}
			next.AmountCents = int64(a)
		}
		if ch, ok := c.Changes["currency"]; ok {
			cur, isString := ch.New.(string)
			if !isString {
				return nil, fmt.Errorf("deal.updated: currency %v (%T) is not a string", ch.New, ch.New)
			}
			next.Currency = cur
		}
	case events.DealDeleted:
		next.Deleted = true
	}
	return &next, nil
}

// Projector returns the analytics projector. Each batch moves every
// changed deal's contribution between the aggregate rows; a deleted deal
// counts nowhere.
func Projector() projections.Projector {
	live := func(d *Deal) bool { return !d.Deleted }
	return projections.Projector{Name: Name, Model: &projections.RowModel[Deal]{
		Table: dealsTable, StreamType: events.StreamDeal, Reduce: Apply, Reads: projections.Prefix("deal."),
		Counters: []projections.CounterSpec[Deal]{
			{Counter: cells, Of: func(d *Deal) ([]any, []int64, bool) {
				return []any{d.OrgID, d.Status, d.Stage, d.Currency}, []int64{1, d.AmountCents}, live(d)
			}, Derive: `SELECT org_id, status, stage, currency, count(*), sum(amount_cents) FROM %s WHERE NOT deleted
				GROUP BY org_id, status, stage, currency`},
			{Counter: reached, Of: func(d *Deal) ([]any, []int64, bool) {
				return []any{d.OrgID, d.FurthestStage}, projections.One, live(d)
			}, Derive: `SELECT org_id, furthest_stage, count(*) FROM %s WHERE NOT deleted GROUP BY org_id, furthest_stage`},
			{Counter: created, Of: func(d *Deal) ([]any, []int64, bool) {
				return []any{d.OrgID, hour(d.CreatedAt)}, projections.One, live(d)
			}, Derive: `SELECT org_id, date_trunc('hour', created_at, 'UTC'), count(*) FROM %s WHERE NOT deleted GROUP BY 1, 2`},
		},
	}}
}

// hour is the creation-hour bucket of analytics_deal_created.
func hour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// amountOf reads an amount as deal.updated records it: a decimal string
// ("10.00", as in the API); a crm.Amount is accepted too (events that did
// not go through JSON). A JSON number is refused rather than guessed to
// be units or cents.
func amountOf(v any) (crm.Amount, error) {
	switch a := v.(type) {
	case crm.Amount:
		return a, nil
	case string:
		amt, err := crm.ParseAmountString(a)
		if err != nil {
			return 0, fmt.Errorf("amount %q: %w", a, err)
		}
		return amt, nil
	}
	return 0, fmt.Errorf("amount %v (%T) is not a decimal string", v, v)
}
