package events

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ErrConflict is matched (errors.Is) by every optimistic-concurrency
// failure: another writer appended to a stream after the caller read it.
var ErrConflict = errors.New("events: stream version conflict")

// ErrIdempotencyKeyUsed is returned by Append when another request with
// the same user and Idempotency-Key committed first (within 24 h).
// Nothing of this append was written; the caller replays the stored
// response.
var ErrIdempotencyKeyUsed = errors.New("events: idempotency key already used")

// ConflictError says which stream moved on. It wraps ErrConflict.
type ConflictError struct {
	StreamID uuid.UUID
	Expected int
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("events: stream %s is no longer at version %d", e.StreamID, e.Expected)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// ErrNotAMember is returned by Append when the batch's Authorization
// fails: the caller is not (or no longer) a member of the organization,
// or the organization does not exist or was deleted. Nothing was written.
var ErrNotAMember = errors.New("events: the caller is not a member of the organization")

// ErrNotMembers is returned by Append when a user the batch's
// Authorization lists in Members is not a member. Nothing was written.
var ErrNotMembers = errors.New("events: a user assigned by the decision is not a member")

// RoleChangedError is returned by Append when the caller is a member but
// with another role than the decision assumed: the caller decides again
// with Role. Nothing was written.
type RoleChangedError struct {
	Role string
}

func (e *RoleChangedError) Error() string {
	return fmt.Sprintf("events: the caller's role is now %s", e.Role)
}
