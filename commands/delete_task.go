package commands

import (
	"context"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// DeleteTask removes a task.
func (a *Application) DeleteTask(ctx context.Context, id uuid.UUID, ifMatch IfMatch) (res Result, err error) {
	c, tenant, err := caller(ctx)
	if err != nil {
		return res, err
	}
	err = a.retry(ctx, ifMatch, func(ctx context.Context) error {
		cur, deal, err := a.loadTask(ctx, tenant.OrgID, id)
		if err != nil {
			return err
		}
		decided, err := cur.Delete(c, deal)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.Version); err != nil {
			return err
		}
		version := cur.Version
		s := stream(tenant.OrgID, events.StreamTask, id)
		res, err = a.append(ctx, tenant.OrgID, nil, events.Append{Stream: s, Expected: version, Events: aggregates.Record(cur, s, version, a.now(), decided...)})
		return err
	})
	return res, err
}
