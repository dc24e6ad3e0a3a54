package pgread_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections"
	"example.com/crm/projections/sales"
	"example.com/crm/readapi"
	"example.com/crm/readapi/pgread"
)

// analyticsRows writes deals rows straight into a fresh database, and
// the counters derived from them, as the projector would.
type analyticsRows struct {
	t    *testing.T
	pool *pgxpool.Pool
	org  uuid.UUID
}

func newAnalyticsRows(t *testing.T) *analyticsRows {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &analyticsRows{t: t, pool: pool, org: uuid.New()}
}

type row struct {
	status, stage, furthest, currency string
	cents                             int64
	created                           time.Time
	deleted                           bool
}

func (a *analyticsRows) add(rows ...row) {
	a.t.Helper()
	for _, r := range rows {
		if r.furthest == "" {
			r.furthest = r.stage
		}
		if r.created.IsZero() {
			r.created = time.Now()
		}
		if _, err := a.pool.Exec(context.Background(), `
			INSERT INTO deals (org_id, id, contact_id, owner_id, title, status, stage, furthest_stage, currency,
			                   amount_cents, created_at, updated_at, deleted, version)
			VALUES ($1, $2, $3, $4, 'D', $5, $6, $7, $8, $9, $10, $10, $11, 1)`,
			a.org, uuid.New(), uuid.New(), uuid.New(), r.status, r.stage, r.furthest, r.currency, r.cents, r.created, r.deleted); err != nil {
			a.t.Fatal(err)
		}
	}
	// The aggregates, derived from the rows as a rebuild derives them
	// (the projector keeps them in step per batch).
	for _, q := range []string{
		`DELETE FROM deal_counts WHERE org_id = $1`,
		`DELETE FROM analytics_deal_reached WHERE org_id = $1`,
		`DELETE FROM analytics_deal_created WHERE org_id = $1`,
		`INSERT INTO deal_counts (org_id, status, stage, currency, n, total_cents)
		 SELECT org_id, status, stage, currency, count(*), sum(amount_cents)
		 FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2, 3, 4`,
		`INSERT INTO analytics_deal_reached SELECT org_id, furthest_stage, count(*)
		 FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2`,
		`INSERT INTO analytics_deal_created SELECT org_id, date_trunc('hour', created_at, 'UTC'), count(*)
		 FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2`,
	} {
		if _, err := a.pool.Exec(context.Background(), q, a.org); err != nil {
			a.t.Fatal(err)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDealSummaryFromTheAggregates(t *testing.T) {
	t.Parallel()
	a := newAnalyticsRows(t)
	a.add(
		row{status: "new", stage: "qualification", currency: "USD", cents: 10000},
		row{status: "new", stage: "proposal", currency: "USD", cents: 20000},
		row{status: "won", stage: "closed", currency: "USD", cents: 15000},
		row{status: "won", stage: "negotiation", currency: "USD", cents: 25001}, // average 200.005 → 200.01
		row{status: "won", stage: "closed", currency: "EUR", cents: 700},
		row{status: "lost", stage: "closed", currency: "EUR", cents: 5000},
		row{status: "lost", stage: "closed", currency: "USD", cents: 1, deleted: true}, // never counts
	)
	other := &analyticsRows{t: t, pool: a.pool, org: uuid.New()}
	other.add(row{status: "lost", stage: "closed", currency: "USD", cents: 1})
	if _, err := a.pool.Exec(context.Background(), `INSERT INTO projector_checkpoints (consumer_group, offset_acked, last_processed_transaction_id, high_position) VALUES ('deals', 1230, '77', 1234)`); err != nil {
		t.Fatal(err)
	}

	s, err := pgread.NewAnalytics(a.pool, nil).DealSummary(context.Background(), a.org)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"by_status":{"new":{"count":2,"total_amount":{"USD":"300.00"}},"in_progress":{"count":0,"total_amount":{}},` +
		`"won":{"count":3,"total_amount":{"EUR":"7.00","USD":"400.01"}},"lost":{"count":1,"total_amount":{"EUR":"50.00"}}},` +
		`"total_deals":6,"average_won_amount":{"EUR":"7.00","USD":"200.01"},"win_rate":75.0,` +
		`"new_deals_last_30_days":6,"as_of_position":1234}`
	if got := jsonOf(t, s); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}

	// An organization without deals: every key, nothing counted.
	s, err = pgread.NewAnalytics(a.pool, nil).DealSummary(context.Background(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if s.TotalDeals != 0 || s.WinRate != nil || s.AsOfPosition != 1234 {
		t.Fatalf("empty org: %s", jsonOf(t, s))
	}
	if _, err := pgread.NewAnalytics(a.pool, nil).DealSummary(context.Background(), uuid.Nil); !errors.Is(err, crm.ErrNoTenant) {
		t.Fatalf("no tenant: %v", err)
	}
}

// Sums are exact past what an int64 of cents holds.
func TestDealSummarySumsDoNotOverflow(t *testing.T) {
	t.Parallel()
	a := newAnalyticsRows(t)
	// Three won deals of 9 × 10^18 cents (far above what the API
	// accepts, which would take 100k deals to get there): their sum
	// passes the 9.2 × 10^18 of an int64.
	for range 3 {
		a.add(row{status: "won", stage: "closed", currency: "USD", cents: 9_000_000_000_000_000_001})
	}
	s, err := pgread.NewAnalytics(a.pool, nil).DealSummary(context.Background(), a.org)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ByStatus.Won.TotalAmount["USD"]; got != "270000000000000000.03" {
		t.Fatalf("total %s", got)
	}
	if got := s.AverageWonAmount["USD"]; got != "90000000000000000.01" {
		t.Fatalf("average %s", got)
	}
}

// new_deals_last_30_days counts [now − 720 h, now] exactly, although the
// aggregate is hourly: the edges are counted from the rows.
func TestNewDealsLast30DaysEdges(t *testing.T) {
	t.Parallel()
	a := newAnalyticsRows(t)
	now := time.Date(2026, 3, 31, 12, 34, 56, 0, time.UTC)
	since := now.Add(-720 * time.Hour)
	a.add(
		row{status: "new", stage: "qualification", currency: "USD", created: since.Add(-time.Millisecond)}, // out
		row{status: "new", stage: "qualification", currency: "USD", created: since.Add(-time.Minute)},      // out, same hour
		row{status: "new", stage: "qualification", currency: "USD", created: since},                        // in
		row{status: "new", stage: "qualification", currency: "USD", created: since.Add(time.Minute)},       // in
		row{status: "new", stage: "qualification", currency: "USD", created: since.Add(2 * time.Hour)},     // in
		row{status: "won", stage: "closed", currency: "EUR", created: now.Add(-24 * time.Hour)},            // in
		row{status: "new", stage: "qualification", currency: "USD", created: now.Add(-time.Minute), deleted: true},
		row{status: "new", stage: "qualification", currency: "USD", created: now},                        // in
		row{status: "new", stage: "qualification", currency: "USD", created: now.Add(time.Millisecond)},  // future: out
		row{status: "new", stage: "qualification", currency: "USD", created: now.Add(2 * time.Hour)},     // future: out
		row{status: "new", stage: "qualification", currency: "USD", created: since.Add(-48 * time.Hour)}, // out
	)
	q := pgread.NewAnalytics(a.pool, nil)
	for _, c := range []struct {
		at   time.Time
		want int64
	}{
		{now, 5},
		{now.Add(time.Millisecond), 5}, // the first one leaves, the next arrives
		{now.Add(2 * time.Millisecond), 5},
		{since.Add(-time.Minute).Add(720 * time.Hour), 6},
		{now.Add(-time.Hour), 6}, // the two just before the start come in, "now" is ahead
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 0},
	} {
		s, err := q.WithClock(func() time.Time { return c.at }).DealSummary(context.Background(), a.org)
		if err != nil {
			t.Fatal(err)
		}
		if s.NewDealsLast30Days != c.want {
			t.Errorf("at %s: %d new deals, want %d", c.at.Format(time.RFC3339Nano), s.NewDealsLast30Days, c.want)
		}
	}
}

func TestDealFunnelFromTheAggregates(t *testing.T) {
	t.Parallel()
	a := newAnalyticsRows(t)
	a.add(
		row{status: "new", stage: "qualification", currency: "USD"},
		row{status: "in_progress", stage: "qualification", currency: "EUR"},
		row{status: "in_progress", stage: "proposal", furthest: "closed", currency: "USD"}, // rolled back
		row{status: "won", stage: "closed", currency: "USD"},
		row{status: "lost", stage: "closed", currency: "GBP"},
		row{status: "new", stage: "negotiation", currency: "USD", deleted: true},
	)
	f, err := pgread.NewAnalytics(a.pool, nil).DealFunnel(context.Background(), a.org)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"stages":[` +
		`{"stage":"qualification","count":2,"by_status":{"new":1,"in_progress":1,"won":0,"lost":0},"reached":5,"conversion_rate":100.0},` +
		`{"stage":"proposal","count":1,"by_status":{"new":0,"in_progress":1,"won":0,"lost":0},"reached":3,"conversion_rate":60.0},` +
		`{"stage":"negotiation","count":0,"by_status":{"new":0,"in_progress":0,"won":0,"lost":0},"reached":3,"conversion_rate":100.0},` +
		`{"stage":"closed","count":2,"by_status":{"new":0,"in_progress":0,"won":1,"lost":1},"reached":3,"conversion_rate":100.0}],` +
		`"as_of_position":0}`
	if got := jsonOf(t, f); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}

	// No deal past qualification: the later rates have no base.
	b := &analyticsRows{t: t, pool: a.pool, org: uuid.New()}
	b.add(row{status: "new", stage: "qualification", currency: "USD"})
	f, err = pgread.NewAnalytics(a.pool, nil).DealFunnel(context.Background(), b.org)
	if err != nil {
		t.Fatal(err)
	}
	var rates []any
	for _, st := range f.Stages {
		if st.ConversionRate == nil {
			rates = append(rates, nil)
		} else {
			rates = append(rates, st.ConversionRate.String())
		}
	}
	if jsonOf(t, rates) != `["100.0","0.0",null,null]` {
		t.Fatalf("rates %v", rates)
	}
}

// With a waiter, a query waits for the deals projector, whose counters
// it reads: here none runs, so it gives up with PROJECTION_BEHIND, unless
// eventual.
func TestAnalyticsWaitForTheProjector(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, stop := range e.stops {
		stop()
	}
	o := e.newOrg(t)
	c := o.newContact(events.ContactCreated{Name: "C"})
	o.newDeal(events.DealCreated{ContactID: c, Title: "D", Amount: 100})
	q := pgread.NewAnalytics(e.pool, projections.NewWaiter(e.pool, e.progress, 200*time.Millisecond))
	if _, err := q.DealSummary(context.Background(), o.id); crm.ErrorCode(err) != crm.CodeProjectionBehind {
		t.Fatalf("summary without the projector: %v", err)
	}
	if _, err := q.DealFunnel(context.Background(), o.id); crm.ErrorCode(err) != crm.CodeProjectionBehind {
		t.Fatalf("funnel without the projector: %v", err)
	}
	s, err := q.DealSummary(readapi.WithEventualConsistency(context.Background()), o.id)
	if err != nil || s.TotalDeals != 0 {
		t.Fatalf("eventual: %+v, %v", s, err)
	}
}

// Projectors go in commit order (transaction id, position), which two
// transactions can take the other way round from their positions: then
// the checkpoint's own position lies below an event already applied.
// A read-your-writes answer still reports as_of_position at or past
// every event it reflects, so a client comparing it with its command's
// X-Event-Position is never told its write is missing.
func TestAsOfPositionCoversAnEventCommittedOutOfPositionOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	c := o.newContact(events.ContactCreated{Name: "C"})
	first := o.newDeal(events.DealCreated{ContactID: c, Title: "First", Amount: 100})

	// tx takes its transaction id first and writes its event last: a
	// lower id than the deal created meanwhile, a higher position.
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	o.newDeal(events.DealCreated{ContactID: c, Title: "Second", Amount: 200})
	third := uuid.Must(uuid.NewV7())
	var late int64
	if err := tx.QueryRow(ctx, `
		INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, metadata, occurred_at)
		SELECT gen_random_uuid(), tenant_id, stream_type, $2::uuid, 1, event_type,
		       jsonb_set(payload, '{deal_id}', to_jsonb($2::uuid::text)), metadata, occurred_at
		FROM events WHERE stream_id = $1 AND version = 1
		RETURNING position`, first, third).Scan(&late); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e.hub.Ended()

	q := pgread.NewAnalytics(e.pool, projections.NewWaiter(e.pool, e.progress, 10*time.Second))
	s, err := q.DealSummary(ctx, o.id)
	if err != nil {
		t.Fatal(err)
	}
	if s.TotalDeals != 3 {
		t.Fatalf("the summary counts %d deals, want 3", s.TotalDeals)
	}
	var checkpoint int64
	if err := e.pool.QueryRow(ctx, `SELECT offset_acked FROM projector_checkpoints WHERE consumer_group = $1`,
		sales.NameDeals).Scan(&checkpoint); err != nil {
		t.Fatal(err)
	}
	if checkpoint >= late {
		t.Fatalf("the setup did not invert the order: checkpoint at %d, the late event at %d", checkpoint, late)
	}
	if s.AsOfPosition < late {
		t.Fatalf("as_of_position %d, below the position %d of an event the answer reflects", s.AsOfPosition, late)
	}
	f, err := q.DealFunnel(ctx, o.id)
	if err != nil {
		t.Fatal(err)
	}
	if f.AsOfPosition < late {
		t.Fatalf("funnel as_of_position %d, below %d", f.AsOfPosition, late)
	}
}
