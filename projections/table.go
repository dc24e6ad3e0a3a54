package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Key identifies one read-model row: the organization leads every key.
type Key struct{ Org, ID uuid.UUID }

// Names maps a read model's logical table names to the physical tables a
// fold writes: themselves on the live path, shadow copies on a rebuild.
type Names func(table string) string

// Live is the identity mapping: the tables queries read.
func Live(table string) string { return table }

// Shadow maps every table to its rebuild copy.
func Shadow(table string) string { return table + shadowSuffix }

const shadowSuffix = "__rebuild"

// Table is one read-model table whose rows are Go values of type R. The
// columns are R's `db` tags, in field order, and every field has an equal
// `json` tag: rows are loaded with pgx's struct scanning and written
// set-wise as one JSON array (jsonb_populate_recordset), or with COPY on
// a rebuild. Writing a whole batch is one statement whatever its size.
type Table[R any] struct {
	Name    string
	KeyCols [2]string
	Key     func(*R) Key
	cols    []string
	fields  []int
}

// NewTable describes table name with key columns keyCols of rows R.
func NewTable[R any](name string, keyCols [2]string, key func(*R) Key) *Table[R] {
	t := &Table[R]{Name: name, KeyCols: keyCols, Key: key}
	rt := reflect.TypeFor[R]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		db := f.Tag.Get("db")
		if db == "" {
			continue
		}
		if js, _, _ := strings.Cut(f.Tag.Get("json"), ","); js != db {
			panic(fmt.Sprintf("projections: %s.%s: json tag %q must equal db tag %q", rt.Name(), f.Name, js, db))
		}
		t.cols = append(t.cols, db)
		t.fields = append(t.fields, i)
	}
	return t
}

// Columns lists the table's columns in R's field order.
func (t *Table[R]) Columns() []string { return t.cols }

// Info describes the table for rebuilds and verification.
func (t *Table[R]) Info() TableInfo {
	return TableInfo{Name: t.Name, Key: t.KeyCols[:], Columns: t.cols}
}

// QueueLoad queues on b the read of the rows of keys from the physical
// table names(t.Name); got receives them when b runs.
func (t *Table[R]) QueueLoad(b *pgx.Batch, names Names, keys []Key, got func([]*R)) {
	if len(keys) == 0 {
		return
	}
	orgs, ids := make([]uuid.UUID, len(keys)), make([]uuid.UUID, len(keys))
	for i, k := range keys {
		orgs[i], ids[i] = k.Org, k.ID
	}
	sql := fmt.Sprintf(`SELECT %s FROM %s t JOIN unnest($1::uuid[], $2::uuid[]) AS k(a, b)
		ON t.%s = k.a AND t.%s = k.b`, t.selectList("t."), pgx.Identifier{names(t.Name)}.Sanitize(),
		t.KeyCols[0], t.KeyCols[1])
	t.queueQuery(b, got, sql, orgs, ids)
}

// QueueLoadWhere queues the read of the rows matching a condition over
// parameters args (for effects keyed by something else than the key,
// such as the tasks of a deleted deal). cond refers to the table as t.
func (t *Table[R]) QueueLoadWhere(b *pgx.Batch, names Names, got func([]*R), cond string, args ...any) {
	sql := fmt.Sprintf(`SELECT %s FROM %s t WHERE %s`, t.selectList("t."), pgx.Identifier{names(t.Name)}.Sanitize(), cond)
	t.queueQuery(b, got, sql, args...)
}

func (t *Table[R]) queueQuery(b *pgx.Batch, got func([]*R), sql string, args ...any) {
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		rs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[R])
		if err != nil {
			return fmt.Errorf("load %s: %w", t.Name, err)
		}
		got(rs)
		return nil
	})
}

func (t *Table[R]) selectList(prefix string) string {
	parts := make([]string, len(t.cols))
	for i, c := range t.cols {
		parts[i] = prefix + c
	}
	return strings.Join(parts, ", ")
}

// QueueUpsert adds one statement to b that writes rows (insert, or
// replace every column of the existing row).
func (t *Table[R]) QueueUpsert(b *pgx.Batch, names Names, rows []*R) error {
	if len(rows) == 0 {
		return nil
	}
	return queueUpsert(b, t.Name, names, t.KeyCols, t.cols, rows)
}

// QueueUpsertFresh is QueueUpsert for rows among which those of fresh
// were taken to be new without being read (see StreamKeys): the same
// one statement, which fails the transaction (CR011) should one of them
// exist after all. Writing over that row would count it twice in the
// counters derived from it; the engine applies the batch again with
// every row read instead (Doubter), which is a replay of events applied
// before, after a checkpoint was moved back.
func (t *Table[R]) QueueUpsertFresh(b *pgx.Batch, names Names, rows []*R, fresh []Key) error {
	if len(fresh) == 0 {
		return t.QueueUpsert(b, names, rows)
	}
	sql, body, err := upsert(t.Name, names, t.KeyCols, t.cols, rows)
	if err != nil {
		return err
	}
	orgs, ids := make([]uuid.UUID, len(fresh)), make([]uuid.UUID, len(fresh))
	for i, k := range fresh {
		orgs[i], ids[i] = k.Org, k.ID
	}
	k0, k1 := t.KeyCols[0], t.KeyCols[1]
	b.Queue(fmt.Sprintf(`WITH w AS (%s RETURNING %s, %s, xmax = 0 AS inserted)
		SELECT crm_fail('CR011', %s, w.%s::text) FROM w JOIN unnest($2::uuid[], $3::uuid[]) AS f(a, b) ON w.%s = f.a AND w.%s = f.b
		WHERE NOT w.inserted`, sql, k0, k1,
		quoteLiteral("read model "+names(t.Name)+" already holds a row of a stream whose first event comes after its checkpoint"),
		k1, k0, k1), body, orgs, ids)
	return nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// queueUpsert adds one statement to b that writes rows, marshalled as a
// JSON array of objects of cols (the key's two among them), into the
// physical table names(table): an insert, or a replacement of every
// column but the key.
func queueUpsert(b *pgx.Batch, table string, names Names, key [2]string, cols []string, rows any) error {
	sql, body, err := upsert(table, names, key, cols, rows)
	if err != nil {
		return err
	}
	b.Queue(sql, body)
	return nil
}

// upsert returns queueUpsert's statement and its parameter ($1).
func upsert(table string, names Names, key [2]string, cols []string, rows any) (sql, body string, err error) {
	js, err := json.Marshal(rows)
	if err != nil {
		return "", "", fmt.Errorf("upsert %s: %w", table, err)
	}
	set := make([]string, 0, len(cols))
	for _, c := range cols {
		if c != key[0] && c != key[1] {
			set = append(set, c+" = EXCLUDED."+c)
		}
	}
	name := pgx.Identifier{names(table)}.Sanitize()
	list := strings.Join(cols, ", ")
	return fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1::jsonb)
		ON CONFLICT (%s, %s) DO UPDATE SET %s`, name, list, list, name, key[0], key[1], strings.Join(set, ", ")), string(js), nil
}

// QueueInsert adds one statement to b that inserts rows, leaving rows
// already there as they are (insert-only tables: a replay adds nothing).
func (t *Table[R]) QueueInsert(b *pgx.Batch, names Names, rows []*R) error {
	if len(rows) == 0 {
		return nil
	}
	body, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("insert %s: %w", t.Name, err)
	}
	name := pgx.Identifier{names(t.Name)}.Sanitize()
	cols := t.selectList("")
	b.Queue(fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1::jsonb)
		ON CONFLICT (%s, %s) DO NOTHING`, name, cols, cols, name, t.KeyCols[0], t.KeyCols[1]), string(body))
	return nil
}

// Copy writes rows into the (empty, index-less) physical table with COPY
// (copy.go): the rebuild path.
func (t *Table[R]) Copy(ctx context.Context, conn *pgx.Conn, names Names, rows []*R) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	i := 0
	n, err := t.copyRows(ctx, conn, names(t.Name), func() (*R, bool) {
		if i == len(rows) {
			return nil, false
		}
		i++
		return rows[i-1], true
	})
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", t.Name, err)
	}
	return n, nil
}

// CopyStream writes the rows received on chunks into the (empty,
// index-less) physical table with one COPY, until chunks is closed: the
// rebuild path of an append-only table, whose rows are final as soon as
// they are folded, so they need not wait in memory for the fold's end.
func (t *Table[R]) CopyStream(ctx context.Context, conn *pgx.Conn, names Names, chunks <-chan []*R) (int64, error) {
	var cur []*R
	n, err := t.copyRows(ctx, conn, names(t.Name), func() (*R, bool) {
		for len(cur) == 0 {
			next, ok := <-chunks
			if !ok {
				return nil, false
			}
			cur = next
		}
		row := cur[0]
		cur = cur[1:]
		return row, true
	})
	for range chunks { // on failure, let the sender finish
	}
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", t.Name, err)
	}
	return n, nil
}

// Counter accumulates signed changes to a counter table (a key and one
// or more summed columns), so a batch writes its counters in one
// statement: `n = n + delta` per key touched.
type Counter struct {
	Name    string
	KeyCols []string
	SumCols []string
	deltas  map[string]*counterRow
	order   []string
}

type counterRow struct {
	key  []any
	sums []int64
}

// NewCounter describes counter table name.
func NewCounter(name string, keyCols, sumCols []string) *Counter {
	return &Counter{Name: name, KeyCols: keyCols, SumCols: sumCols}
}

// Fresh returns an empty copy of c: a fold accumulates its own deltas.
func (c *Counter) Fresh() *Counter {
	return &Counter{Name: c.Name, KeyCols: c.KeyCols, SumCols: c.SumCols, deltas: map[string]*counterRow{}}
}

// Add adds sums (one per SumCols) to the row of key.
func (c *Counter) Add(key []any, sums ...int64) {
	k := fmt.Sprint(key...)
	r := c.deltas[k]
	if r == nil {
		r = &counterRow{key: key, sums: make([]int64, len(c.SumCols))}
		c.deltas[k] = r
		c.order = append(c.order, k)
	}
	for i, s := range sums {
		r.sums[i] += s
	}
}

// Queue adds the statement applying the accumulated deltas to b.
func (c *Counter) Queue(b *pgx.Batch, names Names) error {
	var rows []map[string]any
	for _, k := range c.order {
		r := c.deltas[k]
		zero := true
		for _, s := range r.sums {
			zero = zero && s == 0
		}
		if zero {
			continue
		}
		row := make(map[string]any, len(c.KeyCols)+len(c.SumCols))
		for i, col := range c.KeyCols {
			row[col] = r.key[i]
		}
		for i, col := range c.SumCols {
			row[col] = r.sums[i]
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil
	}
	body, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("counter %s: %w", c.Name, err)
	}
	name := pgx.Identifier{names(c.Name)}.Sanitize()
	cols := append(append([]string{}, c.KeyCols...), c.SumCols...)
	set := make([]string, len(c.SumCols))
	for i, s := range c.SumCols {
		set[i] = fmt.Sprintf("%s = c.%s + EXCLUDED.%s", s, s, s)
	}
	b.Queue(fmt.Sprintf(`INSERT INTO %s AS c (%s) SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1::jsonb)
		ON CONFLICT (%s) DO UPDATE SET %s`, name, strings.Join(cols, ", "), strings.Join(cols, ", "), name,
		strings.Join(c.KeyCols, ", "), strings.Join(set, ", ")), string(body))
	return nil
}

// Info describes the counter table for rebuilds and verification.
func (c *Counter) Info() TableInfo {
	return TableInfo{Name: c.Name, Key: c.KeyCols, Columns: append(append([]string{}, c.KeyCols...), c.SumCols...), Counter: true}
}

// sendBatch runs b (one round trip) and reports the first error.
func sendBatch(ctx context.Context, q interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return q.SendBatch(ctx, b).Close()
}
