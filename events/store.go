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
