package projections

import (
	"context"
	"fmt"
	"strconv"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
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
		it, err := scanEvent(rows, reg)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

func scanEvent(rows pgx.Rows, reg *events.Registry) (item, error) {
	r, err := scanRaw(rows)
	if err != nil {
		return item{}, err
	}
	return r.decode(reg), nil
}

// rawItem is an event as read, its payload and metadata not decoded yet
// (a rebuild decodes them on other goroutines).
type rawItem struct {
	item
	payload, metadata []byte
}

func scanRaw(rows pgx.Rows) (rawItem, error) {
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

// decode decodes the metadata and, through the registry (upcasters
// included), the payload; a failure is the item's err.
func (r rawItem) decode(reg *events.Registry) item {
	it := r.item
	if len(r.metadata) > 0 {
		if err := events.UnmarshalStored(r.metadata, &it.Metadata); err != nil {
			it.err = fmt.Errorf("event %s: metadata: %w", it.ID, err)
			return it
		}
	}
	it.Data, it.err = reg.DecodeStored(it.Type, it.SchemaVersion, r.payload)
	return it
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
