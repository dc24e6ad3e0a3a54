// Package events defines what the system remembers: the envelope every
// stored event travels in, its metadata, and the registry that names each
// event type with a stable string and upcasts old payload versions.
//
// Event names are API ("deal.stage_changed"): they are stored forever and
// read by projectors, so they are never derived from Go type names and
// never renamed. A payload that must change gets a new schema version and
// an upcaster from the old one; stored events are never rewritten.
package events

import (
	"time"

	"github.com/google/uuid"
)

// Payload is the body of one domain event. EventType returns its stable
// registered name.
type Payload interface {
	EventType() string
}

// Metadata travels with every event. Go context values do not cross the
// event store, so everything a projector or an auditor needs to know
// about who did what, and why, is here.
type Metadata struct {
	TenantID       uuid.UUID  `json:"tenant_id"`
	ActorID        *uuid.UUID `json:"actor_id,omitempty"`
	Role           string     `json:"role,omitempty"`
	RequestID      string     `json:"request_id,omitempty"`
	CorrelationID  string     `json:"correlation_id,omitempty"`
	CausationID    string     `json:"causation_id,omitempty"`
	IdempotencyKey string     `json:"idempotency_key,omitempty"`
}

// Event is one stored event with its position in its stream and in the
// global log.
type Event struct {
	ID            uuid.UUID
	TenantID      uuid.UUID
	StreamType    string
	StreamID      uuid.UUID
	Version       int
	Type          string
	SchemaVersion int
	Data          Payload
	Metadata      Metadata
	OccurredAt    time.Time
	RecordedAt    time.Time

	// Position is the global, gap-tolerant sequence number assigned at
	// insert. It is not the read order: projectors read by
	// (TransactionID, Position).
	Position      int64
	TransactionID uint64
}

// Stream identifies one event stream (one aggregate instance).
type Stream struct {
	TenantID uuid.UUID
	Type     string
	ID       uuid.UUID
}

// Pending is an event decided by an aggregate and not yet stored.
type Pending struct {
	Data       Payload
	OccurredAt time.Time
}
