package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// CreateTask adds a task to a deal. The deal's stream gains a task_added
// event in the same append, so a task cannot be created on a deal that is
// being deleted at the same moment.
func (a *Application) CreateTask(ctx context.Context, dealID uuid.UUID, in aggregates.TaskInput) (t aggregates.Task, res Result, err error) {
	defer a.observe("create_task", time.Now(), &err)
	id := a.newID()
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		deal, err := a.loadDeal(ctx, tenant.OrgID, dealID)
		if err != nil {
			return err
		}
		decided, err := aggregates.CreateTask(c, deal, id, in, a.today())
		if err != nil {
			return err
		}
		added, err := deal.AddTask(c, id)
		if err != nil {
			return err
		}
		now := a.now()
		t = aggregates.Task{}
		ts := stream(tenant.OrgID, events.StreamTask, id)
		ds := stream(tenant.OrgID, events.StreamDeal, dealID)
		version := deal.Version
		task := events.Append{Stream: ts, Expected: 0, Events: aggregates.Record(&t, ts, 0, now, decided...)}
		link := events.Append{Stream: ds, Expected: version, Events: aggregates.Record(deal, ds, version, now, added...)}
		res, err = a.append(ctx, tenant.OrgID, write{result: t, streams: []events.Append{task, link}})
		if err == nil {
			remember(a, tenant.OrgID, dealID, deal.Version, deal)
			remember(a, tenant.OrgID, id, t.Version, (&t).Clone())
		}
		return err
	})
	return t, res, err
}
