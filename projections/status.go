package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Status is where one projector stands in the event log.
type Status struct {
	Name string `json:"name"`
	// Position is the global position of the last event processed.
	Position int64 `json:"position"`
	// Backlog counts committed events not yet processed (capped at
	// 100,000, so that asking stays cheap).
	Backlog int64 `json:"backlog"`
	// LagSeconds is the age of the oldest unprocessed event, 0 when none.
	LagSeconds float64 `json:"lag_seconds"`
	// Owner is the process that last moved the checkpoint.
	Owner string `json:"owner,omitempty"`
	// Parked lists the poison events the projector is stopped at.
	Parked []Parked `json:"parked,omitempty"`
}

// Parked is a poison event a projector stopped at.
type Parked struct {
	EventID   string    `json:"event_id"`
	Position  int64     `json:"position"`
	EventType string    `json:"event_type"`
	Error     string    `json:"error"`
	Attempts  int       `json:"attempts"`
	ParkedAt  time.Time `json:"parked_at"`
}

const backlogSQL = `
SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0) FROM (
	SELECT recorded_at FROM events
	WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
	ORDER BY transaction_id, position
	LIMIT 100000
) pending`

// ReadStatus reports each named projector's position, backlog, lag and
// parked events. Projectors at the same checkpoint (the usual case) share
// one backlog count.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool, names []string) ([]Status, error) {
	rows, err := pool.Query(ctx, `
		SELECT n, coalesce(c.offset_acked, 0), coalesce(c.last_processed_transaction_id, '0')::text, coalesce(c.owner, '')
		FROM unnest($1::text[]) WITH ORDINALITY AS q(n, i)
		LEFT JOIN projector_checkpoints c ON c.consumer_group = q.n ORDER BY q.i`, names)
	if err != nil {
		return nil, fmt.Errorf("projections: status: %w", err)
	}
	out := make([]Status, 0, len(names))
	xids := make([]string, 0, len(names))
	for rows.Next() {
		var s Status
		var xid string
		if err := rows.Scan(&s.Name, &s.Position, &xid, &s.Owner); err != nil {
			rows.Close()
			return nil, err
		}
		out, xids = append(out, s), append(xids, xid)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	type backlog struct {
		n   int64
		lag float64
	}
	seen := map[string]backlog{}
	for i := range out {
		key := xids[i] + "/" + fmt.Sprint(out[i].Position)
		b, ok := seen[key]
		if !ok {
			if err := pool.QueryRow(ctx, backlogSQL, xids[i], out[i].Position).Scan(&b.n, &b.lag); err != nil {
				return nil, fmt.Errorf("projections: backlog of %s: %w", out[i].Name, err)
			}
			seen[key] = b
		}
		out[i].Backlog = b.n
		out[i].LagSeconds = float64(time.Duration(b.lag*float64(time.Second)).Round(time.Millisecond)) / float64(time.Second)
	}
	parked, err := pool.Query(ctx, `SELECT projector, event_id::text, position, event_type, error, attempts, parked_at
		FROM projector_parked WHERE projector = ANY($1) AND resolution IS NULL ORDER BY transaction_id, position`, names)
	if err != nil {
		return nil, fmt.Errorf("projections: parked events: %w", err)
	}
	defer parked.Close()
	for parked.Next() {
		var name string
		var p Parked
		if err := parked.Scan(&name, &p.EventID, &p.Position, &p.EventType, &p.Error, &p.Attempts, &p.ParkedAt); err != nil {
			return nil, err
		}
		for i := range out {
			if out[i].Name == name {
				out[i].Parked = append(out[i].Parked, p)
			}
		}
	}
	return out, parked.Err()
}

// Skip tells projector name to step over the poison event it is stopped
// at (the read model then lacks that event's effect: say so to whoever
// owns the data). It reports whether there was one.
func Skip(ctx context.Context, pool *pgxpool.Pool, name string) (bool, error) {
	return resolve(ctx, pool, name, "skipped")
}

// Retry tells projector name to try its parked event again (after a fix
// is deployed). It reports whether there was one.
func Retry(ctx context.Context, pool *pgxpool.Pool, name string) (bool, error) {
	return resolve(ctx, pool, name, "retry")
}

func resolve(ctx context.Context, pool *pgxpool.Pool, name, resolution string) (bool, error) {
	tag, err := pool.Exec(ctx, `UPDATE projector_parked SET resolution = $2, resolved_at = now()
		WHERE projector = $1 AND resolution IS NULL`, name, resolution)
	if err != nil {
		return false, fmt.Errorf("projections: %s %s: %w", resolution, name, err)
	}
	return tag.RowsAffected() > 0, nil
}
