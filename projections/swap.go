// The swap: a rebuild's copies take the live tables' place in one
// transaction, at the live projectors' checkpoints.

package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// liveCheckpoints locks (FOR UPDATE, or FOR SHARE) and reads the
// checkpoints of ps, in name order.
func liveCheckpoints(ctx context.Context, tx pgx.Tx, ps []Projector, lock string) (map[string]Checkpoint, error) {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := tx.Exec(ctx, `INSERT INTO projector_checkpoints (consumer_group, offset_acked, last_processed_transaction_id)
			VALUES ($1, 0, '0') ON CONFLICT (consumer_group) DO NOTHING`, n); err != nil {
			return nil, err
		}
	}
	rows, err := tx.Query(ctx, `SELECT consumer_group, offset_acked, last_processed_transaction_id::text
		FROM projector_checkpoints WHERE consumer_group = ANY($1) ORDER BY consumer_group `+lock, names)
	if err != nil {
		return nil, err
	}
	out := map[string]Checkpoint{}
	for rows.Next() {
		var name, xid string
		var c Checkpoint
		if err := rows.Scan(&name, &c.Position, &xid); err != nil {
			return nil, err
		}
		if _, err := fmt.Sscan(xid, &c.TransactionID); err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, rows.Err()
}

// swap brings each shadow copy exactly to its live projector's
// checkpoint (or moves the checkpoint up to the copy's) and renames the
// copies into place, in one transaction holding the checkpoint rows.
//
// Before it takes those rows it waits for the live tables' vacuums (see
// lockOutVacuums) and catches the copies up with what was committed
// meanwhile, so that the live projectors, and the reads waiting for
// them, stand still only for the swap's own few statements.
func swap(ctx context.Context, opts RebuildOptions, at Checkpoint, tables []TableInfo) (underLock int64, err error) {
	tx, err := opts.Pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := lockOutVacuums(ctx, tx, tables); err != nil {
		return 0, err
	}
	// What was committed while it waited is applied to the copies on
	// another connection, the projectors still running, so that little
	// is left for the part that stops them.
	if at, err = catchUp(ctx, opts, at, Checkpoint{TransactionID: ^uint64(0)}); err != nil {
		return 0, err
	}
	live, err := liveCheckpoints(ctx, tx, opts.Projectors, "FOR UPDATE")
	if err != nil {
		return 0, err
	}
	for _, p := range opts.Projectors {
		l := live[p.Name]
		if at.Before(l) {
			_, n, err := applyRange(ctx, tx, opts, []Projector{p}, at, l)
			if err != nil {
				return 0, err
			}
			underLock = max(underLock, n)
			continue
		}
		// The copy passed the events from the live checkpoint to at: its
		// high position is the highest of theirs (a range of the key).
		if _, err := tx.Exec(ctx, `UPDATE projector_checkpoints SET offset_acked = $2,
			last_processed_transaction_id = $3::text::xid8, updated_at = now(),
			high_position = greatest(high_position, $2, (SELECT max(position) FROM events
				WHERE (transaction_id, position) > ($5::text::xid8, $4) AND (transaction_id, position) <= ($3::text::xid8, $2)))
			WHERE consumer_group = $1`,
			p.Name, at.Position, at.xid(), l.Position, l.xid()); err != nil {
			return 0, err
		}
	}
	for _, t := range tables {
		if err := swapTable(ctx, tx, t.Name); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return underLock, dropRetired(ctx, opts, tables)
}

// retiredSuffix names a live table the swap has replaced, from the swap's
// commit until dropRetired drops it.
const retiredSuffix = "__retired"

func retired(table string) string { return table + retiredSuffix }

// dropRetired drops the tables a swap replaced, after its commit, so that
// whatever a DROP TABLE must wait for waits with no projector's
// checkpoint held: above all the old table's TOAST table, which LOCK
// TABLE cannot reach, so lockOutVacuums cannot keep its autovacuum out.
//
// It does not queue for the lock either. Every session whose cached plan
// names the old table locks it again (to find the plan stale) the next
// time it runs that plan, and a DROP waiting in the lock queue would hold
// them all behind it: the live projectors and the API's reads. So it
// drops a table only once no other session holds a lock on it or on its
// TOAST table, and then with a lock_timeout of retiredLockWait, trying
// again with back-off for up to retiredPatience. A table it could not
// drop stays under its retired name for the next rebuild to drop.
func dropRetired(ctx context.Context, opts RebuildOptions, tables []TableInfo) error {
	var errs []error
	opts.Progress("drop old", 0, int64(len(tables)))
	for i, t := range tables {
		if err := dropWhenUnheld(ctx, opts.Pool, retired(t.Name)); err != nil {
			errs = append(errs, err)
		}
		opts.Progress("drop old", int64(i+1), int64(len(tables)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("projections: the rebuilt tables are in place, but the old ones could not be dropped (the next rebuild drops them): %w", err)
	}
	return nil
}

const (
	retiredLockWait = 20 * time.Millisecond
	retiredPatience = time.Minute
)

func dropWhenUnheld(ctx context.Context, pool *pgxpool.Pool, table string) error {
	deadline := time.Now().Add(retiredPatience)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		var held bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_class c JOIN pg_locks l ON l.relation IN (c.oid, c.reltoastrelid)
			JOIN pg_database d ON d.oid = l.database AND d.datname = current_database()
			WHERE c.oid = to_regclass($1) AND l.pid <> pg_backend_pid())`, pgx.Identifier{table}.Sanitize()).Scan(&held)
		if err == nil && !held {
			err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, retiredLockWait.Milliseconds())); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{table}.Sanitize())
				return err
			})
			if err == nil {
				return nil
			}
		}
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "55P03") { // lock_not_available
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still in use after %s", table, retiredPatience)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// lockOutVacuums takes SHARE UPDATE EXCLUSIVE locks on the live tables
// for the rest of tx: the mode a VACUUM or an ANALYZE holds, which the
// projectors' writes (ROW EXCLUSIVE) and the API's reads (ACCESS SHARE)
// do not conflict with. So the wait for a vacuum under way happens while
// the projectors still run, and no vacuum starts on those tables between
// this wait and the swap's renames. PostgreSQL cancels an autovacuum
// that a lock request has waited for deadlock_timeout (1 s); a VACUUM
// someone ran by hand is waited for to its end. Without this, the swap's
// DROP TABLE (now a rename) waited for it while the swap held every
// projector's checkpoint: the projectors and the reads waiting for them
// stood still a second or more. A TOAST table's vacuum, which LOCK TABLE
// cannot reach, does not hold up a rename: only the drop of the old
// table after the commit (dropRetired) waits for it.
func lockOutVacuums(ctx context.Context, tx pgx.Tx, tables []TableInfo) error {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{t.Name}.Sanitize()
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN SHARE UPDATE EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("projections: waiting for vacuums of the live tables: %w", err)
	}
	return nil
}

// swapTable renames the live table (and its indexes) out of the way, to
// its retired name, and the shadow copy (and its indexes) to the live
// names; the views that read the table are created again on the copy,
// with their privileges. A rename takes no lock on the table's TOAST
// table, which a DROP TABLE would wait for with the checkpoints held.
func swapTable(ctx context.Context, tx pgx.Tx, table string) error {
	idx, err := indexesOf(ctx, tx, Shadow(table))
	if err != nil {
		return err
	}
	old, err := indexesOf(ctx, tx, table)
	if err != nil {
		return err
	}
	views, err := dependentViews(ctx, tx, table)
	if err != nil {
		return fmt.Errorf("projections: views of %s: %w", table, err)
	}
	autovacuum, err := autovacuumOf(ctx, tx, table)
	if err != nil {
		return fmt.Errorf("projections: autovacuum of %s: %w", table, err)
	}
	var stmts []string
	for _, v := range views {
		stmts = append(stmts, `DROP VIEW `+v.name)
	}
	stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, pgx.Identifier{table}.Sanitize(), pgx.Identifier{retired(table)}.Sanitize()))
	for _, ix := range old {
		stmts = append(stmts, renameIndex(retired(table), ix, ix.name+retiredSuffix))
	}
	stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, pgx.Identifier{Shadow(table)}.Sanitize(), pgx.Identifier{table}.Sanitize()))
	for _, ix := range idx {
		stmts = append(stmts, renameIndex(table, ix, strings.TrimSuffix(ix.name, shadowSuffix)))
	}
	stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s RESET (autovacuum_enabled, toast.autovacuum_enabled)`, pgx.Identifier{table}.Sanitize()))
	if len(autovacuum) > 0 {
		stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s SET (%s)`, pgx.Identifier{table}.Sanitize(), strings.Join(autovacuum, ", ")))
	}
	for _, v := range views {
		with := ""
		if v.options != "" {
			with = " WITH (" + v.options + ")"
		}
		stmts = append(stmts, `CREATE VIEW `+v.name+with+` AS `+strings.TrimSuffix(strings.TrimSpace(v.query), ";"))
		stmts = append(stmts, v.security...)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("projections: swap %s: %w", table, err)
		}
	}
	return nil
}

// renameIndex is the statement that renames index ix of table to name:
// a primary key through its constraint, which carries the index's name.
func renameIndex(table string, ix indexDef, name string) string {
	if ix.primary {
		return fmt.Sprintf(`ALTER TABLE %s RENAME CONSTRAINT %s TO %s`, pgx.Identifier{table}.Sanitize(),
			pgx.Identifier{ix.name}.Sanitize(), pgx.Identifier{name}.Sanitize())
	}
	return fmt.Sprintf(`ALTER INDEX %s RENAME TO %s`, pgx.Identifier{ix.name}.Sanitize(), pgx.Identifier{name}.Sanitize())
}

// autovacuumOf returns the autovacuum_enabled settings of table and of
// its TOAST table (as toast.autovacuum_enabled), for the copy that
// replaces it to keep them.
func autovacuumOf(ctx context.Context, tx pgx.Tx, table string) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT o FROM pg_class c, unnest(coalesce(c.reloptions, '{}')) o
		WHERE c.oid = $1::regclass AND o LIKE 'autovacuum\_enabled=%'
		UNION ALL
		SELECT 'toast.' || o FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid, unnest(coalesce(t.reloptions, '{}')) o
		WHERE c.oid = $1::regclass AND o LIKE 'autovacuum\_enabled=%'`, pgx.Identifier{table}.Sanitize())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
