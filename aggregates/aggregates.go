// Package aggregates decides. Each aggregate is a plain struct rebuilt
// from its stream's events (Apply) with methods that check the rules and
// return the events a command should append, or a *crm.Error.
//
// Aggregates are pure: no database, no HTTP, no clock (the time of a
// decision is passed in), no randomness (ids are passed in). That keeps
// every rule testable as given-events / when-command / then-events.
package aggregates

import (
	"maps"
	"time"

	"example.com/crm/events"
)

// State is an aggregate that can be rebuilt from its events.
type State interface {
	Apply(e events.Event)
}

// Replay applies evs to s in order.
func Replay(s State, evs []events.Event) {
	for _, e := range evs {
		s.Apply(e)
	}
}

// Record applies freshly decided payloads to s as if they had been stored
// in stream at versions after `version`, at time now, and returns them as
// pending events. Commands use it to answer with the state the append
// produces.
func Record(s State, stream events.Stream, version int, now time.Time, decided ...events.Payload) []events.Pending {
	out := make([]events.Pending, len(decided))
	for i, p := range decided {
		out[i] = events.Pending{Data: p, OccurredAt: now}
		s.Apply(events.Event{
			TenantID: stream.TenantID, StreamType: stream.Type, StreamID: stream.ID,
			Version: version + i + 1, Type: p.EventType(), Data: p, OccurredAt: now,
		})
	}
	return out
}

// Every aggregate can be cloned: the command side caches states by stream
// version and hands each command its own copy to decide and Record on.

// Clone returns a copy of ct that shares nothing mutable with it.
func (ct *Contact) Clone() *Contact {
	c := *ct
	c.Deals = maps.Clone(ct.Deals)
	return &c
}

// Clone returns a copy of d (its pointers are replaced, never mutated).
func (d *Deal) Clone() *Deal { c := *d; return &c }

// Clone returns a copy of t (its pointers are replaced, never mutated).
func (t *Task) Clone() *Task { c := *t; return &c }

// Clone returns a copy of o that shares nothing mutable with it.
func (o *Organization) Clone() *Organization {
	c := *o
	c.Members, c.JoinedAt = maps.Clone(o.Members), maps.Clone(o.JoinedAt)
	return &c
}

// Clone returns a copy of u.
func (u *User) Clone() *User { c := *u; return &c }
