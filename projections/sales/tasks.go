package sales

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
	"example.com/crm/projections"
)

// TasksProjector maintains the tasks table. Every task event moves
// updated_at. It also listens to deal.deleted: the deal's tasks are
// flagged deal_deleted and leave the task lists with their deal (they stay
// readable by id, as the write side keeps them).
func TasksProjector() projections.Projector {
	return projections.Projector{Name: NameTasks, Handlers: []cqrs.GroupEventHandler{
		projections.On(taskCreated),
		projections.On(taskUpdated),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.TaskCompleted) error {
			return newUpdate("tasks").set("is_done", true).set("completed_at", e.OccurredAt).
				set("updated_at", e.OccurredAt).exec(ctx, tx, e)
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.TaskReopened) error {
			return newUpdate("tasks").set("is_done", false).set("completed_at", nil).
				set("updated_at", e.OccurredAt).exec(ctx, tx, e)
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.TaskDeleted) error {
			return newUpdate("tasks").set("deleted", true).set("updated_at", e.OccurredAt).exec(ctx, tx, e)
		}),
		projections.On(dealDeletedHidesTasks),
	}}
}

func taskCreated(ctx context.Context, tx pgx.Tx, e events.Event, t events.TaskCreated) error {
	due, err := time.Parse(time.DateOnly, t.DueDate)
	if err != nil {
		return fmt.Errorf("task.created %s: due_date: %w", e.StreamID, err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO tasks (org_id, id, deal_id, title, description, due_date, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (org_id, id) DO NOTHING`,
		e.TenantID, e.StreamID, t.DealID, t.Title, t.Description, due, e.Version, e.OccurredAt)
	if err != nil {
		return fmt.Errorf("task.created %s: %w", e.StreamID, err)
	}
	return nil
}

// taskUpdated applies the changed fields among title, description (null
// clears it) and due_date; others are ignored.
func taskUpdated(ctx context.Context, tx pgx.Tx, e events.Event, t events.TaskUpdated) error {
	u := newUpdate("tasks")
	for _, field := range []string{"title", "description", "due_date"} {
		ch, ok := t.Changes[field]
		if !ok {
			continue
		}
		var v any
		var err error
		switch field {
		case "title":
			v, err = newString(field, ch)
		case "description":
			v, err = newNullable(field, ch)
		case "due_date":
			v, err = newDate(field, ch)
		}
		if err != nil {
			return fmt.Errorf("task.updated %s: %w", e.StreamID, err)
		}
		u.set(field, v)
	}
	return u.set("updated_at", e.OccurredAt).exec(ctx, tx, e)
}

// dealDeletedHidesTasks flags the live tasks of a deleted deal. It is
// idempotent by nature (it only ever sets the flag), and complete: a task
// cannot be created on a deleted deal (deal.task_added guards it), so
// every task of the deal was projected before its deal.deleted.
func dealDeletedHidesTasks(ctx context.Context, tx pgx.Tx, e events.Event, _ events.DealDeleted) error {
	_, err := tx.Exec(ctx, `
		UPDATE tasks SET deal_deleted = true
		WHERE org_id = $1 AND deal_id = $2 AND NOT deleted AND NOT deal_deleted`,
		e.TenantID, e.StreamID)
	if err != nil {
		return fmt.Errorf("deal.deleted %s: hide its tasks: %w", e.StreamID, err)
	}
	return nil
}
