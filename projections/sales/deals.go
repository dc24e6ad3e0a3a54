package sales

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/projections"
)

// DealsProjector maintains the deals table, including furthest_stage (the
// latest stage ever reached, for the funnel). updated_at follows the
// deal's fields, deletion included; comments and task additions only move
// the version (the stream's, which is the deal's ETag).
func DealsProjector() projections.Projector {
	return projections.Projector{Name: NameDeals, Handlers: []cqrs.GroupEventHandler{
		projections.On(dealCreated),
		projections.On(dealStageChanged),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, s events.DealStatusChanged) error {
			var closedAt *time.Time
			if s.New == statusWon || s.New == statusLost {
				closedAt = &e.OccurredAt
			}
			return newUpdate("deals").set("status", s.New).set("closed_at", closedAt).
				set("updated_at", e.OccurredAt).exec(ctx, tx, e)
		}),
		projections.On(dealUpdated),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.DealDeleted) error {
			return newUpdate("deals").set("deleted", true).set("updated_at", e.OccurredAt).exec(ctx, tx, e)
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.DealCommented) error {
			return touch("deals")(ctx, tx, e)
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.DealTaskAdded) error {
			return touch("deals")(ctx, tx, e)
		}),
	}}
}

func dealCreated(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealCreated) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO deals (org_id, id, contact_id, owner_id, title, amount_cents, currency,
		                   status, stage, furthest_stage, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $11)
		ON CONFLICT (org_id, id) DO NOTHING`,
		e.TenantID, e.StreamID, d.ContactID, d.OwnerID, d.Title, int64(d.Amount), d.Currency,
		d.Status, d.Stage, e.Version, e.OccurredAt)
	if err != nil {
		return fmt.Errorf("deal.created %s: %w", e.StreamID, err)
	}
	return nil
}

// dealStageChanged moves the stage, and the furthest stage when the new
// one lies beyond it (a rollback leaves it).
func dealStageChanged(ctx context.Context, tx pgx.Tx, e events.Event, s events.DealStageChanged) error {
	_, err := tx.Exec(ctx, `
		UPDATE deals SET stage = $4::text, updated_at = $5, version = $3,
		       furthest_stage = CASE
		           WHEN array_position(`+stageOrder+`, $4::text) > array_position(`+stageOrder+`, furthest_stage)
		           THEN $4::text ELSE furthest_stage END
		WHERE org_id = $1 AND id = $2 AND version < $3`,
		e.TenantID, e.StreamID, e.Version, s.New, e.OccurredAt)
	if err != nil {
		return fmt.Errorf("deal.stage_changed %s: %w", e.StreamID, err)
	}
	return nil
}

// dealUpdated applies the changed fields among title, amount (a decimal
// string), currency, contact_id and owner_id; others are ignored.
func dealUpdated(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealUpdated) error {
	u := newUpdate("deals")
	for _, field := range []string{"title", "amount", "currency", "contact_id", "owner_id"} {
		ch, ok := d.Changes[field]
		if !ok {
			continue
		}
		col := field
		var v any
		var err error
		switch field {
		case "title", "currency":
			v, err = newString(field, ch)
		case "amount":
			col = "amount_cents"
			var a crm.Amount
			a, err = amountOf(ch.New)
			v = int64(a)
		case "contact_id", "owner_id":
			v, err = newUUID(field, ch)
		}
		if err != nil {
			return fmt.Errorf("deal.updated %s: %w", e.StreamID, err)
		}
		u.set(col, v)
	}
	return u.set("updated_at", e.OccurredAt).exec(ctx, tx, e)
}
