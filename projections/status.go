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
}

const statusSQL = `
SELECT coalesce(c.offset_acked, 0), b.n, coalesce(extract(epoch FROM now() - b.oldest), 0)
FROM (SELECT $1::text AS g) q
LEFT JOIN projector_checkpoints c ON c.consumer_group = q.g
CROSS JOIN LATERAL (
	SELECT count(*) AS n, min(recorded_at) AS oldest FROM (
		SELECT recorded_at FROM events
		WHERE c.consumer_group IS NULL
		   OR (transaction_id, position) > (c.last_processed_transaction_id, c.offset_acked)
		ORDER BY transaction_id, position
		LIMIT 100000
	) pending
) b`

// ReadStatus reports each named projector's position, backlog and lag.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool, names []string) ([]Status, error) {
	out := make([]Status, 0, len(names))
	for _, n := range names {
		s := Status{Name: n}
		var lag float64
		if err := pool.QueryRow(ctx, statusSQL, n).Scan(&s.Position, &s.Backlog, &lag); err != nil {
			return nil, fmt.Errorf("projections: status of %s: %w", n, err)
		}
		s.LagSeconds = float64(time.Duration(lag*float64(time.Second)).Round(time.Millisecond)) / float64(time.Second)
		out = append(out, s)
	}
	return out, nil
}
