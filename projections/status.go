package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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

const statusSQL = `
SELECT coalesce(c.offset_acked, 0), b.n, coalesce(extract(epoch FROM now() - b.oldest), 0), coalesce(c.owner, '')
FROM (SELECT $1::text AS g) q
LEFT JOIN projector_checkpoints c ON c.consumer_group = q.g
CROSS JOIN LATERAL (
	SELECT count(*) AS n, min(recorded_at) AS oldest FROM (
		SELECT recorded_at FROM events
		WHERE (transaction_id, position) > (coalesce(c.last_processed_transaction_id, '0'), coalesce(c.offset_acked, 0))
		ORDER BY transaction_id, position
		LIMIT 100000
	) pending
) b`

// ReadStatus reports each named projector's position, backlog, lag and
// parked events.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool, names []string) ([]Status, error) {
	out := make([]Status, 0, len(names))
	for _, n := range names {
		s := Status{Name: n}
		var lag float64
		if err := pool.QueryRow(ctx, statusSQL, n).Scan(&s.Position, &s.Backlog, &lag, &s.Owner); err != nil {
			return nil, fmt.Errorf("projections: status of %s: %w", n, err)
		}
		s.LagSeconds = float64(time.Duration(lag*float64(time.Second)).Round(time.Millisecond)) / float64(time.Second)
		rows, err := pool.Query(ctx, `SELECT event_id::text, position, event_type, error, attempts, parked_at
			FROM projector_parked WHERE projector = $1 AND resolution IS NULL ORDER BY transaction_id, position`, n)
		if err != nil {
			return nil, fmt.Errorf("projections: parked events of %s: %w", n, err)
		}
		if s.Parked, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Parked, error) {
			var p Parked
			err := r.Scan(&p.EventID, &p.Position, &p.EventType, &p.Error, &p.Attempts, &p.ParkedAt)
			return p, err
		}); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
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
