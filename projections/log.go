package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
)

// Checkpoint is a point in projection order: everything at or before
// (TransactionID, Position) has been applied.
type Checkpoint struct {
	TransactionID uint64
	Position      int64
}

// Before reports whether c comes before o in projection order.
func (c Checkpoint) Before(o Checkpoint) bool {
	return c.TransactionID < o.TransactionID || (c.TransactionID == o.TransactionID && c.Position < o.Position)
}

func (c Checkpoint) xid() string { return strconv.FormatUint(c.TransactionID, 10) }

func checkpointOf(e events.Event) Checkpoint {
	return Checkpoint{TransactionID: e.TransactionID, Position: e.Position}
}

// pollSQL reads the next events after a checkpoint: a range scan of the
// primary key (transaction_id, position), ORDER BY and LIMIT at the top
// level, and only transactions below the snapshot xmin (every one of
// them has ended, so none can still commit behind the checkpoint). It
// runs outside any transaction: reading the log takes no xid.
const pollSQL = `
SELECT position, transaction_id::text AS xid, event_id, tenant_id, stream_type, stream_id, version,
       event_type, schema_version, payload, metadata, occurred_at, recorded_at
FROM events
WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT $3`

// item is one event read from the log; err is set when its payload could
// not be decoded (its Data is then nil).
type item struct {
	events.Event
	err error
}

// readLog reads up to limit events after c.
func readLog(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, reg *events.Registry, c Checkpoint, limit int) ([]item, error) {
	rows, err := q.Query(ctx, pollSQL, c.xid(), c.Position, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []item
	for rows.Next() {
		if out, err = scanEvent(rows, reg, out); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// scanEvent appends the event of the current row to out, decoded.
func scanEvent(rows pgx.Rows, reg *events.Registry, out []item) ([]item, error) {
	r, err := scanRaw(rows, nil)
	if err != nil {
		return out, err
	}
	out = append(out, item{})
	r.decodeInto(reg, &out[len(out)-1])
	return out, nil
}

// rawItem is an event as read, its payload and metadata not decoded yet
// (a rebuild decodes them on other goroutines).
type rawItem struct {
	item
	payload, metadata []byte
}

// scanRaw reads one row of pollSQL. It decodes the row's wire values
// itself where it knows their format, because pgx's Scan allocates for
// every value (a string per text column, a []byte per jsonb, the row
// itself escaping through Scan's ...any): a rebuild reads millions of
// rows, and those allocations made most of its garbage-collection work.
// The few stream and event types are interned; payload and metadata are
// copied into a (one allocation per many rows), or each into its own
// slice when a is nil.
func scanRaw(rows pgx.Rows, a *arena) (rawItem, error) {
	var r rawItem
	v := rows.RawValues()
	fds := rows.FieldDescriptions()
	if !wireFormats(fds, v) {
		return scanRawSlow(rows)
	}
	e := &r.Event
	e.Position = int64(binary.BigEndian.Uint64(v[0]))
	var ok bool
	if e.TransactionID, ok = parseUint(v[1]); !ok {
		return r, fmt.Errorf("projections: scan event: transaction id %q", v[1])
	}
	e.ID, e.TenantID = uuid.UUID(v[2]), uuid.UUID(v[3])
	e.StreamType, e.StreamID = intern(v[4]), uuid.UUID(v[5])
	e.Version = int(int32(binary.BigEndian.Uint32(v[6])))
	e.Type, e.SchemaVersion = intern(v[7]), int(int32(binary.BigEndian.Uint32(v[8])))
	r.payload, r.metadata = a.copy(jsonText(fds[9], v[9])), a.copy(jsonText(fds[10], v[10]))
	e.OccurredAt, e.RecordedAt = pgTime(v[11]), pgTime(v[12])
	return r, nil
}

// pollColumns are the types of pollSQL's columns and, for those scanRaw
// reads in the binary format, their size (text and jsonb columns read
// the same in either format, but for jsonb's version byte).
var pollColumns = [...]struct {
	oid  uint32
	size int
}{
	{pgtype.Int8OID, 8}, {pgtype.TextOID, 0}, {pgtype.UUIDOID, 16}, {pgtype.UUIDOID, 16},
	{pgtype.TextOID, 0}, {pgtype.UUIDOID, 16}, {pgtype.Int4OID, 4}, {pgtype.TextOID, 0},
	{pgtype.Int4OID, 4}, {pgtype.JSONBOID, 0}, {pgtype.JSONBOID, 0},
	{pgtype.TimestamptzOID, 8}, {pgtype.TimestamptzOID, 8},
}

// wireFormats reports whether row v comes in the formats scanRaw decodes
// (pgx's choice for a prepared statement) with no value out of the
// ordinary: a NULL, a timestamp at ±infinity, a jsonb version other than
// 1. Anything else (the simple protocol sends text) goes through pgx's
// Scan, which answers it as it always did.
func wireFormats(fds []pgconn.FieldDescription, v [][]byte) bool {
	if len(fds) != len(pollColumns) || len(v) != len(pollColumns) {
		return false
	}
	for i, fd := range fds {
		want := pollColumns[i]
		switch {
		case fd.DataTypeOID != want.oid || v[i] == nil:
			return false
		case want.size > 0 && (fd.Format != pgx.BinaryFormatCode || len(v[i]) != want.size):
			return false
		case want.oid == pgtype.JSONBOID && fd.Format == pgx.BinaryFormatCode && (len(v[i]) == 0 || v[i][0] != 1):
			return false
		case want.oid == pgtype.TimestamptzOID:
			if us := int64(binary.BigEndian.Uint64(v[i])); us == math.MaxInt64 || us == math.MinInt64 {
				return false
			}
		}
	}
	return true
}

// jsonText is the JSON text of a jsonb value: in the binary format, what
// follows its version byte.
func jsonText(fd pgconn.FieldDescription, b []byte) []byte {
	if fd.Format == pgx.BinaryFormatCode {
		return b[1:]
	}
	return b
}

// pgEpochMicros is PostgreSQL's time zero (binary timestamps count
// microseconds from it) in microseconds since the Unix epoch.
const pgEpochMicros = 946_684_800 * 1_000_000

// pgTime decodes a binary timestamptz (not ±infinity: see wireFormats).
func pgTime(b []byte) time.Time {
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b)) + pgEpochMicros).UTC()
}

// parseUint parses a decimal without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// interned holds the strings of the log's few stream and event types, so
// that each row's share them instead of allocating its own; it stops
// growing at internMax (whatever else comes is not interned).
var interned = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

const internMax = 1024

func intern(b []byte) string {
	interned.Lock()
	defer interned.Unlock()
	if s, ok := interned.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(interned.m) < internMax {
		interned.m[s] = s
	}
	return s
}

// arena hands out copies of byte slices carved from larger blocks: one
// allocation for many rows' payloads instead of one per value. A block
// is never reused: a copy stays valid for as long as it is referenced
// (the decoders copy what they keep, so a chunk's blocks go with it).
type arena struct{ block []byte }

// arenaBlock is the size of an arena's blocks (a larger value gets a
// block of its own size).
const arenaBlock = 256 << 10

// copy returns a copy of b; a nil arena allocates one for b alone.
func (a *arena) copy(b []byte) []byte {
	if a == nil {
		return bytes.Clone(b)
	}
	if cap(a.block)-len(a.block) < len(b) {
		a.block = make([]byte, 0, max(arenaBlock, len(b)))
	}
	start := len(a.block)
	a.block = append(a.block, b...)
	return a.block[start:len(a.block):len(a.block)]
}

// scanRawSlow is scanRaw through pgx's Scan, for rows in other formats.
func scanRawSlow(rows pgx.Rows) (rawItem, error) {
	var (
		r                  rawItem
		xid                string
		id, tenant, stream pgtype.UUID // scanned as bytes: uuid.UUID scans through its text form
	)
	e := &r.Event
	if err := rows.Scan(&e.Position, &xid, &id, &tenant, &e.StreamType, &stream, &e.Version,
		&e.Type, &e.SchemaVersion, &r.payload, &r.metadata, &e.OccurredAt, &e.RecordedAt); err != nil {
		return r, fmt.Errorf("projections: scan event: %w", err)
	}
	e.ID, e.TenantID, e.StreamID = id.Bytes, tenant.Bytes, stream.Bytes
	var err error
	if e.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return r, err
	}
	e.OccurredAt, e.RecordedAt = e.OccurredAt.UTC(), e.RecordedAt.UTC()
	return r, nil
}

// decodeInto decodes the metadata and, through the registry (upcasters
// included), the payload into *it; a failure is the item's err. The
// metadata is decoded in place, so a slice of items fills without an
// allocation per event.
func (r *rawItem) decodeInto(reg *events.Registry, it *item) {
	*it = r.item
	if len(r.metadata) > 0 {
		if err := events.UnmarshalStored(r.metadata, &it.Metadata); err != nil {
			it.err = fmt.Errorf("event %s: metadata: %w", it.ID, err)
			return
		}
	}
	it.Data, it.err = reg.DecodeStored(it.Type, it.SchemaVersion, r.payload)
}

// ensureCheckpoint creates the projector's checkpoint row if missing and
// reads it. The row has the shape of watermill-sql's
// DefaultPostgreSQLOffsetsAdapter, read with its own query.
func ensureCheckpoint(ctx context.Context, pool *pgxpool.Pool, name string) (Checkpoint, error) {
	if _, err := pool.Exec(ctx, `INSERT INTO projector_checkpoints (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ($1, 0, '0') ON CONFLICT (consumer_group) DO NOTHING`, name); err != nil {
		return Checkpoint{}, err
	}
	q, err := offsetsAdapter().NextOffsetQuery(wsql.NextOffsetQueryParams{Topic: "events", ConsumerGroup: name})
	if err != nil {
		return Checkpoint{}, err
	}
	var c Checkpoint
	var xid wsql.XID8
	if err := pool.QueryRow(ctx, q.Query, q.Args...).Scan(&c.Position, &xid); err != nil {
		return Checkpoint{}, fmt.Errorf("projections: checkpoint of %s: %w", name, err)
	}
	c.TransactionID = uint64(xid)
	return c, nil
}

// checkpointTable holds one row per projector.
const checkpointTable = "projector_checkpoints"

func offsetsAdapter() wsql.DefaultPostgreSQLOffsetsAdapter {
	return wsql.DefaultPostgreSQLOffsetsAdapter{
		GenerateMessagesOffsetsTableName: func(string) string { return checkpointTable },
	}
}
