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
// Every handler writes through the subscriber's transaction (so the row
// and the checkpoint commit together) and is idempotent: updates are
// guarded by the stream version (WHERE version < $new), inserts do nothing
// on conflict, so a redelivered or replayed event changes nothing.
// Deletion leaves a tombstone row (deleted = true) rather than removing
// it, so a replay can never resurrect a deleted entity.
//
// Projector names are API: they are the consumer groups of the
// checkpoints and the names read-your-writes waits on. Renaming one
// re-projects every event into it.
package sales

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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

// update builds one version-guarded UPDATE of a read-model row: only the
// columns set change, version becomes the event's, and nothing happens if
// the row already is at that version or past it (or does not exist).
type update struct {
	table string
	sets  []string
	args  []any
}

func newUpdate(table string) *update { return &update{table: table} }

// set assigns v to col (a column name from this package, never input).
func (u *update) set(col string, v any) *update {
	u.args = append(u.args, v)
	u.sets = append(u.sets, col+" = $"+strconv.Itoa(len(u.args)))
	return u
}

// exec runs the update for the entity e is about (its stream).
func (u *update) exec(ctx context.Context, tx pgx.Tx, e events.Event) error {
	n := len(u.args)
	sets := append(u.sets, fmt.Sprintf("version = $%d", n+1))
	sql := fmt.Sprintf("UPDATE %s SET %s WHERE org_id = $%d AND id = $%d AND version < $%d",
		u.table, strings.Join(sets, ", "), n+2, n+3, n+1)
	args := append(u.args, e.Version, e.TenantID, e.StreamID)
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: update %s %s to v%d: %w", e.Type, u.table, e.StreamID, e.Version, err)
	}
	return nil
}

// touch bumps only the version: for events that change no field a client
// sees but do move the stream (and so the ETag).
func touch(table string) func(context.Context, pgx.Tx, events.Event) error {
	return func(ctx context.Context, tx pgx.Tx, e events.Event) error {
		return newUpdate(table).exec(ctx, tx, e)
	}
}

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

// stageOrder is the pipeline, as a PostgreSQL array literal for
// array_position (an unknown stage ranks NULL and never becomes the
// furthest).
const stageOrder = `ARRAY['qualification','proposal','negotiation','closed']`
