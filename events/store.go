package events

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store is the event store as the write side sees it. Its implementation
// (events/pgstore) owns transactions; callers decide on loaded state and
// hand back a Batch with the versions they decided against.
type Store interface {
	Load(ctx context.Context, tenantID, streamID uuid.UUID, o LoadOptions) ([]Event, error)
	Append(ctx context.Context, b Batch) (Result, error)
}

// LoadOptions bound a stream read. Zero values mean "up to now".
type LoadOptions struct {
	// UpToVersion, when > 0, stops after that version.
	UpToVersion int
	// AfterVersion, when > 0, starts after that version: the caller holds
	// the state up to it (a cached aggregate) and needs only what follows.
	AfterVersion int
	// AsOf, when set, stops at the last event that occurred at or before it.
	AsOf time.Time
}

// Append is the events one stream gains in a batch. Expected is the
// version the caller decided against: 0 for a new stream.
type Append struct {
	Stream   Stream
	Expected int
	Events   []Pending
}

// Batch is one atomic append: every stream's events or none. Streams
// usually share the tenant of Metadata, but need not (registration writes
// a user's stream and a new organization's stream together); each stream
// carries its own tenant, and a stream without one is refused.
type Batch struct {
	Metadata Metadata
	Streams  []Append
	// Idempotency, when set, is recorded in the same transaction as the
	// events, so a replayed request can never append twice.
	Idempotency *IdempotencyRecord
	// Authorization, when set, is checked inside the append: the
	// decision is stored only if it still holds when the events commit.
	Authorization *Authorization
	// Guards are streams the decision read without appending to them
	// (a task's deal, whose owner says who may change the task): the
	// append fails with a *ConflictError if one of them moved on.
	Guards []Guard
}

// Authorization is what a decision assumed about its caller, re-checked
// by the store in the append itself: the caller is a member of a live
// organization with exactly Role, and every user of Members is a member.
// The rows it reads are locked until the append commits, so a removal,
// demotion or deletion either commits first (and the append fails with
// ErrNotAMember, a *RoleChangedError or ErrNotMembers) or waits for it.
type Authorization struct {
	OrgID, UserID uuid.UUID
	Role          string
	// Members must be members of OrgID when the append commits (the
	// owner_id a decision assigned).
	Members []uuid.UUID
}

// Guard is a stream read at Version and not written by the batch.
type Guard struct {
	Stream  Stream
	Version int
}

// IdempotencyRecord is the first response to a request made with an
// Idempotency-Key, kept for 24 h and replayed for the same key and body.
// Position is filled in by the store: the last position of the append.
type IdempotencyRecord struct {
	UserID      uuid.UUID
	Key         string
	RequestHash string
	Status      int
	Headers     map[string]string
	Body        []byte
	Position    int64
}

// Result is what an append stored.
type Result struct {
	Events        []Event
	LastPosition  int64
	TransactionID uint64
}
