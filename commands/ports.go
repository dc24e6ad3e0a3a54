package commands

import (
	"context"

	"github.com/google/uuid"
)

// Directory answers the one question about organizations that no single
// stream can: is this user a member right now? It reads the memberships
// table that is written in the same transaction as the organization's
// events, so it is never stale.
type Directory interface {
	IsMember(ctx context.Context, orgID, userID uuid.UUID) (bool, error)
}
