package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// UpdateTask changes a task's fields or completes/reopens it. Its deal's
// owner said whether the caller may: the deal's stream is guarded at the
// version read.
func (a *Application) UpdateTask(ctx context.Context, id uuid.UUID, p aggregates.TaskPatch, ifMatch IfMatch) (t aggregates.Task, res Result, err error) {
	defer a.observe("update_task", time.Now(), &err)
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		cur, deal, err := a.loadTask(ctx, tenant.OrgID, id)
		if err != nil {
			return err
		}
		decided, err := cur.Update(c, deal, p, a.today())
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.Version); err != nil {
			return err
		}
		version := cur.Version
		s := stream(tenant.OrgID, events.StreamTask, id)
		pending := aggregates.Record(cur, s, version, a.now(), decided...)
		t, res = *cur, Result{}
		if len(pending) == 0 {
			res, err = a.unchanged(ctx, tenant.OrgID, id, version)
			return err
		}
		res, err = a.append(ctx, tenant.OrgID, write{result: t, guards: dealGuard(tenant.OrgID, deal),
			streams: []events.Append{{Stream: s, Expected: version, Events: pending}}})
		if err == nil {
			remember(a, tenant.OrgID, id, cur.Version, cur)
		}
		return err
	})
	return t, res, err
}
