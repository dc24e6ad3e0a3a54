package projections

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/testenv"
)

// logRows are events whose columns test the decoder's edges: timestamps
// before PostgreSQL's epoch and far after it, microseconds, metadata
// left at its default, escapes and non-ASCII text in the JSON.
const logRows = `
INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, schema_version, payload, metadata, occurred_at)
VALUES
  (gen_random_uuid(), gen_random_uuid(), 'deal', gen_random_uuid(), 1, 'DealCreated', 1,
   '{"title": "Ünïcödé \"quoted\" \\ back", "amount": "12.50"}', '{"actor_id": "7b0a4c43-4a52-4c59-9d7e-1d1d2d0d5e11", "request_id": "r-1"}',
   '1999-12-31 23:59:59.999999+00'),
  (gen_random_uuid(), gen_random_uuid(), 'contact', gen_random_uuid(), 7, 'ContactRenamed', 2,
   '{"name": "x"}', DEFAULT, '2262-04-11 23:47:16.854775+00'),
  (gen_random_uuid(), gen_random_uuid(), 'deal', gen_random_uuid(), 2147483647, 'DealStageChanged', 1,
   '{}', '{}', '2026-12-03 08:00:00.000001+05:30')`

// awaitHorizon waits until the log's n events lie below the snapshot
// xmin, which a transaction anywhere in the cluster (another test's
// CREATE DATABASE) holds back for a moment.
func awaitHorizon(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var visible int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM events
			WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())`).Scan(&visible); err != nil {
			t.Fatal(err)
		}
		if visible == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events below the snapshot xmin after 10s", visible, n)
		}
	}
}

// readRaw reads the log from its start with pollSQL through q and scans
// every row with scanRaw, reporting whether each row came in the formats
// scanRaw decodes itself.
func readRaw(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, formats ...any) (got []rawItem, fast []bool) {
	t.Helper()
	rows, err := q.Query(t.Context(), pollSQL, append(formats, "0", int64(0), 100)...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var a arena
	for rows.Next() {
		fast = append(fast, wireFormats(rows.FieldDescriptions(), rows.RawValues()))
		r, err := scanRaw(rows, &a)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got, fast
}

// The log's rows decoded from their binary wire values equal what pgx's
// Scan makes of the same rows sent as text.
func TestScanningTheLogsWireValuesEqualsPgxScan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := testenv.Postgres(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, logRows); err != nil {
		t.Fatal(err)
	}
	awaitHorizon(t, pool, 3)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol // every column as text
	text, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(text.Close)

	decoded, fast := readRaw(t, pool)
	// jsonb in the binary format too (pgx asks for text by default).
	binary := pgx.QueryResultFormatsByOID{pgtype.Int8OID: pgx.BinaryFormatCode, pgtype.Int4OID: pgx.BinaryFormatCode,
		pgtype.UUIDOID: pgx.BinaryFormatCode, pgtype.TimestamptzOID: pgx.BinaryFormatCode,
		pgtype.TextOID: pgx.BinaryFormatCode, pgtype.JSONBOID: pgx.BinaryFormatCode}
	binaryJSON, fastBinary := readRaw(t, pool, binary)
	scanned, slow := readRaw(t, text)
	if len(decoded) != 3 || len(binaryJSON) != 3 || len(scanned) != 3 {
		t.Fatalf("read %d, %d and %d events, want 3 each", len(decoded), len(binaryJSON), len(scanned))
	}
	for i := range decoded {
		if !fast[i] || !fastBinary[i] || slow[i] {
			t.Fatalf("row %d: decoded itself %v and %v through the prepared statement and %v through the simple protocol, want true, true and false",
				i, fast[i], fastBinary[i], slow[i])
		}
		if !reflect.DeepEqual(decoded[i], scanned[i]) {
			t.Errorf("row %d:\n decoded %+v\n scanned %+v", i, decoded[i], scanned[i])
		}
		if !reflect.DeepEqual(binaryJSON[i], scanned[i]) {
			t.Errorf("row %d, jsonb in binary:\n decoded %+v\n scanned %+v", i, binaryJSON[i], scanned[i])
		}
	}
	if decoded[0].StreamType != "deal" || decoded[0].Version != 1 || string(decoded[1].metadata) != "{}" ||
		decoded[0].OccurredAt.UnixMicro() != 946684799999999 || decoded[2].Version != 2147483647 {
		t.Errorf("decoded wrong values: %+v", decoded)
	}
}

// Values scanRaw does not decode itself go through pgx's Scan: a
// timestamp at infinity (which pgx refuses for a time.Time).
func TestScanningAnInfiniteTimestampFallsBackToPgx(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, occurred_at)
		VALUES (gen_random_uuid(), gen_random_uuid(), 'deal', gen_random_uuid(), 1, 'DealCreated', '{}', 'infinity')`); err != nil {
		t.Fatal(err)
	}
	awaitHorizon(t, pool, 1)
	rows, err := pool.Query(ctx, pollSQL, "0", int64(0), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatal("no row")
	}
	if wireFormats(rows.FieldDescriptions(), rows.RawValues()) {
		t.Fatal("an infinite timestamp taken for one to decode")
	}
	if _, err := scanRaw(rows, nil); err == nil {
		t.Fatal("an infinite occurred_at scanned without an error")
	}
}

// The arena's copies are independent of their source and of each other,
// however full a block gets.
func TestArenaCopiesStayIntact(t *testing.T) {
	t.Parallel()
	var a arena
	var copies [][]byte
	src := make([]byte, arenaBlock/3+1)
	for i := range 10 {
		for j := range src {
			src[j] = byte(i)
		}
		copies = append(copies, a.copy(src))
	}
	big := a.copy(make([]byte, arenaBlock*2))
	for i, c := range copies {
		if len(c) != len(src) || c[0] != byte(i) || c[len(c)-1] != byte(i) {
			t.Fatalf("copy %d changed: len %d, first %d, last %d", i, len(c), c[0], c[len(c)-1])
		}
		if cap(c) != len(c) {
			t.Fatalf("copy %d can grow into its neighbour (cap %d > len %d)", i, cap(c), len(c))
		}
	}
	if len(big) != arenaBlock*2 {
		t.Fatalf("a value larger than a block: len %d", len(big))
	}
}
