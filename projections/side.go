package projections

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SideSpec derives a narrow table from a RowModel's rows: at most one row
// per base row, under the same key, written only when its own columns
// change. It carries an index that would otherwise cost every write of
// the base table: the deals' trigram index of their titles. A deal's
// stage or status change is not a HOT update (its sort indexes move), so
// every index of deals takes a new entry, and a trigram GIN entry is the
// dearest of them (≈ 30 % of the update, measured with pgbench), with a
// pending-list flush now and then that stalls one batch for ~100 ms.
// Titles change rarely; stages and statuses are what the pipeline moves.
type SideSpec[R any] struct {
	// Name is the side table; its key columns are the base table's.
	Name string
	// Columns are its other columns, in the order Of returns them.
	Columns []string
	// Of returns row's side row (the values of Columns), or false when
	// it has none (a deleted deal is not searched).
	Of func(row *R) ([]any, bool)
	// Derive is the rebuild's SELECT of the key columns and Columns from
	// the base table, written as %s.
	Derive string
}

// info describes the side table of base key columns key.
func (s SideSpec[R]) info(key [2]string) TableInfo {
	return TableInfo{Name: s.Name, Key: key[:], Columns: append(key[:], s.Columns...)}
}

// sideWrites collects one side table's changes during a flush.
type sideWrites struct {
	name    string
	key     [2]string
	cols    []string
	upserts []map[string]any
	deletes []Key
}

func newSideWrites[R any](s SideSpec[R], key [2]string) *sideWrites {
	return &sideWrites{name: s.Name, key: key, cols: s.Columns}
}

// change records the move of base row k's side row from before (had:
// there was one) to after (has: there is one), when it moved.
func (w *sideWrites) change(k Key, before []any, had bool, after []any, has bool) {
	switch {
	case had == has && (!has || reflect.DeepEqual(before, after)):
	case has:
		row := map[string]any{w.key[0]: k.Org, w.key[1]: k.ID}
		for i, c := range w.cols {
			row[c] = after[i]
		}
		w.upserts = append(w.upserts, row)
	default:
		w.deletes = append(w.deletes, k)
	}
}

// queue adds the side table's statements (at most an upsert and a
// delete) to b.
func (w *sideWrites) queue(b *pgx.Batch, names Names) error {
	if len(w.upserts) > 0 {
		if err := queueUpsert(b, w.name, names, w.key, append(w.key[:], w.cols...), w.upserts); err != nil {
			return err
		}
	}
	if len(w.deletes) > 0 {
		name := pgx.Identifier{names(w.name)}.Sanitize()
		orgs, ids := make([]uuid.UUID, len(w.deletes)), make([]uuid.UUID, len(w.deletes))
		for i, k := range w.deletes {
			orgs[i], ids[i] = k.Org, k.ID
		}
		b.Queue(fmt.Sprintf(`DELETE FROM %s s USING unnest($1::uuid[], $2::uuid[]) AS k(a, b) WHERE s.%s = k.a AND s.%s = k.b`,
			name, w.key[0], w.key[1]), orgs, ids)
	}
	return nil
}

// deriveSides fills the shadow side tables from the shadow base table
// (the rebuild's way to the same rows).
func deriveSides[R any](ctx context.Context, conn *pgx.Conn, names Names, base string, key [2]string, specs []SideSpec[R]) error {
	for _, s := range specs {
		sql := fmt.Sprintf(`INSERT INTO %s (%s) `+s.Derive, pgx.Identifier{names(s.Name)}.Sanitize(),
			strings.Join(append(key[:], s.Columns...), ", "), pgx.Identifier{names(base)}.Sanitize())
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("derive %s: %w", s.Name, err)
		}
	}
	return nil
}
