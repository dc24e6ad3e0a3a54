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
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	group  *grouper
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

// appendSQL is the whole append in one statement, so that it costs one
// round trip (and, sent alone, is its own implicit transaction):
//
//   - locks: a transaction-scoped advisory lock on every stream written,
//     taken in key order (so batches never deadlock on them). It is what
//     a Guard waits on: a stream read but not written is locked shared,
//     so its writers wait for the guarded append to commit and vice
//     versa ($16; empty when lockSQL took the locks first);
//   - auth, members: the caller's membership row and the rows of the
//     users the decision assigned, locked FOR SHARE until commit, so a
//     concurrent removal or demotion (DELETE or UPDATE of that row)
//     either committed before this statement read it, or waits for this
//     transaction; an organization's deletion deletes its memberships;
//   - checked: the commit-time checks, each failing with its own SQLSTATE
//     (migration 00020, crm_fail) before anything is inserted;
//   - ins: the events, whose UNIQUE (tenant_id, stream_id, version) is the
//     optimistic-concurrency guard of every stream written;
//   - idem: the idempotency record, failing the append if another request
//     holds the key.
const appendSQL = `
WITH auth AS (
    SELECT m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
    WHERE $11::boolean AND m.org_id = $12::uuid AND m.user_id = $13::uuid AND o.deleted_at IS NULL
    FOR SHARE OF m
), members AS (
    SELECT m.user_id FROM memberships m
    WHERE $11::boolean AND m.org_id = $12::uuid AND m.user_id = ANY($15::uuid[])
    FOR SHARE OF m
), locks AS (
    SELECT count(pg_advisory_xact_lock(k)) AS n
    FROM (SELECT DISTINCT k FROM unnest($16::bigint[]) AS k ORDER BY k) AS ks
), guards AS (
    SELECT g.stream_id FROM unnest($17::uuid[], $18::uuid[], $19::int[]) AS g (tenant_id, stream_id, version)
    WHERE (SELECT coalesce(max(e.version), 0) FROM events e
           WHERE e.tenant_id = g.tenant_id AND e.stream_id = g.stream_id) <> g.version
    LIMIT 1
), checked AS (
    SELECT CASE
        WHEN (SELECT n FROM locks) < 0 THEN false
        WHEN $11::boolean AND NOT EXISTS (SELECT 1 FROM auth)
            THEN crm_fail('CR001', 'not a member of the organization')
        WHEN $11::boolean AND (SELECT role FROM auth) <> $14::text
            THEN crm_fail('CR002', 'the caller''s role changed', (SELECT role FROM auth))
        WHEN $11::boolean AND (SELECT count(*) FROM members) < cardinality($15::uuid[])
            THEN crm_fail('CR003', 'an assigned user is not a member')
        WHEN EXISTS (SELECT 1 FROM guards)
            THEN crm_fail('CR004', 'a guarded stream moved on', (SELECT stream_id::text FROM guards))
        ELSE true END AS ok
), ins AS (
    INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version,
                        event_type, schema_version, payload, metadata, occurred_at)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::int[],
                         $6::text[], $7::int[], $8::text[]::jsonb[], $9::text[]::jsonb[], $10::timestamptz[])
    WHERE (SELECT ok FROM checked)
    RETURNING event_id, position, transaction_id, recorded_at
), idem AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, status, headers, body, position)
    SELECT $20::uuid, $21::text, $22::text, $23::int, $24::text::jsonb, $25::bytea, (SELECT max(position) FROM ins)
    WHERE $20::uuid IS NOT NULL
    ON CONFLICT (user_id, key) DO UPDATE
    SET request_hash = excluded.request_hash, status = excluded.status, headers = excluded.headers,
        body = excluded.body, position = excluded.position, created_at = now()
    WHERE idempotency_keys.created_at < now() - $26::interval
    RETURNING 1
)
SELECT i.event_id, i.position, i.transaction_id::text, i.recorded_at,
       CASE WHEN $20::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM idem)
            THEN crm_fail('CR005', 'the idempotency key is taken') ELSE true END
FROM ins i`

// lockSQL takes the stream locks of a batch with guards before appendSQL
// runs, in a statement of its own: appendSQL's snapshot must be taken
// after a guarded stream's writer has committed, or it would not see the
// version that writer stored. Written streams are locked exclusively,
// guarded ones shared, all in key order.
const lockSQL = `
SELECT count(CASE WHEN shared THEN pg_advisory_xact_lock_shared(k) ELSE pg_advisory_xact_lock(k) END)
FROM (SELECT k, bool_and(s) AS shared FROM unnest($1::bigint[], $2::boolean[]) AS u (k, s)
      GROUP BY k ORDER BY k) AS ks`

// Append writes b in one transaction. A stream that moved past its
// expected version fails the whole batch with an *events.ConflictError;
// nothing is written.
func (s *Store) Append(ctx context.Context, b events.Batch) (events.Result, error) {
	return s.AppendTx(ctx, Batch{Batch: b})
}

// AppendTx is Append with b.InTx run inside the transaction.
//
// A batch that no inline projection handles and without InTx is sent as
// one pipelined request in an implicit transaction: one round trip. Other
// batches (registrations, organization changes) run in an explicit
// transaction with the inline projections after the insert.
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
	defer func() {
		if s.hooks.Ended != nil {
			s.hooks.Ended()
		}
	}()
	var stored []events.Event
	var xid uint64
	switch {
	case b.InTx != nil || s.inlineHandles(pending.events):
		stored, xid, err = s.appendInTx(ctx, b, pending)
	case s.group != nil:
		stored, xid, err = s.appendGrouped(ctx, pending)
	default:
		stored, xid, err = s.appendPipelined(ctx, pending)
	}
	if err != nil {
		return events.Result{}, err
	}
	if s.hooks.Committed != nil {
		s.hooks.Committed(xid)
	}
	if s.hooks.Stored != nil {
		s.hooks.Stored(stored)
	}
	return events.Result{Events: stored, TransactionID: xid, LastPosition: lastPosition(stored)}, nil
}

// Selective is an Inline projection that says which events it handles;
// a batch with none of them skips it (and its transaction round trips).
// An Inline that is not Selective runs on every batch.
type Selective interface {
	Handles(e events.Event) bool
}

func (s *Store) inlineHandles(evs []events.Event) bool {
	for _, in := range s.inline {
		sel, ok := in.(Selective)
		if !ok {
			return true
		}
		for _, e := range evs {
			if sel.Handles(e) {
				return true
			}
		}
	}
	return false
}

// appendPipelined sends the batch's statements in one pipeline (one Sync):
// PostgreSQL runs them as one implicit transaction that commits at the
// Sync, or rolls back at the first error.
func (s *Store) appendPipelined(ctx context.Context, p encoded) ([]events.Event, uint64, error) {
	var batch pgx.Batch
	if len(p.guardStreams) > 0 {
		batch.Queue(lockSQL, p.lockKeys, p.lockShared)
	}
	var stored []events.Event
	var xid uint64
	batch.Queue(appendSQL, p.args(len(p.guardStreams) > 0)...).Query(func(rows pgx.Rows) error {
		var err error
		stored, xid, err = p.scan(rows)
		return err
	})
	if err := s.pool.SendBatch(ctx, &batch).Close(); err != nil {
		return nil, 0, p.mapErr(err)
	}
	return stored, xid, nil
}

// appendInTx appends in an explicit transaction, with the inline
// projections and b.InTx after the insert.
func (s *Store) appendInTx(ctx context.Context, b Batch, p encoded) ([]events.Event, uint64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if len(p.guardStreams) > 0 {
		if _, err := tx.Exec(ctx, lockSQL, p.lockKeys, p.lockShared); err != nil {
			return nil, 0, err
		}
	}
	rows, err := tx.Query(ctx, appendSQL, p.args(len(p.guardStreams) > 0)...)
	if err != nil {
		return nil, 0, p.mapErr(err)
	}
	stored, xid, err := p.scan(rows)
	if err != nil {
		return nil, 0, p.mapErr(err)
	}
	for _, in := range s.inline {
		if err := in.Apply(ctx, tx, stored); err != nil {
			return nil, 0, err
		}
	}
	if b.InTx != nil {
		if err := b.InTx(ctx, tx, stored); err != nil {
			return nil, 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, p.mapErr(err)
	}
	committed = true
	return stored, xid, nil
}

func lastPosition(evs []events.Event) int64 {
	var p int64
	for _, e := range evs {
		p = max(p, e.Position)
	}
	return p
}

// encoded holds a batch as the parameters of appendSQL, plus the
// decoded events to hand back.
type encoded struct {
	ids, tenants, streams                 []uuid.UUID
	types, eventTypes, payloads, metadata []string
	versions, schemaVersions              []int32
	occurred                              []time.Time
	events                                []events.Event
	expectedByStream                      map[uuid.UUID]int

	// the checks of appendSQL
	auth          *events.Authorization
	members       []uuid.UUID
	lockKeys      []int64
	lockShared    []bool
	guardTenants  []uuid.UUID
	guardStreams  []uuid.UUID
	guardVersions []int32
	guardByStream map[uuid.UUID]int
	idem          *events.IdempotencyRecord
	idemHeaders   string
}

func (s *Store) encode(b Batch) (encoded, error) {
	var p encoded
	p.expectedByStream = map[uuid.UUID]int{}
	p.guardByStream = map[uuid.UUID]int{}
	meta, err := jsonString(b.Metadata)
	if err != nil {
		return p, err
	}
	for _, a := range b.Streams {
		if a.Stream.TenantID == uuid.Nil || a.Stream.ID == uuid.Nil || a.Stream.Type == "" {
			return p, fmt.Errorf("stream %q/%s of tenant %s is incomplete", a.Stream.Type, a.Stream.ID, a.Stream.TenantID)
		}
		p.expectedByStream[a.Stream.ID] = a.Expected
		if len(a.Events) > 0 {
			p.lockKeys = append(p.lockKeys, lockKey(a.Stream.ID))
			p.lockShared = append(p.lockShared, false)
		}
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
	for _, g := range b.Guards {
		if g.Stream.TenantID == uuid.Nil || g.Stream.ID == uuid.Nil {
			return p, fmt.Errorf("guard of stream %s of tenant %s is incomplete", g.Stream.ID, g.Stream.TenantID)
		}
		p.guardTenants = append(p.guardTenants, g.Stream.TenantID)
		p.guardStreams = append(p.guardStreams, g.Stream.ID)
		p.guardVersions = append(p.guardVersions, int32(g.Version))
		p.guardByStream[g.Stream.ID] = g.Version
		p.lockKeys = append(p.lockKeys, lockKey(g.Stream.ID))
		p.lockShared = append(p.lockShared, true)
	}
	if a := b.Authorization; a != nil {
		if a.OrgID == uuid.Nil || a.UserID == uuid.Nil || a.Role == "" {
			return p, errors.New("authorization without organization, user or role")
		}
		p.auth = a
		for _, m := range a.Members {
			if !slices.Contains(p.members, m) {
				p.members = append(p.members, m)
			}
		}
	}
	if b.Idempotency != nil {
		h, err := json.Marshal(b.Idempotency.Headers)
		if err != nil {
			return p, err
		}
		p.idem, p.idemHeaders = b.Idempotency, string(h)
	}
	return p, nil
}

// lockKey is the advisory-lock key of a stream: its id folded to 64 bits.
// Two streams sharing a key only wait for each other needlessly.
func lockKey(id uuid.UUID) int64 {
	return int64(binary.BigEndian.Uint64(id[:8]) ^ binary.BigEndian.Uint64(id[8:]))
}

// args are appendSQL's parameters. lockedFirst says lockSQL took the
// stream locks already.
func (p encoded) args(lockedFirst bool) []any {
	var authorize bool
	var org, user *uuid.UUID
	var role string
	members := p.members
	if members == nil {
		members = []uuid.UUID{}
	}
	if p.auth != nil {
		authorize, org, user, role = true, &p.auth.OrgID, &p.auth.UserID, p.auth.Role
	}
	keys := p.lockKeys
	if lockedFirst {
		keys = []int64{}
	}
	var idemUser *uuid.UUID
	var idemKey, idemHash string
	var idemStatus int
	var idemBody []byte
	if p.idem != nil {
		idemUser, idemKey, idemHash, idemStatus, idemBody = &p.idem.UserID, p.idem.Key, p.idem.RequestHash, p.idem.Status, p.idem.Body
	}
	if idemBody == nil {
		idemBody = []byte{}
	}
	idemHeaders := p.idemHeaders
	if idemHeaders == "" {
		idemHeaders = "{}"
	}
	guardTenants, guardStreams, guardVersions := p.guardTenants, p.guardStreams, p.guardVersions
	if guardStreams == nil {
		guardTenants, guardStreams, guardVersions = []uuid.UUID{}, []uuid.UUID{}, []int32{}
	}
	return []any{p.ids, p.tenants, p.types, p.streams, p.versions,
		p.eventTypes, p.schemaVersions, p.payloads, p.metadata, p.occurred,
		authorize, org, user, role, members,
		keys, guardTenants, guardStreams, guardVersions,
		idemUser, idemKey, idemHash, idemStatus, idemHeaders, idemBody, ttl()}
}

// scan reads appendSQL's rows into the stored events and the
// transaction id.
func (p encoded) scan(rows pgx.Rows) ([]events.Event, uint64, error) {
	defer rows.Close()
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
		var ok bool
		if err := rows.Scan(&id, &st.pos, &xidText, &st.at, &ok); err != nil {
			return nil, 0, err
		}
		byID[id] = st
		var err error
		if xid, err = strconv.ParseUint(xidText, 10, 64); err != nil {
			return nil, 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(byID) != len(p.events) {
		return nil, 0, fmt.Errorf("stored %d of %d events", len(byID), len(p.events))
	}
	out := make([]events.Event, len(p.events))
	for i, e := range p.events {
		st := byID[e.ID]
		e.Position, e.RecordedAt, e.TransactionID = st.pos, st.at, xid
		out[i] = e
	}
	return out, xid, nil
}

// mapErr turns the failures of appendSQL into the store's errors, by
// SQLSTATE (and constraint name), never by message text.
func (p encoded) mapErr(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case "CR001":
		return events.ErrNotAMember
	case "CR002":
		return &events.RoleChangedError{Role: pgErr.Detail}
	case "CR003":
		return events.ErrNotMembers
	case "CR004":
		id, perr := uuid.Parse(pgErr.Detail)
		if perr != nil {
			return events.ErrConflict
		}
		return &events.ConflictError{StreamID: id, Expected: p.guardByStream[id]}
	case "CR005":
		return events.ErrIdempotencyKeyUsed
	}
	return conflictOr(err, p)
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
