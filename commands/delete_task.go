package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// DeleteTask removes a task. Its deal's owner said whether the caller may:
// the deal's stream is guarded at the version read.
func (a *Application) DeleteTask(ctx context.Context, id uuid.UUID, ifMatch IfMatch) (res Result, err error) {
	defer a.observe("delete_task", time.Now(), &err)
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
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
		pending := aggregates.Record(cur, s, version, a.now(), decided...)
		res, err = a.append(ctx, tenant.OrgID, write{guards: dealGuard(tenant.OrgID, deal),
			streams: []events.Append{{Stream: s, Expected: version, Events: pending}}})
		return err
	})
	return res, err
}
