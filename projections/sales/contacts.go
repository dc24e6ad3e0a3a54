package sales

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
	return projections.Projector{Name: NameContacts, Model: contactsModel{}}
}

type contactsModel struct{}

func (contactsModel) Tables() []projections.TableInfo {
	return []projections.TableInfo{contacts.Info(), contactCounts.Info()}
}

func (contactsModel) Wants(t string) bool { return len(t) > 8 && t[:8] == "contact." }

func (contactsModel) NewFold(names projections.Names) projections.Fold {
	return &contactsFold{names: names, rows: projections.NewRows(contacts)}
}

type contactsFold struct {
	names projections.Names
	rows  *projections.Rows[Contact]
}

func (f *contactsFold) Load(b *pgx.Batch, batch []events.Event) {
	f.rows.Load(b, f.names, streamKeys(batch, events.StreamContact))
}

func (f *contactsFold) Apply(e events.Event) error {
	if e.StreamType != events.StreamContact {
		return nil
	}
	cur := f.rows.Get(key(e))
	next, err := applyContact(cur, e)
	if err != nil || next == cur {
		return err
	}
	f.rows.Put(next)
	return nil
}

func (f *contactsFold) Flush(b *pgx.Batch) error {
	counts := contactCounts.Fresh()
	f.rows.Changed(func(before, after *Contact) {
		if before != nil && !before.Deleted {
			counts.Add([]any{before.OrgID, before.OwnerID}, -1)
		}
		if !after.Deleted {
			counts.Add([]any{after.OrgID, after.OwnerID}, 1)
		}
	})
	if err := f.rows.QueueUpsert(b, f.names); err != nil {
		return err
	}
	return counts.Queue(b, f.names)
}

func (f *contactsFold) Copy(ctx context.Context, conn *pgx.Conn) error {
	if err := f.rows.Copy(ctx, conn, f.names); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (org_id, owner_id, n)
		SELECT org_id, owner_id, count(*) FROM %s WHERE NOT deleted GROUP BY org_id, owner_id`,
		f.names("contact_counts"), f.names("contacts")))
	return err
}
