package sales

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"example.com/crm/events"
	"example.com/crm/projections"
)

// Contact is a row of the contacts table.
type Contact struct {
	OrgID     uuid.UUID `db:"org_id" json:"org_id"`
	ID        uuid.UUID `db:"id" json:"id"`
	OwnerID   uuid.UUID `db:"owner_id" json:"owner_id"`
	Name      string    `db:"name" json:"name"`
	Email     *string   `db:"email" json:"email"`
	Phone     *string   `db:"phone" json:"phone"`
	Version   int       `db:"version" json:"version"`
	Deleted   bool      `db:"deleted" json:"deleted"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
}

var (
	contacts = projections.NewTable("contacts", [2]string{"org_id", "id"},
		func(c *Contact) projections.Key { return projections.Key{Org: c.OrgID, ID: c.ID} })
	// contactCounts: live contacts per owner (list totals).
	contactCounts = projections.NewCounter("contact_counts", []string{"org_id", "owner_id"}, []string{"n"})
)

// applyContact is the contacts read model's reducer: c is the row before
// e (nil when there is none), the result the row after. updated_at
// follows the contact's own fields; deal links only move the version
// (the stream's, which is the contact's ETag).
func applyContact(c *Contact, e events.Event) (*Contact, error) {
	if d, ok := e.Data.(events.ContactCreated); ok {
		if c != nil {
			return c, nil
		}
		return &Contact{OrgID: e.TenantID, ID: e.StreamID, OwnerID: d.OwnerID, Name: d.Name, Email: d.Email,
			Phone: d.Phone, Version: e.Version, CreatedAt: e.OccurredAt, UpdatedAt: e.OccurredAt}, nil
	}
	if c == nil || !fresh(c.Version, e) {
		return c, nil
	}
	next := *c
	next.Version = e.Version
	switch d := e.Data.(type) {
	case events.ContactUpdated:
		for field, ch := range d.Changes {
			var err error
			switch field {
			case "name":
				next.Name, err = newString(field, ch)
			case "email":
				next.Email, err = newNullable(field, ch)
			case "phone":
				next.Phone, err = newNullable(field, ch)
			case "owner_id":
				next.OwnerID, err = newUUID(field, ch)
			}
			if err != nil {
				return nil, fmt.Errorf("contact.updated: %w", err)
			}
		}
		next.UpdatedAt = e.OccurredAt
	case events.ContactDeleted:
		next.Deleted, next.UpdatedAt = true, e.OccurredAt
	}
	return &next, nil
}

// ContactsProjector maintains the contacts table and contact_counts.
func ContactsProjector() projections.Projector {
	return projections.Projector{Name: NameContacts, Model: &projections.RowModel[Contact]{
		Table: contacts, StreamType: events.StreamContact, Reduce: applyContact, Reads: projections.Prefix("contact."),
		Counters: []projections.CounterSpec[Contact]{{
			Counter: contactCounts,
			Of:      func(c *Contact) ([]any, []int64, bool) { return []any{c.OrgID, c.OwnerID}, projections.One, !c.Deleted },
			Derive:  `SELECT org_id, owner_id, count(*) FROM %s WHERE NOT deleted GROUP BY org_id, owner_id`,
		}},
	}}
}
