package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// CheckLogOrder refuses a database whose event log is ahead of its own
// transaction counter. Events are read in (transaction_id, position)
// order, and transaction ids are physical: a dump restored into another
// cluster (or a logical copy) keeps the old ids while the new cluster
// hands out smaller ones, so every new event would sort before the
// projectors' checkpoints and be skipped silently. Started on such a
// database, the server stops with the way out instead.
func CheckLogOrder(ctx context.Context, pool *pgxpool.Pool) error {
	var maxStored, next string
	var behind bool
	err := pool.QueryRow(ctx, `
		SELECT coalesce((SELECT transaction_id FROM events ORDER BY transaction_id DESC LIMIT 1), '0')::text,
		       pg_snapshot_xmax(pg_current_snapshot())::text,
		       coalesce((SELECT transaction_id FROM events ORDER BY transaction_id DESC LIMIT 1), '0')
		           >= pg_snapshot_xmax(pg_current_snapshot())`).Scan(&maxStored, &next, &behind)
	if err != nil {
		return fmt.Errorf("projections: checking the event log's order: %w", err)
	}
	if behind {
		return fmt.Errorf("the event log holds transaction ids up to %s but this PostgreSQL cluster's next one is %s: "+
			"the database was restored or copied from another cluster, and new events would sort before the old ones. "+
			"Stop PostgreSQL and advance its transaction counter past the stored ids "+
			"(pg_resetwal -e EPOCH -x NEXTXID, see README \"Backups and restores\"), then start again", maxStored, next)
	}
	return nil
}
