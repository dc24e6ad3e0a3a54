package sales_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm/projections/sales"
)

// The deals' title search lives in deal_titles (migrations/00080): a live
// deal's title, written when the deal is created, renamed or deleted and
// never on its other changes, so the stage and status changes the
// pipeline moves all day do not pay for a trigram index entry.
func TestDealTitlesChangeOnlyWithTheTitle(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	org, d := uuid.New(), uuid.New()
	runDeals(t, pool, sales.DealsProjector(), nil)

	// titleRow reads the deal's side row and the transaction that last
	// wrote it; ok is false when there is none.
	titleRow := func() (title, writtenBy string, ok bool) {
		t.Helper()
		err := pool.QueryRow(ctx, `SELECT title, xmin::text FROM deal_titles WHERE org_id = $1 AND id = $2`, org, d).Scan(&title, &writtenBy)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", "", false
		}
		if err != nil {
			t.Fatal(err)
		}
		return title, writtenBy, true
	}

	appendDealEvent(t, pool, org, d, 1, "deal.created", fmt.Sprintf(
		`{"deal_id":%q,"contact_id":%q,"owner_id":%q,"title":"Big Renewal","amount":"10.00","currency":"USD","status":"new","stage":"qualification"}`,
		d, uuid.New(), uuid.New()))
	dealTitle(t, pool, d, 1)
	title, created, ok := titleRow()
	if !ok || title != "Big Renewal" {
		t.Fatalf("after the creation: deal_titles has %q (%v), want \"Big Renewal\"", title, ok)
	}

	appendDealEvent(t, pool, org, d, 2, "deal.stage_changed", `{"old":"qualification","new":"proposal"}`)
	appendDealEvent(t, pool, org, d, 3, "deal.status_changed", `{"old":"new","new":"in_progress"}`)
	appendDealEvent(t, pool, org, d, 4, "deal.updated", `{"changes":{"amount":{"old":"10.00","new":"20.00"}}}`)
	dealTitle(t, pool, d, 4)
	if _, by, _ := titleRow(); by != created {
		t.Fatalf("a stage, status and amount change rewrote the deal's title row (written by %s, then %s)", created, by)
	}

	appendDealEvent(t, pool, org, d, 5, "deal.updated", `{"changes":{"title":{"old":"Big Renewal","new":"Bigger Renewal"}}}`)
	dealTitle(t, pool, d, 5)
	if title, by, _ := titleRow(); title != "Bigger Renewal" || by == created {
		t.Fatalf("after a rename: deal_titles has %q (written by %s), want \"Bigger Renewal\" rewritten", title, by)
	}

	appendDealEvent(t, pool, org, d, 6, "deal.deleted", `{}`)
	dealTitle(t, pool, d, 6)
	if title, _, ok := titleRow(); ok {
		t.Fatalf("a deleted deal is still searchable as %q", title)
	}

	// And deals itself carries no trigram index any more.
	var gin int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_am a ON a.oid = i.relam WHERE x.indrelid = 'deals'::regclass AND a.amname = 'gin'`).Scan(&gin); err != nil {
		t.Fatal(err)
	}
	if gin != 0 {
		t.Fatalf("deals has %d GIN indexes: every stage change pays for them", gin)
	}
}
