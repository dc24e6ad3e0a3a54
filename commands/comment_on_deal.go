package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// Comment is a comment as the timeline shows it.
type Comment struct {
	ID        uuid.UUID
	DealID    uuid.UUID
	AuthorID  uuid.UUID
	Text      string
	CreatedAt time.Time
}

// CommentOnDeal adds a comment to a deal's timeline (any member may).
func (a *Application) CommentOnDeal(ctx context.Context, dealID uuid.UUID, text string) (cm Comment, res Result, err error) {
	defer a.observe("comment_on_deal", time.Now(), &err)
	id := a.newID()
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		cur, err := a.loadDeal(ctx, tenant.OrgID, dealID)
		if err != nil {
			return err
		}
		decided, err := cur.Comment(c, id, text)
		if err != nil {
			return err
		}
		now := a.now()
		cm = Comment{ID: id, DealID: dealID, AuthorID: c.UserID, Text: text, CreatedAt: now}
		version := cur.Version
		s := stream(tenant.OrgID, events.StreamDeal, dealID)
		pending := aggregates.Record(cur, s, version, now, decided...)
		res, err = a.append(ctx, tenant.OrgID, write{result: cm,
			streams: []events.Append{{Stream: s, Expected: version, Events: pending}}})
		if err == nil {
			remember(a, tenant.OrgID, dealID, cur.Version, cur)
		}
		return err
	})
	return cm, res, err
}
