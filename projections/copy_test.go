package projections_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"example.com/crm/projections"
)

// copyRow has a field of every kind the read models hold, and one (a
// date) that COPY leaves to pgx's own encoding.
type copyRow struct {
	OrgID   uuid.UUID       `db:"org_id" json:"org_id"`
	ID      uuid.UUID       `db:"id" json:"id"`
	Author  *uuid.UUID      `db:"author" json:"author"`
	Name    string          `db:"name" json:"name"`
	Note    *string         `db:"note" json:"note"`
	Amount  int64           `db:"amount" json:"amount"`
	Version int             `db:"version" json:"version"`
	Big     int             `db:"big" json:"big"`
	Done    bool            `db:"done" json:"done"`
	At      time.Time       `db:"at" json:"at"`
	Closed  *time.Time      `db:"closed" json:"closed"`
	Payload json.RawMessage `db:"payload" json:"payload"`
	Due     pgtype.Date     `db:"due" json:"due"`
}

const copyTableSQL = `(
	org_id uuid NOT NULL, id uuid NOT NULL, author uuid, name text NOT NULL, note varchar(80),
	amount bigint NOT NULL, version integer NOT NULL, big bigint NOT NULL, done boolean NOT NULL,
	at timestamptz NOT NULL, closed timestamptz, payload jsonb, due date,
	PRIMARY KEY (org_id, id))`

// A row written by the rebuild's COPY reads back exactly as the live
// path's upsert writes it: every column kind, NULLs, awkward text, and a
// type COPY hands to pgx.
func TestCopyWritesWhatTheLivePathWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"copied", "upserted"} {
		if _, err := e.pool.Exec(ctx, `CREATE TABLE `+name+` `+copyTableSQL); err != nil {
			t.Fatal(err)
		}
	}
	author, note := uuid.New(), "tab\there, a newline\nand a backslash \\ — ünïcode"
	closed := time.Date(2026, 3, 1, 9, 30, 0, 123_456_000, time.FixedZone("CET", 3600)) // whole microseconds: text input rounds, COPY truncates
	rows := []*copyRow{
		{OrgID: e.tenant, ID: uuid.New(), Author: &author, Name: "Ada", Note: &note, Amount: -12_345_678_901, Version: 2_147_483_647,
			Big: 1 << 40, Done: true, At: time.Date(1999, 12, 31, 23, 59, 59, 999_999_000, time.UTC), Closed: &closed,
			Payload: json.RawMessage(`{"text": "hi", "n": [1, 2.5, null]}`), Due: pgtype.Date{Time: time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), Valid: true}},
		{OrgID: e.tenant, ID: uuid.New(), Name: "", At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Version: -1},
	}
	tbl := projections.NewTable("copied", [2]string{"org_id", "id"}, func(r *copyRow) projections.Key { return projections.Key{Org: r.OrgID, ID: r.ID} })

	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	n, err := tbl.Copy(ctx, conn.Conn(), projections.Live, rows)
	if err != nil || n != int64(len(rows)) {
		t.Fatalf("copy: %d rows, %v", n, err)
	}
	b := &pgx.Batch{}
	if err := tbl.QueueUpsert(b, func(string) string { return "upserted" }, rows); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}

	var differ, copied int
	if err := e.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM ((TABLE copied EXCEPT TABLE upserted) UNION ALL (TABLE upserted EXCEPT TABLE copied)) d),
		(SELECT count(*) FROM copied)`).Scan(&differ, &copied); err != nil {
		t.Fatal(err)
	}
	if differ != 0 || copied != len(rows) {
		t.Fatalf("%d rows copied, %d differ from the upserted ones", copied, differ)
	}
	var got string
	if err := e.pool.QueryRow(ctx, `SELECT note FROM copied WHERE id = $1`, rows[0].ID).Scan(&got); err != nil || got != note {
		t.Fatalf("note read back as %q (%v)", got, err)
	}

	// A value its column cannot hold fails the COPY, naming the table.
	if _, err := e.pool.Exec(ctx, `TRUNCATE copied`); err != nil {
		t.Fatal(err)
	}
	_, err = tbl.Copy(ctx, conn.Conn(), projections.Live, []*copyRow{{OrgID: e.tenant, ID: uuid.New(), Version: 1 << 31}})
	if err == nil || !strings.Contains(err.Error(), "copied") || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("an int beyond integer: %v", err)
	}
}
