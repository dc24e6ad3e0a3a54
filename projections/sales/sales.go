// Package sales holds the projectors of the sales domain: they turn the
// contact, deal and task streams into the read models that readapi/pgread
// queries (tables of migrations/00004_sales_read_models.sql).
//
//   - "contacts": one row per contact.
//   - "deals": one row per deal, with the furthest stage it ever reached.
//   - "tasks": one row per task; tasks of a deleted deal are flagged
//     (deal_deleted) and leave the lists.
//   - "activities": the deal timeline, one row per event of a deal's
//     stream and of its tasks' streams, plus comments.
//
// Each read model is a pure reducer (applyContact, applyDeal, applyTask,
// activitiesOf) folded over batches by the engine in package projections,
// live and on rebuilds alike. Reducers are idempotent: an event at or
// below a row's version changes nothing, and timeline entries are keyed
// by event id, so a redelivered or replayed event changes nothing.
// Deletion leaves a tombstone row (deleted = true) rather than removing
// it, so a replay can never resurrect a deleted entity. The *_counts
// tables are derived in the same batch from each row's contribution
// before and after it.
//
// Projector names are API: they are the consumer groups of the
// checkpoints and the names read-your-writes waits on. Renaming one
// re-projects every event into it.
package sales

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/projections"
)

// Projector names (API: never rename).
const (
	NameContacts   = "contacts"
	NameDeals      = "deals"
	NameTasks      = "tasks"
	NameActivities = "activities"
)

// Projectors returns the four sales projectors, in the order above.
func Projectors() []projections.Projector {
	return []projections.Projector{ContactsProjector(), DealsProjector(), TasksProjector(), ActivitiesProjector()}
}

// key is the read-model key of the stream an event belongs to.
func key(e events.Event) projections.Key { return projections.Key{Org: e.TenantID, ID: e.StreamID} }

// fresh reports whether e is newer than a row at version v (the version
// guard every reducer starts with).
func fresh(v int, e events.Event) bool { return e.Version > v }

// The helpers below read the new value of a field of a Change (an
// "updated" event's {field: {old, new}}), as decoded from JSON.

func newString(field string, ch events.Change) (string, error) {
	s, ok := ch.New.(string)
	if !ok {
		return "", fmt.Errorf("change of %s: new value %v (%T) is not a string", field, ch.New, ch.New)
	}
	return s, nil
}

// newNullable reads a nullable text field: null clears it.
func newNullable(field string, ch events.Change) (*string, error) {
	if ch.New == nil {
		return nil, nil
	}
	s, err := newString(field, ch)
	return &s, err
}

func newUUID(field string, ch events.Change) (uuid.UUID, error) {
	switch v := ch.New.(type) {
	case uuid.UUID:
		return v, nil
	case string:
		id, err := uuid.Parse(v)
		if err != nil {
			return uuid.Nil, fmt.Errorf("change of %s: %w", field, err)
		}
		return id, nil
	}
	return uuid.Nil, fmt.Errorf("change of %s: new value %v (%T) is not a UUID", field, ch.New, ch.New)
}

func newDate(field string, ch events.Change) (time.Time, error) {
	s, err := newString(field, ch)
	if err != nil {
		return time.Time{}, err
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("change of %s: %w", field, err)
	}
	return d, nil
}

// amountOf reads an amount as deal.updated records it: a decimal string
// ("10.00", as in the API). A crm.Amount is accepted too (events that did
// not go through JSON). Anything else, a JSON number in particular, is an
// error rather than a guess between units and cents.
func amountOf(v any) (crm.Amount, error) {
	switch a := v.(type) {
	case crm.Amount:
		return a, nil
	case string:
		amt, err := crm.ParseAmountString(a)
		if err != nil {
			return 0, fmt.Errorf("amount %q: %w", a, err)
		}
		return amt, nil
	}
	return 0, fmt.Errorf("amount %v (%T) is not a decimal string", v, v)
}

// The deal statuses and stages the projectors need to know about (the
// vocabulary is the aggregates', which projections may not import).
const (
	statusWon  = "won"
	statusLost = "lost"
)

// stageRank orders the pipeline; an unknown stage ranks 0 and never
// becomes the furthest.
var stageRank = map[string]int{"qualification": 1, "proposal": 2, "negotiation": 3, "closed": 4}

// furthest returns the later of two stages.
func furthest(cur, next string) string {
	if stageRank[next] > stageRank[cur] {
		return next
	}
	return cur
}
