package pgread_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The searches' trigram indexes merge new entries into the index while
// their pending list is still small (migrations/00120): every search
// reads the whole pending list, which by default grows to 4 MB.

// maxPendingPages is what a 256 kB gin_pending_list_limit allows.
const maxPendingPages = 32

func TestASearchIndexMergesNewEntriesBeforeTheyPileUp(t *testing.T) {
	t.Parallel()
	pool := newPlainPool(t, 2)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pgstattuple`); err != nil {
		t.Fatal(err) // contrib ships with the server: it is no optional part
	}
	org := uuid.New()
	// 400 new contacts and deals: some 40 trigrams each: 60 to 80 pages of
	// pending entries under the default limit.
	if _, err := pool.Exec(ctx, `
		INSERT INTO contacts (org_id, id, owner_id, name, email, phone, version, created_at, updated_at)
		SELECT $1, gen_random_uuid(), $1, 'Contact ' || md5(i::text), md5(i::text) || '@example.com', '+1 555 ' || i, 1, now(), now()
		FROM generate_series(1, 400) AS i`, org); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO deal_titles (org_id, id, title)
		SELECT $1, gen_random_uuid(), 'Deal ' || md5(i::text) || ' ' || md5((-i)::text) FROM generate_series(1, 400) AS i`, org); err != nil {
		t.Fatal(err)
	}
	for _, index := range searchIndexes(t, pool) {
		var pages int64
		if err := pool.QueryRow(ctx, `SELECT pending_pages FROM pgstatginindex($1::regclass)`, index).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if pages > maxPendingPages {
			t.Errorf("%s: %d pending pages after 400 rows; want at most %d (every search reads them all)", index, pages, maxPendingPages)
		}
	}
}

func TestEverySearchIndexBoundsItsPendingList(t *testing.T) {
	t.Parallel()
	checkPendingListBounded(t, newPlainPool(t, 2))
}

// checkPendingListBounded checks that every GIN index of the schema keeps
// a pending list of at most 256 kB (a rebuild's swapped-in indexes too).
func checkPendingListBounded(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	indexes := searchIndexes(t, pool)
	if len(indexes) == 0 {
		t.Fatal("no GIN index found: the searches have lost theirs")
	}
	for _, index := range indexes {
		var limit *int64
		if err := pool.QueryRow(context.Background(), `
			SELECT (SELECT split_part(o, '=', 2)::bigint FROM unnest(c.reloptions) AS o WHERE o LIKE 'gin_pending_list_limit=%')
			FROM pg_class c WHERE c.oid = $1::regclass`, index).Scan(&limit); err != nil {
			t.Fatal(err)
		}
		switch {
		case limit == nil:
			t.Errorf("%s: gin_pending_list_limit is the default 4 MB; want at most 256 kB (every search reads the whole pending list)", index)
		case *limit > 256:
			t.Errorf("%s: gin_pending_list_limit %d kB; want at most 256", index, *limit)
		}
	}
}

// searchIndexes names the GIN indexes of the current schema.
func searchIndexes(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT c.relname::text FROM pg_class c JOIN pg_am am ON am.oid = c.relam
		WHERE am.amname = 'gin' AND c.relnamespace = current_schema()::regnamespace ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}
