// Verify's comparison of the live read models with their rebuilt copies.

package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// waitLive waits until every live projector has reached at, so that the
// live tables can be compared with copies at the same point.
func waitLive(ctx context.Context, opts RebuildOptions, at Checkpoint) error {
	deadline := time.Now().Add(opts.CatchUpTimeout)
	for {
		tx, err := opts.Pool.Begin(ctx)
		if err != nil {
			return err
		}
		live, err := liveCheckpoints(ctx, tx, opts.Projectors, "")
		_ = tx.Rollback(ctx)
		if err != nil {
			return err
		}
		behind := ""
		for _, p := range opts.Projectors {
			if live[p.Name].Before(at) {
				behind = p.Name
			}
		}
		if behind == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projections: live projector %s did not reach the rebuilt position within %v (is the server running its projectors?)", behind, opts.CatchUpTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// compareAtCheckpoint brings the copies to the live checkpoints (holding
// them with FOR SHARE) and compares every table row for row, then rolls
// back.
func compareAtCheckpoint(ctx context.Context, opts RebuildOptions, at Checkpoint, tables []TableInfo) ([]string, error) {
	tx, err := opts.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	live, err := liveCheckpoints(ctx, tx, opts.Projectors, "FOR SHARE")
	if err != nil {
		return nil, err
	}
	for _, p := range opts.Projectors {
		if l := live[p.Name]; at.Before(l) {
			if _, _, err := applyRange(ctx, tx, opts, []Projector{p}, at, l); err != nil {
				return nil, err
			}
		}
	}
	var diffs []string
	for _, t := range tables {
		d, err := compareTable(ctx, tx, t)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, d...)
	}
	return diffs, nil
}

// compareTable lists the keys of rows that differ between a live table
// and its copy (counter rows at zero count as absent).
func compareTable(ctx context.Context, tx pgx.Tx, t TableInfo) ([]string, error) {
	cols := strings.Join(t.Columns, ", ")
	filter := "true"
	if t.Counter {
		// a zero row is the same as no row
		var nonzero []string
		for _, c := range t.Columns[len(t.Key):] {
			nonzero = append(nonzero, c+" <> 0")
		}
		filter = strings.Join(nonzero, " OR ")
	}
	q := fmt.Sprintf(`
		WITH a AS (SELECT %[1]s FROM %[2]s WHERE %[4]s), b AS (SELECT %[1]s FROM %[3]s WHERE %[4]s)
		SELECT 'only live', %[5]s FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b) d
		UNION ALL
		SELECT 'only rebuilt', %[5]s FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a) d
		LIMIT 20`, cols, pgx.Identifier{t.Name}.Sanitize(), pgx.Identifier{Shadow(t.Name)}.Sanitize(), filter,
		"concat_ws('/', "+strings.Join(t.Key, ", ")+")")
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("projections: compare %s: %w", t.Name, err)
	}
	var out []string
	for rows.Next() {
		var side, key string
		if err := rows.Scan(&side, &key); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s: %s row %s", t.Name, side, key))
	}
	return out, rows.Err()
}
