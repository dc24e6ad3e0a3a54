package commands

import (
	"context"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
)

// loadContact rebuilds a contact of org; an unknown id, a stream of
// another type or another organization is CONTACT_NOT_FOUND.
func (a *Application) loadContact(ctx context.Context, org, id uuid.UUID) (*aggregates.Contact, error) {
	ct, _, err := load[aggregates.Contact](ctx, a, org, id)
	if err != nil {
		return nil, err
	}
	if ct.ID != id || ct.Deleted {
		return nil, crm.Errorf(crm.CodeContactNotFound, "contact %s not found", id)
	}
	return ct, nil
}
