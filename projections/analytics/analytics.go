// Package analytics holds the "analytics" projector: it keeps the deal
// analytics of every organization pre-aggregated (migrations/00005), so
// that GET /analytics/deals/summary and /funnel read a few dozen rows
// whatever the number of deals (readapi/pgread answers them).
//
// The projector writes one row per deal in analytics_deals, with what
// analytics needs: status, stage, the furthest stage ever reached (the
// funnel's "reached" comes from the stage history, which only the event
// stream has), currency, amount, creation time and a deletion tombstone.
// A trigger on that table moves each deal's contribution between the
// aggregate rows (per status/stage/currency, per furthest stage, per hour
// of creation) in the same transaction, so the aggregates always equal
// what the rows say.
//
// Like every projector, it writes through the subscriber's transaction
// (rows and checkpoint commit together) and is idempotent: deal.created
// inserts nothing twice, every other write is guarded by the stream
// version (WHERE version < $new), and a guarded-out write fires no
// trigger. A replay of every event therefore changes nothing.
package analytics

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5"

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

// stageOrder is Stages as a PostgreSQL array literal for array_position
// (an unknown stage ranks NULL and never becomes the furthest).
const stageOrder = `ARRAY['qualification','proposal','negotiation','closed']`

// Projector returns the analytics projector. It handles the deal events
// that change what analytics count; comments and task links are skipped
// (they leave the row's version behind, which the version guard allows).
func Projector() projections.Projector {
	return projections.Projector{Name: Name, Handlers: []cqrs.GroupEventHandler{
		projections.On(dealCreated),
		projections.On(dealStageChanged),
		projections.On(dealStatusChanged),
		projections.On(dealUpdated),
		projections.On(dealDeleted),
	}}
}

func dealCreated(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealCreated) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO analytics_deals (org_id, deal_id, status, stage, furthest_stage, currency,
		                             amount_cents, created_at, version)
		VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)
		ON CONFLICT (org_id, deal_id) DO NOTHING`,
		e.TenantID, e.StreamID, d.Status, d.Stage, d.Currency, int64(d.Amount), e.OccurredAt, e.Version)
	if err != nil {
		return fmt.Errorf("analytics: deal.created %s: %w", e.StreamID, err)
	}
	return nil
}

// dealStageChanged moves the stage, and the furthest stage when the new
// one lies beyond it (a rollback leaves it; a skip reaches every stage it
// jumps over, which "reached" counts by summing later stages).
func dealStageChanged(ctx context.Context, tx pgx.Tx, e events.Event, s events.DealStageChanged) error {
	return exec(ctx, tx, e, `
		UPDATE analytics_deals SET stage = $4::text, version = $3,
		       furthest_stage = CASE
		           WHEN array_position(`+stageOrder+`, $4::text) > array_position(`+stageOrder+`, furthest_stage)
		           THEN $4::text ELSE furthest_stage END
		WHERE org_id = $1 AND deal_id = $2 AND version < $3`, s.New)
}

func dealStatusChanged(ctx context.Context, tx pgx.Tx, e events.Event, s events.DealStatusChanged) error {
	return exec(ctx, tx, e, `
		UPDATE analytics_deals SET status = $4, version = $3
		WHERE org_id = $1 AND deal_id = $2 AND version < $3`, s.New)
}

// dealUpdated applies amount and currency changes; the other fields
// (title, contact, owner) do not matter to analytics, and an update of
// only those writes nothing.
func dealUpdated(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealUpdated) error {
	var amount *int64
	var currency *string
	if ch, ok := d.Changes["amount"]; ok {
		a, err := amountOf(ch.New)
		if err != nil {
			return fmt.Errorf("analytics: deal.updated %s: %w", e.StreamID, err)
		}
		cents := int64(a)
		amount = &cents
	}
	if ch, ok := d.Changes["currency"]; ok {
		c, isString := ch.New.(string)
		if !isString {
			return fmt.Errorf("analytics: deal.updated %s: currency %v (%T) is not a string", e.StreamID, ch.New, ch.New)
		}
		currency = &c
	}
	if amount == nil && currency == nil {
		return nil
	}
	return exec(ctx, tx, e, `
		UPDATE analytics_deals SET amount_cents = coalesce($4, amount_cents),
		       currency = coalesce($5, currency), version = $3
		WHERE org_id = $1 AND deal_id = $2 AND version < $3`, amount, currency)
}

func dealDeleted(ctx context.Context, tx pgx.Tx, e events.Event, _ events.DealDeleted) error {
	return exec(ctx, tx, e, `
		UPDATE analytics_deals SET deleted = true, version = $3
		WHERE org_id = $1 AND deal_id = $2 AND version < $3`)
}

// exec runs a version-guarded statement whose first three parameters are
// the event's tenant, stream and version, followed by args.
func exec(ctx context.Context, tx pgx.Tx, e events.Event, sql string, args ...any) error {
	if _, err := tx.Exec(ctx, sql, append([]any{e.TenantID, e.StreamID, e.Version}, args...)...); err != nil {
		return fmt.Errorf("analytics: %s %s v%d: %w", e.Type, e.StreamID, e.Version, err)
	}
	return nil
}

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
