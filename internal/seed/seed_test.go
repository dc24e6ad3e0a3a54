package seed_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/aggregates"
	"example.com/crm/events"
	"example.com/crm/internal/seed"
	"example.com/crm/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// A small seed produces valid streams: every stream's versions run 1..n
// without gaps, and replaying it through its aggregate decodes every
// event and yields the entity it names.
func TestSmallSeedProducesValidStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	res, err := seed.Run(ctx, pool, seed.Options{
		Contacts: 20, Deals: 40, Tasks: 60, MinEvents: 400, BigDealEvents: 50, SmallOrgDivisor: 4,
		Password: "seed-test-password", PasswordCost: 4, RandSeed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Main.Events < 400 || res.Main.BigDeal == uuid.Nil || res.Small == nil {
		t.Fatalf("seed result: %+v", res)
	}

	reg := events.Domain()
	rows, err := pool.Query(ctx, `SELECT tenant_id, stream_type, stream_id, version, event_type, schema_version, payload, occurred_at
		FROM events WHERE stream_type IN ('contact', 'deal', 'task') ORDER BY tenant_id, stream_id, version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type key struct{ tenant, stream uuid.UUID }
	streams := map[key][]events.Event{}
	var order []key
	for rows.Next() {
		var e events.Event
		var body []byte
		if err := rows.Scan(&e.TenantID, &e.StreamType, &e.StreamID, &e.Version, &e.Type, &e.SchemaVersion, &body, &e.OccurredAt); err != nil {
			t.Fatal(err)
		}
		if e.Data, err = reg.Decode(e.Type, e.SchemaVersion, body); err != nil {
			t.Fatalf("stream %s v%d: %v", e.StreamID, e.Version, err)
		}
		k := key{e.TenantID, e.StreamID}
		if _, ok := streams[k]; !ok {
			order = append(order, k)
		}
		streams[k] = append(streams[k], e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, k := range order {
		evs := streams[k]
		total += len(evs)
		var last time.Time
		for i, e := range evs {
			if e.Version != i+1 {
				t.Fatalf("stream %s: event %d has version %d", k.stream, i+1, e.Version)
			}
			if e.OccurredAt.Before(last) {
				t.Fatalf("stream %s: v%d occurred before v%d", k.stream, e.Version, e.Version-1)
			}
			last = e.OccurredAt
		}
		var id uuid.UUID
		switch evs[0].StreamType {
		case events.StreamContact:
			var c aggregates.Contact
			aggregates.Replay(&c, evs)
			id = c.ID
		case events.StreamDeal:
			var d aggregates.Deal
			aggregates.Replay(&d, evs)
			id = d.ID
			if d.ID == res.Main.BigDeal && d.Version != 50 {
				t.Errorf("big deal has %d events, want 50", d.Version)
			}
		case events.StreamTask:
			var tk aggregates.Task
			aggregates.Replay(&tk, evs)
			id = tk.ID
		}
		if id != k.stream {
			t.Errorf("%s stream %s replays to entity %s", evs[0].StreamType, k.stream, id)
		}
	}
	if total != res.Events {
		t.Errorf("loaded %d sales events, the table holds %d", res.Events, total)
	}
	var members int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM memberships WHERE org_id = $1", res.Main.ID).Scan(&members); err != nil {
		t.Fatal(err)
	}
	if members != 4 {
		t.Errorf("main organization has %d members, want 4 (owner, admin, manager, member)", members)
	}
}
