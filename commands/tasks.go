package commands

import (
	"context"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
)

// loadTask rebuilds a task of org and the deal it belongs to (deleted or
// not: the deal's owner decides who may change the task).
func (a *Application) loadTask(ctx context.Context, org, id uuid.UUID) (*aggregates.Task, *aggregates.Deal, error) {
	t := &aggregates.Task{}
	if _, err := a.load(ctx, org, id, t); err != nil {
		return nil, nil, err
	}
	if t.ID != id || t.Deleted {
		return nil, nil, crm.Errorf(crm.CodeNotFound, "task %s not found", id)
	}
	d := &aggregates.Deal{}
	if _, err := a.load(ctx, org, t.DealID, d); err != nil {
		return nil, nil, err
	}
	return t, d, nil
}
