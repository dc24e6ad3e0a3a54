// Package projections turns the event log into read models.
//
// Each projector is one Watermill consumer group (one cqrs
// EventGroupProcessor group, one subscriber, one checkpoint row) reading
// the events table itself through a custom watermill-sql SchemaAdapter, in
// (transaction_id, position) order below the snapshot xmin, so an event
// whose transaction commits late is never skipped. Read-model writes go
// through the subscriber's transaction, so the update and the checkpoint
// commit together; each message runs under a savepoint, so a failing
// handler leaves the shared transaction usable.
//
// Projector names are API: they are the consumer-group names of the
// checkpoints. Renaming one re-projects every event into it.
package projections

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
)

// Projector is a named group of event handlers that maintain one read
// model.
type Projector struct {
	// Name is the consumer group and checkpoint key (API: never rename).
	Name string
	// Handlers react to the event types the read model cares about; the
	// others are acknowledged and skipped.
	Handlers []cqrs.GroupEventHandler
}

// Handler is the shape of one projector handler: it receives the read
// model's transaction (shared with the checkpoint), the envelope and the
// typed payload.
type Handler[T events.Payload] func(ctx context.Context, tx pgx.Tx, e events.Event, data T) error

// On adapts a typed Handler to a cqrs group handler. T is the payload value
// type (events.DealCreated, not a pointer).
func On[T events.Payload](h Handler[T]) cqrs.GroupEventHandler {
	return cqrs.NewGroupEventHandler(func(ctx context.Context, data *T) error {
		msg := cqrs.OriginalMessageFromCtx(ctx)
		if msg == nil {
			return fmt.Errorf("projections: no message in context")
		}
		tx, err := pgxTx(ctx)
		if err != nil {
			return err
		}
		env, err := envelope(msg.UUID, msg.Metadata)
		if err != nil {
			return err
		}
		env.Data = *data
		return h(ctx, tx, env, *data)
	})
}

// pgxTx digs the pgx transaction out of the watermill-sql subscriber's
// context.
func pgxTx(ctx context.Context) (pgx.Tx, error) {
	wtx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return nil, fmt.Errorf("projections: no subscriber transaction in context")
	}
	switch t := wtx.(type) {
	case *wsql.PgxTx:
		return t.Tx, nil
	case wsql.PgxTx:
		return t.Tx, nil
	case *observedTx:
		return pgxFromWatermill(t.Tx)
	}
	return nil, fmt.Errorf("projections: subscriber transaction is %T, not pgx", wtx)
}

func pgxFromWatermill(wtx wsql.Tx) (pgx.Tx, error) {
	switch t := wtx.(type) {
	case *wsql.PgxTx:
		return t.Tx, nil
	case wsql.PgxTx:
		return t.Tx, nil
	}
	return nil, fmt.Errorf("projections: subscriber transaction is %T, not pgx", wtx)
}

// Message metadata keys set by the event-log schema adapter.
const (
	mdName          = "name"
	mdSchemaVersion = "schema_version"
	mdTenant        = "tenant_id"
	mdStreamType    = "stream_type"
	mdStreamID      = "stream_id"
	mdVersion       = "version"
	mdOccurredAt    = "occurred_at"
	mdRecordedAt    = "recorded_at"
	mdPosition      = "position"
	mdTransaction   = "transaction_id"
	mdMeta          = "event_metadata"
)

// envelope rebuilds an events.Event (without Data) from message metadata.
func envelope(id string, md map[string]string) (events.Event, error) {
	var e events.Event
	var err error
	if e.ID, err = uuid.Parse(id); err != nil {
		return e, fmt.Errorf("projections: event id: %w", err)
	}
	if e.TenantID, err = uuid.Parse(md[mdTenant]); err != nil {
		return e, fmt.Errorf("projections: tenant: %w", err)
	}
	if e.StreamID, err = uuid.Parse(md[mdStreamID]); err != nil {
		return e, fmt.Errorf("projections: stream: %w", err)
	}
	e.StreamType = md[mdStreamType]
	e.Type = md[mdName]
	if e.Version, err = strconv.Atoi(md[mdVersion]); err != nil {
		return e, fmt.Errorf("projections: version: %w", err)
	}
	if e.SchemaVersion, err = strconv.Atoi(md[mdSchemaVersion]); err != nil {
		return e, fmt.Errorf("projections: schema version: %w", err)
	}
	if e.Position, err = strconv.ParseInt(md[mdPosition], 10, 64); err != nil {
		return e, fmt.Errorf("projections: position: %w", err)
	}
	if e.TransactionID, err = strconv.ParseUint(md[mdTransaction], 10, 64); err != nil {
		return e, fmt.Errorf("projections: transaction: %w", err)
	}
	if e.OccurredAt, err = time.Parse(time.RFC3339Nano, md[mdOccurredAt]); err != nil {
		return e, fmt.Errorf("projections: occurred_at: %w", err)
	}
	if e.RecordedAt, err = time.Parse(time.RFC3339Nano, md[mdRecordedAt]); err != nil {
		return e, fmt.Errorf("projections: recorded_at: %w", err)
	}
	if m := md[mdMeta]; m != "" {
		if err := jsonUnmarshal([]byte(m), &e.Metadata); err != nil {
			return e, fmt.Errorf("projections: metadata: %w", err)
		}
	}
	return e, nil
}

// EveryHandler sees every event whatever its type (for read models such as
// the timeline or the stream statistics).
type EveryHandler func(ctx context.Context, tx pgx.Tx, e events.Event) error

// OnEvery returns one group handler per type registered in reg, each
// calling h.
func OnEvery(reg *events.Registry, h EveryHandler) []cqrs.GroupEventHandler {
	var hs []cqrs.GroupEventHandler
	for _, name := range reg.Names() {
		hs = append(hs, everyHandler{reg: reg, name: name, h: h})
	}
	return hs
}

type everyHandler struct {
	reg  *events.Registry
	name string
	h    EveryHandler
}

func (e everyHandler) NewEvent() any {
	v, _ := e.reg.New(e.name)
	return v
}

func (e everyHandler) Handle(ctx context.Context, event any) error {
	msg := cqrs.OriginalMessageFromCtx(ctx)
	if msg == nil {
		return fmt.Errorf("projections: no message in context")
	}
	tx, err := pgxTx(ctx)
	if err != nil {
		return err
	}
	env, err := envelope(msg.UUID, msg.Metadata)
	if err != nil {
		return err
	}
	p, ok := reflect.ValueOf(event).Elem().Interface().(events.Payload)
	if !ok {
		return fmt.Errorf("projections: %T is not an event payload", event)
	}
	env.Data = p
	return e.h(ctx, tx, env)
}
