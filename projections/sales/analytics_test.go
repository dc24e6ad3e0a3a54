package sales_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections"
	"example.com/crm/projections/projectionstest"
	"example.com/crm/projections/sales"
)

// env is one database with the event store and the deals projector, whose
// counters the analytics answer from.
type env struct {
	pool     *pgxpool.Pool
	store    *pgstore.Store
	hub      *projections.Hub
	progress *projections.Progress
	stops    []func()
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := newStoppedEnv(t)
	e.start(t)
	return e
}

// newStoppedEnv is newEnv without the projector running.
func newStoppedEnv(t testing.TB) *env {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &env{pool: pool, hub: projections.NewHub(), progress: projections.NewProgress()}
	e.store = pgstore.New(pool, events.Domain(), pgstore.Hooks{Committed: e.hub.Committed, Ended: e.hub.Ended})
	return e
}

// start runs the deals projector until the test ends or stopAll.
func (e *env) start(t testing.TB) {
	t.Helper()
	e.stops = append(e.stops, projectionstest.Run(t, projections.Config{
		Pool: e.pool, Registry: events.Domain(), Hub: e.hub, Progress: e.progress,
		Projectors: []projections.Projector{sales.DealsProjector()}, ResendInterval: 5 * time.Millisecond,
	}, nil))
}

func (e *env) stopAll() {
	for _, stop := range e.stops {
		stop()
	}
	e.stops = nil
}

// org writes one fresh organization's deal events by hand.
type org struct {
	t        testing.TB
	e        *env
	id       uuid.UUID
	clock    time.Time
	versions map[uuid.UUID]int
}

func (e *env) newOrg(t testing.TB) *org {
	return &org{t: t, e: e, id: uuid.New(), clock: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC), versions: map[uuid.UUID]int{}}
}

// on appends ps to deal's stream, an hour after the previous append.
func (o *org) on(deal uuid.UUID, ps ...events.Payload) {
	o.t.Helper()
	at := o.clock
	o.clock = o.clock.Add(time.Hour)
	a := events.Append{Stream: events.Stream{TenantID: o.id, Type: events.StreamDeal, ID: deal}, Expected: o.versions[deal]}
	for _, p := range ps {
		a.Events = append(a.Events, events.Pending{Data: p, OccurredAt: at})
	}
	actor := uuid.New()
	if _, err := o.e.store.Append(context.Background(), events.Batch{
		Metadata: events.Metadata{TenantID: o.id, ActorID: &actor}, Streams: []events.Append{a},
	}); err != nil {
		o.t.Fatal(err)
	}
	o.versions[deal] += len(ps)
}

func (o *org) newDeal(cents int64, currency string) uuid.UUID {
	o.t.Helper()
	id := uuid.Must(uuid.NewV7())
	o.on(id, events.DealCreated{DealID: id, ContactID: uuid.New(), OwnerID: uuid.New(), Title: "D",
		Amount: crm.Amount(cents), Currency: currency, Status: "new", Stage: "qualification"})
	return id
}

func stage(old, new string) events.DealStageChanged {
	return events.DealStageChanged{Old: old, New: new}
}
func status(old, new string) events.DealStatusChanged {
	return events.DealStatusChanged{Old: old, New: new}
}
func changes(kv ...string) events.DealUpdated {
	c := map[string]events.Change{}
	for i := 0; i < len(kv); i += 3 {
		c[kv[i]] = events.Change{Old: kv[i+1], New: kv[i+2]}
	}
	return events.DealUpdated{Changes: c}
}

// caughtUp waits until the projector has processed o's events.
func (o *org) caughtUp() {
	o.t.Helper()
	if err := projections.NewWaiter(o.e.pool, o.e.progress, 10*time.Second).Wait(context.Background(), o.id, sales.NameDeals); err != nil {
		o.t.Fatal(err)
	}
}

// model is what the read model says about one organization, counted
// rows only (n > 0), in a comparable form.
type model struct {
	cells   map[string]string // status/stage/currency → "n total_cents"
	reached map[string]int64  // furthest stage → n
	created map[string]int64  // hour → n
	deals   []string          // every row, tombstones included
}

func (o *org) read() model {
	o.t.Helper()
	ctx := context.Background()
	m := model{cells: map[string]string{}, reached: map[string]int64{}, created: map[string]int64{}}
	collect := func(sql string, each func(pgx.Rows) error) {
		rows, err := o.e.pool.Query(ctx, sql, o.id)
		if err != nil {
			o.t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows); err != nil {
				o.t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			o.t.Fatal(err)
		}
	}
	collect(`SELECT status || '/' || stage || '/' || currency, n || ' ' || total_cents FROM deal_counts
		WHERE org_id = $1 AND n > 0`, func(r pgx.Rows) error {
		var k, v string
		err := r.Scan(&k, &v)
		m.cells[k] = v
		return err
	})
	collect(`SELECT stage, n FROM analytics_deal_reached WHERE org_id = $1 AND n > 0`, func(r pgx.Rows) error {
		var k string
		var n int64
		err := r.Scan(&k, &n)
		m.reached[k] = n
		return err
	})
	collect(`SELECT to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), n FROM analytics_deal_created
		WHERE org_id = $1 AND n > 0`, func(r pgx.Rows) error {
		var k string
		var n int64
		err := r.Scan(&k, &n)
		m.created[k] = n
		return err
	})
	collect(`SELECT concat_ws(' ', id, status, stage, furthest_stage, currency, amount_cents, created_at,
		                    CASE WHEN deleted THEN 'deleted' ELSE 'live' END, version)
		FROM deals WHERE org_id = $1 ORDER BY id`, func(r pgx.Rows) error {
		var s string
		err := r.Scan(&s)
		m.deals = append(m.deals, s)
		return err
	})
	o.checkAggregates()
	return m
}

// checkAggregates fails unless every aggregate row equals a recount of
// the live deal rows (what a rebuild derives), zero rows included.
func (o *org) checkAggregates() {
	o.t.Helper()
	for name, sql := range map[string]string{
		"cells": `
			SELECT coalesce(a.k, b.k), coalesce(a.v, '0 0'), coalesce(b.v, '0 0') FROM
			(SELECT status || '/' || stage || '/' || currency AS k, n || ' ' || total_cents AS v
			 FROM deal_counts WHERE org_id = $1 AND n <> 0) a
			FULL JOIN
			(SELECT status || '/' || stage || '/' || currency AS k, count(*) || ' ' || sum(amount_cents) AS v
			 FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1) b ON a.k = b.k
			WHERE a.v IS DISTINCT FROM b.v`,
		"reached": `
			SELECT coalesce(a.k, b.k), coalesce(a.v, 0)::text, coalesce(b.v, 0)::text FROM
			(SELECT stage AS k, n AS v FROM analytics_deal_reached WHERE org_id = $1 AND n <> 0) a
			FULL JOIN
			(SELECT furthest_stage AS k, count(*) AS v FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1) b
			ON a.k = b.k WHERE a.v IS DISTINCT FROM b.v`,
		"created": `
			SELECT coalesce(a.k, b.k)::text, coalesce(a.v, 0)::text, coalesce(b.v, 0)::text FROM
			(SELECT hour AS k, n AS v FROM analytics_deal_created WHERE org_id = $1 AND n <> 0) a
			FULL JOIN
			(SELECT date_trunc('hour', created_at, 'UTC') AS k, count(*) AS v FROM deals
			 WHERE org_id = $1 AND NOT deleted GROUP BY 1) b
			ON a.k = b.k WHERE a.v IS DISTINCT FROM b.v`,
	} {
		rows, err := o.e.pool.Query(context.Background(), sql, o.id)
		if err != nil {
			o.t.Fatal(err)
		}
		for rows.Next() {
			var k, agg, recount string
			if err := rows.Scan(&k, &agg, &recount); err != nil {
				o.t.Fatal(err)
			}
			o.t.Errorf("%s %s: aggregate %s, rows %s", name, k, agg, recount)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			o.t.Fatal(err)
		}
	}
}

func wantMap[V comparable](t *testing.T, what string, got, want map[string]V) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func TestCountsAndTotalsPerCurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	o.newDeal(10000, "USD")
	o.newDeal(20050, "USD")
	o.newDeal(5000, "EUR")
	o.newDeal(0, "JPY")
	other := e.newOrg(t) // another tenant: never mixed in
	other.newDeal(99, "USD")
	o.caughtUp()
	other.caughtUp()

	m := o.read()
	wantMap(t, "cells", m.cells, map[string]string{
		"new/qualification/USD": "2 30050",
		"new/qualification/EUR": "1 5000",
		"new/qualification/JPY": "1 0",
	})
	wantMap(t, "reached", m.reached, map[string]int64{"qualification": 4})
	// One append per hour from 09:30.
	wantMap(t, "created", m.created, map[string]int64{
		"2026-03-01T09": 1, "2026-03-01T10": 1, "2026-03-01T11": 1, "2026-03-01T12": 1,
	})
	wantMap(t, "other org", other.read().cells, map[string]string{"new/qualification/USD": "1 99"})
}

func TestStatusStageAmountAndCurrencyChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	a := o.newDeal(10000, "USD")
	b := o.newDeal(20000, "USD")
	c := o.newDeal(30000, "USD")

	// a: won at negotiation, skipping proposal; then its amount changes.
	o.on(a, stage("qualification", "negotiation"), status("new", "won"))
	o.on(a, changes("amount", "100.00", "150.25"))
	// b: to closed, lost, then rolled back to proposal (furthest stays
	// closed), then moved to EUR with a new amount in one update.
	o.on(b, stage("qualification", "closed"), status("new", "lost"))
	o.on(b, stage("closed", "proposal"))
	o.on(b, changes("currency", "USD", "EUR", "amount", "200.00", "180.00", "title", "D", "E"))
	// c: in progress, and an update of fields analytics ignores.
	o.on(c, status("new", "in_progress"))
	o.on(c, changes("title", "D", "Renamed"), events.DealCommented{CommentID: uuid.New(), Text: "hi"})
	o.on(c, stage("qualification", "proposal"))
	o.caughtUp()

	m := o.read()
	wantMap(t, "cells", m.cells, map[string]string{
		"won/negotiation/USD":      "1 15025",
		"lost/proposal/EUR":        "1 18000",
		"in_progress/proposal/USD": "1 30000",
	})
	wantMap(t, "reached", m.reached, map[string]int64{"negotiation": 1, "closed": 1, "proposal": 1})
	if len(m.deals) != 3 {
		t.Fatalf("deals: %v", m.deals)
	}
}

func TestDeletedDealsLeaveEveryAggregate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	a := o.newDeal(10000, "USD")
	b := o.newDeal(5000, "USD")
	o.on(a, stage("qualification", "closed"), status("new", "won"))
	o.on(a, events.DealDeleted{})
	o.on(b, events.DealDeleted{})
	o.caughtUp()

	m := o.read()
	wantMap(t, "cells", m.cells, map[string]string{})
	wantMap(t, "reached", m.reached, map[string]int64{})
	wantMap(t, "created", m.created, map[string]int64{})
	for _, d := range m.deals {
		if !strings.Contains(d, " deleted ") {
			t.Errorf("not a tombstone: %s", d)
		}
	}
	// Whatever aggregate rows exist sum to zero.
	var sum, total int64
	if err := e.pool.QueryRow(context.Background(), `SELECT coalesce(sum(n), 0)::bigint, coalesce(sum(total_cents), 0)::bigint
		FROM deal_counts WHERE org_id = $1`, o.id).Scan(&sum, &total); err != nil {
		t.Fatal(err)
	}
	if sum != 0 || total != 0 {
		t.Fatalf("cells sum to %d deals, %d cents", sum, total)
	}
}

// Redelivery: rewinding the checkpoint makes the projector see every event
// again; the version guards make that a no-op, aggregates included.
func TestReplayingEveryEventChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	for i := range 6 {
		d := o.newDeal(int64(1000*(i+1)), []string{"USD", "EUR"}[i%2])
		switch i % 3 {
		case 0:
			o.on(d, stage("qualification", "negotiation"), status("new", "won"))
			o.on(d, stage("negotiation", "proposal"))
		case 1:
			o.on(d, changes("amount", "1.00", "7.77", "currency", "EUR", "GBP"))
			o.on(d, status("new", "lost"))
		case 2:
			o.on(d, stage("qualification", "closed"))
			o.on(d, events.DealDeleted{})
		}
	}
	o.caughtUp()
	before := o.read()
	if len(before.deals) != 6 || len(before.cells) < 3 {
		t.Fatalf("suspiciously small read model: %+v", before)
	}

	e.stopAll()
	checkpoint := func() (at string) {
		if err := e.pool.QueryRow(context.Background(), `SELECT offset_acked || '@' || last_processed_transaction_id
			FROM projector_checkpoints WHERE consumer_group = $1`, sales.NameDeals).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	was := checkpoint()
	tag, err := e.pool.Exec(context.Background(), `UPDATE projector_checkpoints SET offset_acked = 0, last_processed_transaction_id = '0'
		WHERE consumer_group = $1`, sales.NameDeals)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("rewind: %v, %d rows", err, tag.RowsAffected())
	}
	e.start(t)
	// Every event again: the checkpoint is back where it was (the
	// waiter's in-memory progress would not tell).
	for deadline := time.Now().Add(10 * time.Second); checkpoint() != was; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the replay never got back to %s: at %s", was, checkpoint())
		}
	}
	var parked int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM projector_parked`).Scan(&parked); err != nil || parked != 0 {
		t.Fatalf("%d events parked (%v)", parked, err)
	}
	after := o.read()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("replay changed the read model:\nbefore %+v\nafter  %+v", before, after)
	}
}
