package sales

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
	"example.com/crm/projections"
	"example.com/crm/readapi"
)

// ActivitiesProjector maintains the deal timeline (the activities table):
// every event of a deal's stream and of its tasks' streams becomes one
// entry, with the event's id, its actor as author and its occurred_at as
// created_at; a comment's entry takes the comment id. Types and payloads
// are readapi's Activity* constants.
//
// Not on the timeline: deal.task_added (task_created says it),
// contact.deal_linked/unlinked (the contact's bookkeeping), and
// deal.deleted: a deleted deal's timeline answers 404, so the entry could
// never be read, and GET /deals/{id}/history is the audit trail of a
// deletion.
func ActivitiesProjector() projections.Projector {
	return projections.Projector{Name: NameActivities, Handlers: []cqrs.GroupEventHandler{
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealCreated) error {
			return addActivity(ctx, tx, e, e.ID, e.StreamID, readapi.ActivityDealCreated, map[string]any{
				"title": d.Title, "amount": d.Amount.String(), "currency": d.Currency,
				"status": d.Status, "stage": d.Stage, "contact_id": d.ContactID, "owner_id": d.OwnerID,
			})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealStageChanged) error {
			return addActivity(ctx, tx, e, e.ID, e.StreamID, readapi.ActivityStageChanged,
				events.Change{Old: d.Old, New: d.New})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealStatusChanged) error {
			return addActivity(ctx, tx, e, e.ID, e.StreamID, readapi.ActivityStatusChanged,
				events.Change{Old: d.Old, New: d.New})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealUpdated) error {
			changes, err := dealChanges(d.Changes)
			if err != nil {
				return fmt.Errorf("deal.updated %s: %w", e.StreamID, err)
			}
			return addActivity(ctx, tx, e, e.ID, e.StreamID, readapi.ActivityDealUpdated,
				map[string]any{"changes": changes})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, d events.DealCommented) error {
			return addActivity(ctx, tx, e, d.CommentID, e.StreamID, readapi.ActivityComment,
				map[string]any{"text": d.Text})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, t events.TaskCreated) error {
			return addActivity(ctx, tx, e, e.ID, t.DealID, readapi.ActivityTaskCreated,
				map[string]any{"task_id": e.StreamID, "title": t.Title, "due_date": t.DueDate})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, t events.TaskUpdated) error {
			changes := t.Changes
			if changes == nil {
				changes = map[string]events.Change{}
			}
			return addActivity(ctx, tx, e, e.ID, t.DealID, readapi.ActivityTaskUpdated,
				map[string]any{"task_id": e.StreamID, "changes": changes})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, t events.TaskCompleted) error {
			return addActivity(ctx, tx, e, e.ID, t.DealID, readapi.ActivityTaskCompleted,
				map[string]any{"task_id": e.StreamID, "title": t.Title})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, t events.TaskReopened) error {
			return addActivity(ctx, tx, e, e.ID, t.DealID, readapi.ActivityTaskReopened,
				map[string]any{"task_id": e.StreamID, "title": t.Title})
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, t events.TaskDeleted) error {
			return addActivity(ctx, tx, e, e.ID, t.DealID, readapi.ActivityTaskDeleted,
				map[string]any{"task_id": e.StreamID, "title": t.Title})
		}),
	}}
}

// addActivity inserts one timeline entry; an entry already there (a
// redelivery, a replay) is left as it is.
func addActivity(ctx context.Context, tx pgx.Tx, e events.Event, id, dealID uuid.UUID, typ string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("%s %s: payload: %w", e.Type, e.StreamID, err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO activities (org_id, id, deal_id, author_id, type, payload, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (org_id, id) DO NOTHING`,
		e.TenantID, id, dealID, e.Metadata.ActorID, typ, body, e.OccurredAt)
	if err != nil {
		return fmt.Errorf("%s %s: activity: %w", e.Type, e.StreamID, err)
	}
	return nil
}

// dealChanges copies a deal.updated change set for the timeline, with
// amounts in the API's format: decimal strings with two fraction digits.
func dealChanges(in map[string]events.Change) (map[string]events.Change, error) {
	out := make(map[string]events.Change, len(in))
	for field, ch := range in {
		if field == "amount" {
			old, err := amountOf(ch.Old)
			if err != nil {
				return nil, fmt.Errorf("old amount: %w", err)
			}
			next, err := amountOf(ch.New)
			if err != nil {
				return nil, fmt.Errorf("new amount: %w", err)
			}
			ch = events.Change{Old: old.String(), New: next.String()}
		}
		out[field] = ch
	}
	return out, nil
}
