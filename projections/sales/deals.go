package sales

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
	// dealCounts: live deals per status, stage and currency (list totals).
	dealCounts = projections.NewCounter("deal_counts", []string{"org_id", "status", "stage", "currency"}, []string{"n"})
)

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

// DealsProjector maintains the deals table and deal_counts.
func DealsProjector() projections.Projector {
	return projections.Projector{Name: NameDeals, Model: dealsModel{}}
}

type dealsModel struct{}

func (dealsModel) Tables() []projections.TableInfo {
	return []projections.TableInfo{deals.Info(), dealCounts.Info()}
}

func (dealsModel) Wants(t string) bool { return len(t) > 5 && t[:5] == "deal." }

func (dealsModel) NewFold(names projections.Names) projections.Fold {
	return &dealsFold{names: names, rows: projections.NewRows(deals)}
}

type dealsFold struct {
	names projections.Names
	rows  *projections.Rows[Deal]
}

func (f *dealsFold) Load(b *pgx.Batch, batch []events.Event) {
	f.rows.Load(b, f.names, streamKeys(batch, events.StreamDeal))
}

func (f *dealsFold) Apply(e events.Event) error {
	if e.StreamType != events.StreamDeal {
		return nil
	}
	cur := f.rows.Get(key(e))
	next, err := applyDeal(cur, e)
	if err != nil || next == cur {
		return err
	}
	f.rows.Put(next)
	return nil
}

func (f *dealsFold) Flush(b *pgx.Batch) error {
	counts := dealCounts.Fresh()
	f.rows.Changed(func(before, after *Deal) {
		if before != nil && !before.Deleted {
			counts.Add([]any{before.OrgID, before.Status, before.Stage, before.Currency}, -1)
		}
		if !after.Deleted {
			counts.Add([]any{after.OrgID, after.Status, after.Stage, after.Currency}, 1)
		}
	})
	if err := f.rows.QueueUpsert(b, f.names); err != nil {
		return err
	}
	return counts.Queue(b, f.names)
}

func (f *dealsFold) Copy(ctx context.Context, conn *pgx.Conn) error {
	if err := f.rows.Copy(ctx, conn, f.names); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (org_id, status, stage, currency, n)
		SELECT org_id, status, stage, currency, count(*) FROM %s WHERE NOT deleted
		GROUP BY org_id, status, stage, currency`, f.names("deal_counts"), f.names("deals")))
	return err
}
