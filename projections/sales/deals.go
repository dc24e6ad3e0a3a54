package sales

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"example.com/crm/events"
	"example.com/crm/projections"
)

// Deal is a row of the deals table.
type Deal struct {
	OrgID         uuid.UUID  `db:"org_id" json:"org_id"`
	ID            uuid.UUID  `db:"id" json:"id"`
	ContactID     uuid.UUID  `db:"contact_id" json:"contact_id"`
	OwnerID       uuid.UUID  `db:"owner_id" json:"owner_id"`
	Title         string     `db:"title" json:"title"`
	AmountCents   int64      `db:"amount_cents" json:"amount_cents"`
	Currency      string     `db:"currency" json:"currency"`
	Status        string     `db:"status" json:"status"`
	Stage         string     `db:"stage" json:"stage"`
	FurthestStage string     `db:"furthest_stage" json:"furthest_stage"`
	ClosedAt      *time.Time `db:"closed_at" json:"closed_at"`
	Version       int        `db:"version" json:"version"`
	Deleted       bool       `db:"deleted" json:"deleted"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time  `db:"updated_at" json:"updated_at"`
}

var (
	deals = projections.NewTable("deals", [2]string{"org_id", "id"},
		func(d *Deal) projections.Key { return projections.Key{Org: d.OrgID, ID: d.ID} })
	// dealCounts: live deals and their amounts per status, stage and
	// currency: the lists' totals, the analytics summary's counts and
	// totals, and the funnel's current counts.
	dealCounts = projections.NewCounter("deal_counts", []string{"org_id", "status", "stage", "currency"}, []string{"n", "total_cents"})
	// dealsReached: live deals per furthest stage ever reached (the
	// funnel's "reached" of a stage sums it over that stage and later).
	dealsReached = projections.NewCounter("analytics_deal_reached", []string{"org_id", "stage"}, []string{"n"})
	// dealsCreated: live deals per hour of creation, UTC (the summary's
	// new_deals_last_30_days).
	dealsCreated = projections.NewCounter("analytics_deal_created", []string{"org_id", "hour"}, []string{"n"})
)

// Stages returns the deal pipeline, in order (the vocabulary is the
// aggregates', which projections may not import).
func Stages() []string { return []string{"qualification", "proposal", "negotiation", "closed"} }

// applyDeal is the deals read model's reducer, furthest stage included
// (the latest stage ever reached: a rollback does not lower it).
// updated_at follows the deal's fields, deletion included; comments and
// task additions only move the version (the stream's: the deal's ETag).
func applyDeal(d *Deal, e events.Event) (*Deal, error) {
	if c, ok := e.Data.(events.DealCreated); ok {
		if d != nil {
			return d, nil
		}
		return &Deal{OrgID: e.TenantID, ID: e.StreamID, ContactID: c.ContactID, OwnerID: c.OwnerID, Title: c.Title,
			AmountCents: int64(c.Amount), Currency: c.Currency, Status: c.Status, Stage: c.Stage,
			FurthestStage: c.Stage, Version: e.Version, CreatedAt: e.OccurredAt, UpdatedAt: e.OccurredAt}, nil
	}
	if d == nil || !fresh(d.Version, e) {
		return d, nil
	}
	next := *d
	next.Version = e.Version
	switch c := e.Data.(type) {
	case events.DealStageChanged:
		next.Stage, next.FurthestStage, next.UpdatedAt = c.New, furthest(d.FurthestStage, c.New), e.OccurredAt
	case events.DealStatusChanged:
		next.Status, next.UpdatedAt, next.ClosedAt = c.New, e.OccurredAt, nil
		if c.New == statusWon || c.New == statusLost {
			at := e.OccurredAt
			next.ClosedAt = &at
		}
	case events.DealUpdated:
		for field, ch := range c.Changes {
			var err error
			switch field {
			case "title":
				next.Title, err = newString(field, ch)
			case "currency":
				next.Currency, err = newString(field, ch)
			case "amount":
				var a int64
				amt, aerr := amountOf(ch.New)
				a, err = int64(amt), aerr
				next.AmountCents = a
			case "contact_id":
				next.ContactID, err = newUUID(field, ch)
			case "owner_id":
				next.OwnerID, err = newUUID(field, ch)
			}
			if err != nil {
				return nil, fmt.Errorf("deal.updated: %w", err)
			}
		}
		next.UpdatedAt = e.OccurredAt
	case events.DealDeleted:
		next.Deleted, next.UpdatedAt = true, e.OccurredAt
	}
	return &next, nil
}

// DealsProjector maintains the deals table and the counters derived from
// it (deal_counts and the analytics counters, migrations/00110), and
// deal_titles. A deleted deal counts nowhere. The analytics answers read
// only the counters, a few dozen rows per organization whatever its
// number of deals; each batch moves every changed deal's contribution
// between them in the transaction of the rows and the checkpoint, so they
// always equal what the rows say.
func DealsProjector() projections.Projector {
	live := func(d *Deal) bool { return !d.Deleted }
	return projections.Projector{Name: NameDeals, Model: &projections.RowModel[Deal]{
		Table: deals, StreamType: events.StreamDeal, Reduce: applyDeal, Reads: projections.Prefix("deal."),
		Counters: []projections.CounterSpec[Deal]{{
			Counter: dealCounts,
			Of: func(d *Deal) ([]any, []int64, bool) {
				return []any{d.OrgID, d.Status, d.Stage, d.Currency}, []int64{1, d.AmountCents}, live(d)
			},
			Derive: `SELECT org_id, status, stage, currency, count(*), sum(amount_cents) FROM %s WHERE NOT deleted
				GROUP BY org_id, status, stage, currency`,
		}, {
			Counter: dealsReached,
			Of: func(d *Deal) ([]any, []int64, bool) {
				return []any{d.OrgID, d.FurthestStage}, projections.One, live(d)
			},
			Derive: `SELECT org_id, furthest_stage, count(*) FROM %s WHERE NOT deleted GROUP BY org_id, furthest_stage`,
		}, {
			Counter: dealsCreated,
			Of: func(d *Deal) ([]any, []int64, bool) {
				return []any{d.OrgID, createdHour(d.CreatedAt)}, projections.One, live(d)
			},
			Derive: `SELECT org_id, date_trunc('hour', created_at, 'UTC'), count(*) FROM %s WHERE NOT deleted GROUP BY 1, 2`,
		}},
		// deal_titles: each live deal's title under the trigram index
		// searches use, written only when it changes (migrations/00080).
		Sides: []projections.SideSpec[Deal]{{
			Name: "deal_titles", Columns: []string{"title"},
			Of:     func(d *Deal) ([]any, bool) { return []any{d.Title}, !d.Deleted },
			Derive: `SELECT org_id, id, title FROM %s WHERE NOT deleted`,
		}},
	}}
}

// createdHour is a deal's bucket in analytics_deal_created.
func createdHour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }
