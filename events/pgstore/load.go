package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
)

const loadSQL = `
SELECT event_id, stream_type, version, event_type, schema_version, payload, metadata,
       occurred_at, recorded_at, position, transaction_id::text
FROM events
WHERE tenant_id = $1 AND stream_id = $2
  AND ($3 = 0 OR version <= $3)
  AND ($4::timestamptz IS NULL OR occurred_at <= $4)
  AND version > $5
ORDER BY version`

// Load returns the events of one stream of one tenant, oldest first,
// decoded (and upcast) through the registry. An unknown stream, or one of
// another tenant, yields no events and no error.
func (s *Store) Load(ctx context.Context, tenantID, streamID uuid.UUID, o events.LoadOptions) (evs []events.Event, err error) {
	defer wrap(&err, "pgstore.Load")
	return s.query(ctx, s.pool, tenantID, streamID, o)
}

// LoadTx is Load inside the caller's transaction.
func (s *Store) LoadTx(ctx context.Context, tx pgx.Tx, tenantID, streamID uuid.UUID, o events.LoadOptions) (evs []events.Event, err error) {
	defer wrap(&err, "pgstore.LoadTx")
	return s.query(ctx, tx, tenantID, streamID, o)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (s *Store) query(ctx context.Context, q querier, tenantID, streamID uuid.UUID, o events.LoadOptions) ([]events.Event, error) {
	var asOf *time.Time
	if !o.AsOf.IsZero() {
		t := o.AsOf.UTC()
		asOf = &t
	}
	rows, err := q.Query(ctx, loadSQL, tenantID, streamID, o.UpToVersion, asOf, o.AfterVersion)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		var e events.Event
		var payload, meta []byte
		var xid string
		if err := rows.Scan(&e.ID, &e.StreamType, &e.Version, &e.Type, &e.SchemaVersion, &payload, &meta,
			&e.OccurredAt, &e.RecordedAt, &e.Position, &xid); err != nil {
			return nil, err
		}
		e.TenantID, e.StreamID = tenantID, streamID
		if e.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
			return nil, err
		}
		if err := events.UnmarshalStored(meta, &e.Metadata); err != nil {
			return nil, fmt.Errorf("event %s metadata: %w", e.ID, err)
		}
		if e.Data, err = s.reg.DecodeStored(e.Type, e.SchemaVersion, payload); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
