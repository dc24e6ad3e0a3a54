package feed

// TEMPORARY: a stand-in for the feed Reader that lands on main with the
// event feed (issue 11), written against its announced signature so the
// webhook dispatcher could be built and tested before it lands. Deleted
// when main is merged into the webhooks branch.

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/readapi"
)

// Reader reads one organization's events in projection order.
type Reader struct {
	Pool     *pgxpool.Pool
	Registry *events.Registry
}

// Read returns up to limit events of org after `after` that match types,
// and the cursor to continue from.
func (r Reader) Read(ctx context.Context, org uuid.UUID, after Cursor, types Types, limit int) ([]Event, Cursor, error) {
	next := after
	var out []Event
	for len(out) < limit {
		rows, err := r.Pool.Query(ctx, `
SELECT position, transaction_id::text, event_id, stream_type, stream_id, version, event_type, schema_version, payload, metadata, occurred_at
FROM events
WHERE tenant_id = $1 AND (transaction_id, position) > ($2::text::xid8, $3::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND stream_type <> 'user'
ORDER BY transaction_id, position LIMIT 500`, org, strconv.FormatUint(next.TransactionID, 10), next.Position)
		if err != nil {
			return nil, after, err
		}
		n := 0
		for rows.Next() {
			n++
			var (
				e                 Event
				xid               string
				id, stream        pgtype.UUID
				sv                int
				payload, metadata []byte
				at                time.Time
			)
			if err := rows.Scan(&e.Position, &xid, &id, &e.StreamType, &stream, &e.Version, &e.Type, &sv, &payload, &metadata, &at); err != nil {
				rows.Close()
				return nil, after, err
			}
			x, _ := strconv.ParseUint(xid, 10, 64)
			e.ID, e.StreamID, e.OccurredAt = id.Bytes, stream.Bytes, readapi.NewTime(at.UTC())
			e.Cursor = Cursor{TransactionID: x, Position: e.Position}
			if len(out) >= limit {
				break
			}
			next = e.Cursor
			if !types.Match(e.Type) {
				continue
			}
			p, err := r.Registry.Decode(e.Type, sv, payload)
			if err != nil {
				rows.Close()
				return nil, after, err
			}
			if e.Data, err = json.Marshal(p); err != nil {
				rows.Close()
				return nil, after, err
			}
			var md events.Metadata
			_ = json.Unmarshal(metadata, &md)
			e.ActorID = md.ActorID
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, after, err
		}
		if n < 500 {
			break
		}
	}
	return out, next, nil
}
