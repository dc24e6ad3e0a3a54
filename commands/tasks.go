package commands

import (
	"context"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// loadTask rebuilds a task of org and the deal it belongs to. A task of a
// deleted deal is gone with it (NOT_FOUND, as for a deleted task); the
// deal's version guards the decision (dealGuard), so a deletion that
// commits first wins.
func (a *Application) loadTask(ctx context.Context, org, id uuid.UUID) (*aggregates.Task, *aggregates.Deal, error) {
	t, _, err := load[aggregates.Task](ctx, a, org, id)
	if err != nil {
		return nil, nil, err
	}
	if t.ID != id || t.Deleted {
		return nil, nil, crm.Errorf(crm.CodeNotFound, "task %s not found", id)
	}
	d, _, err := load[aggregates.Deal](ctx, a, org, t.DealID)
	if err != nil {
		return nil, nil, err
	}
	if d.Deleted {
		return nil, nil, crm.Errorf(crm.CodeNotFound, "task %s not found: its deal was deleted", id)
	}
	return t, d, nil
}

// dealGuard is the guard of a task decision on its deal: the deal's owner
// said who may change the task, so the deal must not have moved on
// (been handed to another owner) when the task's events commit.
func dealGuard(org uuid.UUID, deal *aggregates.Deal) []events.Guard {
	return []events.Guard{{Stream: stream(org, events.StreamDeal, deal.ID), Version: deal.Version}}
}
