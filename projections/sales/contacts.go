package sales

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
	"example.com/crm/projections"
)

// ContactsProjector maintains the contacts table. updated_at follows the
// contact's own fields; deal links and unlinks only move the version (the
// stream's, which is the contact's ETag).
func ContactsProjector() projections.Projector {
	return projections.Projector{Name: NameContacts, Handlers: []cqrs.GroupEventHandler{
		projections.On(contactCreated),
		projections.On(contactUpdated),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.ContactDeleted) error {
			return newUpdate("contacts").set("deleted", true).set("updated_at", e.OccurredAt).exec(ctx, tx, e)
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.ContactDealLinked) error {
			return touch("contacts")(ctx, tx, e)
		}),
		projections.On(func(ctx context.Context, tx pgx.Tx, e events.Event, _ events.ContactDealUnlinked) error {
			return touch("contacts")(ctx, tx, e)
		}),
	}}
}

func contactCreated(ctx context.Context, tx pgx.Tx, e events.Event, c events.ContactCreated) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO contacts (org_id, id, owner_id, name, email, phone, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (org_id, id) DO NOTHING`,
		e.TenantID, e.StreamID, c.OwnerID, c.Name, c.Email, c.Phone, e.Version, e.OccurredAt)
	if err != nil {
		return fmt.Errorf("contact.created %s: %w", e.StreamID, err)
	}
	return nil
}

func contactUpdated(ctx context.Context, tx pgx.Tx, e events.Event, c events.ContactUpdated) error {
	u := newUpdate("contacts")
	// A fixed field order keeps the SQL text (and its prepared statement)
	// the same for the same set of fields; unknown fields are ignored.
	for _, field := range []string{"name", "email", "phone", "owner_id"} {
		ch, ok := c.Changes[field]
		if !ok {
			continue
		}
		var v any
		var err error
		switch field {
		case "name":
			v, err = newString(field, ch)
		case "email", "phone":
			v, err = newNullable(field, ch)
		case "owner_id":
			v, err = newUUID(field, ch)
		}
		if err != nil {
			return fmt.Errorf("contact.updated %s: %w", e.StreamID, err)
		}
		u.set(field, v)
	}
	return u.set("updated_at", e.OccurredAt).exec(ctx, tx, e)
}
