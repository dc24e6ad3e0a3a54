// Package testevents holds an event type that exists only for tests of the
// event store and the projector pipeline, so those tests do not depend on
// any domain.
package testevents

import (
	"time"

	"github.com/google/uuid"

	"example.com/crm/events"
)

// Noted is a test event carrying a sequence number.
type Noted struct {
	Seq int `json:"seq"`
}

// EventType implements events.Payload.
func (Noted) EventType() string { return "test.noted" }

// Registry returns a registry holding Noted.
func Registry() *events.Registry {
	r := events.NewRegistry()
	r.Register(Noted{}, 1)
	return r
}

// Stream returns a new stream of tenant.
func Stream(tenant uuid.UUID) events.Stream {
	return events.Stream{TenantID: tenant, Type: "test", ID: uuid.Must(uuid.NewV7())}
}

// Notes returns n pending Noted events numbered from first.
func Notes(first, n int) []events.Pending {
	out := make([]events.Pending, n)
	for i := range out {
		out[i] = events.Pending{Data: Noted{Seq: first + i}, OccurredAt: time.Now()}
	}
	return out
}
