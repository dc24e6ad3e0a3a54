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
