// Package pgstore is the PostgreSQL event store: an append-only events
// table written with pgx, one transaction per append, several streams per
// transaction, each guarded by its expected version.
//
// Inline projections (tables that must never be stale, such as e-mail
// uniqueness and memberships) run inside the append transaction, so they
// commit or roll back together with the events that justify them.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
)

// Inline is a projection that runs inside the append transaction. An error
// aborts the append (that is how set-wide rules such as unique e-mails are
// enforced).
type Inline interface {
	Apply(ctx context.Context, tx pgx.Tx, evs []events.Event) error
}

// InlineFunc adapts a function to Inline.
type InlineFunc func(ctx context.Context, tx pgx.Tx, evs []events.Event) error

// Apply calls f.
func (f InlineFunc) Apply(ctx context.Context, tx pgx.Tx, evs []events.Event) error {
	return f(ctx, tx, evs)
}

// Hooks are told about every append transaction that ends, so projectors
// can wake at once instead of polling. Committed carries the transaction
// id of the appended events; Ended is called for commits and rollbacks
// alike (a rollback can release the snapshot horizon other events wait
// behind).
//
// Stored is told what a committed append stored (for metrics).
type Hooks struct {
	Committed func(xid uint64)
	Ended     func()
	Stored    func(evs []events.Event)
}

// Store appends and loads events.
type Store struct {
	pool   *pgxpool.Pool
	reg    *events.Registry
	inline []Inline
	hooks  Hooks
}

// New returns a store over pool. Every event type appended or loaded must
// be in reg.
func New(pool *pgxpool.Pool, reg *events.Registry, hooks Hooks, inline ...Inline) *Store {
	return &Store{pool: pool, reg: reg, inline: inline, hooks: hooks}
}

// Registry returns the registry the store decodes with.
func (s *Store) Registry() *events.Registry { return s.reg }

// Batch is an events.Batch plus, for tests and inline writers, a function
// run inside the append transaction after the events and inline
// projections are written.
type Batch struct {
	events.Batch
	InTx func(ctx context.Context, tx pgx.Tx, stored []events.Event) error
}

const insertSQL = `
INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version,
                    event_type, schema_version, payload, metadata, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::int[],
                     $6::text[], $7::int[], $8::text[]::jsonb[], $9::text[]::jsonb[], $10::timestamptz[])
RETURNING event_id, position, transaction_id::text, recorded_at`

// Append writes b in one transaction. A stream that moved past its
// expected version fails the whole batch with an *events.ConflictError;
// nothing is written.
func (s *Store) Append(ctx context.Context, b events.Batch) (events.Result, error) {
	return s.AppendTx(ctx, Batch{Batch: b})
}

// AppendTx is Append with b.InTx run inside the transaction.
func (s *Store) AppendTx(ctx context.Context, b Batch) (res events.Result, err error) {
	defer wrap(&err, "pgstore.Append")
	if b.Metadata.TenantID == uuid.Nil {
		return events.Result{}, errors.New("batch has no tenant")
	}
	pending, err := s.encode(b)
	if err != nil {
		return events.Result{}, err
	}
	if len(pending.ids) == 0 {
		return events.Result{}, errors.New("empty batch")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return events.Result{}, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
		if s.hooks.Ended != nil {
			s.hooks.Ended()
		}
	}()

	stored, xid, err := s.insert(ctx, tx, pending)
	if err != nil {
		return events.Result{}, err
	}
	for _, in := range s.inline {
		if err := in.Apply(ctx, tx, stored); err != nil {
			return events.Result{}, err
		}
	}
	if b.Idempotency != nil {
		if err := saveIdempotency(ctx, tx, b.Idempotency, lastPosition(stored)); err != nil {
			return events.Result{}, err
		}
	}
	if b.InTx != nil {
		if err := b.InTx(ctx, tx, stored); err != nil {
			return events.Result{}, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return events.Result{}, conflictOr(err, pending)
	}
	committed = true
	if s.hooks.Committed != nil {
		s.hooks.Committed(xid)
	}
	if s.hooks.Stored != nil {
		s.hooks.Stored(stored)
	}
	return events.Result{Events: stored, TransactionID: xid, LastPosition: lastPosition(stored)}, nil
}

func lastPosition(evs []events.Event) int64 {
	var p int64
	for _, e := range evs {
		p = max(p, e.Position)
	}
	return p
}

// encoded holds a batch as the column arrays of insertSQL, plus the
// decoded events to hand back.
type encoded struct {
	ids, tenants, streams                 []uuid.UUID
	types, eventTypes, payloads, metadata []string
	versions, schemaVersions              []int32
	occurred                              []time.Time
	events                                []events.Event
	expectedByStream                      map[uuid.UUID]int
}

func (s *Store) encode(b Batch) (encoded, error) {
	var p encoded
	p.expectedByStream = map[uuid.UUID]int{}
	meta, err := jsonString(b.Metadata)
	if err != nil {
		return p, err
	}
	for _, a := range b.Streams {
		if a.Stream.TenantID == uuid.Nil || a.Stream.ID == uuid.Nil || a.Stream.Type == "" {
			return p, fmt.Errorf("stream %q/%s of tenant %s is incomplete", a.Stream.Type, a.Stream.ID, a.Stream.TenantID)
		}
		p.expectedByStream[a.Stream.ID] = a.Expected
		for i, pe := range a.Events {
			name, sv, body, err := s.reg.Encode(pe.Data)
			if err != nil {
				return p, err
			}
			id, err := uuid.NewV7()
			if err != nil {
				return p, err
			}
			version := a.Expected + i + 1
			p.ids = append(p.ids, id)
			p.tenants = append(p.tenants, a.Stream.TenantID)
			p.types = append(p.types, a.Stream.Type)
			p.streams = append(p.streams, a.Stream.ID)
			p.versions = append(p.versions, int32(version))
			p.eventTypes = append(p.eventTypes, name)
			p.schemaVersions = append(p.schemaVersions, int32(sv))
			p.payloads = append(p.payloads, string(body))
			p.metadata = append(p.metadata, meta)
			p.occurred = append(p.occurred, pe.OccurredAt.UTC())
			p.events = append(p.events, events.Event{
				ID: id, TenantID: a.Stream.TenantID, StreamType: a.Stream.Type, StreamID: a.Stream.ID,
				Version: version, Type: name, SchemaVersion: sv, Data: pe.Data, Metadata: b.Metadata,
				OccurredAt: pe.OccurredAt.UTC(),
			})
		}
	}
	return p, nil
}

func (s *Store) insert(ctx context.Context, tx pgx.Tx, p encoded) ([]events.Event, uint64, error) {
	rows, err := tx.Query(ctx, insertSQL, p.ids, p.tenants, p.types, p.streams, p.versions,
		p.eventTypes, p.schemaVersions, p.payloads, p.metadata, p.occurred)
	if err != nil {
		return nil, 0, conflictOr(err, p)
	}
	type stored struct {
		pos int64
		at  time.Time
	}
	byID := make(map[uuid.UUID]stored, len(p.ids))
	var xid uint64
	for rows.Next() {
		var id uuid.UUID
		var st stored
		var xidText string
		if err := rows.Scan(&id, &st.pos, &xidText, &st.at); err != nil {
			rows.Close()
			return nil, 0, err
		}
		byID[id] = st
		if xid, err = strconv.ParseUint(xidText, 10, 64); err != nil {
			rows.Close()
			return nil, 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, conflictOr(err, p)
	}
	out := make([]events.Event, len(p.events))
	for i, e := range p.events {
		st := byID[e.ID]
		e.Position, e.RecordedAt, e.TransactionID = st.pos, st.at, xid
		out[i] = e
	}
	return out, xid, nil
}

// conflictOr maps a unique violation of the stream-version key to an
// *events.ConflictError (by SQLSTATE and constraint name, never by text).
func conflictOr(err error, p encoded) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key" {
		// The detail names the key, but parsing it would match by text;
		// report the first stream instead when there are several.
		for id, exp := range p.expectedByStream {
			if len(p.expectedByStream) == 1 || streamInDetail(pgErr, id) {
				return &events.ConflictError{StreamID: id, Expected: exp}
			}
		}
		return events.ErrConflict
	}
	return err
}

// streamInDetail reports whether the violation concerns stream id. The
// detail text is only used to pick which stream to name in the error; the
// decision that it is a conflict was taken from SQLSTATE above.
func streamInDetail(pgErr *pgconn.PgError, id uuid.UUID) bool {
	return strings.Contains(pgErr.Detail, id.String())
}

func wrap(err *error, op string) {
	if *err != nil {
		*err = fmt.Errorf("%s: %w", op, *err)
	}
}
