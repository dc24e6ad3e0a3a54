package pgread_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
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
	"example.com/crm/readapi"
	"example.com/crm/readapi/pgread"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one database with the event store, the sales projectors running
// and a read-your-writes query side over them.
type env struct {
	pool     *pgxpool.Pool
	reg      *events.Registry
	store    *pgstore.Store
	hub      *projections.Hub
	progress *projections.Progress
	q        *pgread.Store
	stops    []func() // of the runners started
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &env{pool: pool, reg: events.Domain(), hub: projections.NewHub(), progress: projections.NewProgress()}
	e.store = pgstore.New(pool, e.reg, pgstore.Hooks{Committed: e.hub.Committed, Ended: e.hub.Ended})
	e.q = pgread.New(pool, projections.NewWaiter(pool, e.progress, 10*time.Second))
	e.start(t)
	return e
}

// start runs the four sales projectors until the test ends or stop is
// called.
func (e *env) start(t *testing.T) (stop func()) {
	t.Helper()
	return e.startWith(t, sales.Projectors()...)
}

// startWith runs projectors until the test ends or stop is called.
func (e *env) startWith(t *testing.T, ps ...projections.Projector) (stop func()) {
	t.Helper()
	stop = projectionstest.Run(t, projections.Config{
		Pool: e.pool, Registry: e.reg, Hub: e.hub, Progress: e.progress, Projectors: ps,
		ResendInterval: 5 * time.Millisecond,
	}, func() { e.drain(t) })
	e.stops = append(e.stops, stop)
	return stop
}

// drain waits until every projector has processed every event stored,
// so a test stops its runners idle: what they leave behind is then well
// defined. (Closing one with a handler in flight also raced inside
// watermill-sql, whose subscriber went on with the transaction the
// handler still used; projections.Runner now serializes the two.)
func (e *env) drain(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var h projections.Horizon
	var xid string
	err := e.pool.QueryRow(ctx, `SELECT transaction_id::text, position FROM events
		ORDER BY transaction_id DESC, position DESC LIMIT 1`).Scan(&xid, &h.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return
	}
	if err == nil {
		h.TransactionID, err = strconv.ParseUint(xid, 10, 64)
	}
	if err == nil {
		err = projections.NewWaiter(e.pool, e.progress, 10*time.Second).WaitFor(ctx, h, projectorNames()...)
	}
	if err != nil {
		t.Errorf("drain: %v", err)
	}
}

// stopAll stops every runner started so far: the read models stop moving.
func (e *env) stopAll(t *testing.T) {
	t.Helper()
	for _, stop := range e.stops {
		stop()
	}
	e.stops = nil
}

// org writes the events of one fresh organization by hand, as the
// commands would: multi-stream appends with expected versions.
type org struct {
	t     *testing.T
	e     *env
	id    uuid.UUID
	actor uuid.UUID
	// clock is the occurred_at of the next append; it then moves by step
	// (0 makes entities share a timestamp).
	clock    time.Time
	step     time.Duration
	versions map[uuid.UUID]int
	contacts map[uuid.UUID]uuid.UUID // deal → contact
}

func (e *env) newOrg(t *testing.T) *org {
	return &org{
		t: t, e: e, id: uuid.New(), actor: uuid.New(),
		clock: time.Date(2026, 3, 1, 9, 0, 0, 123_456_000, time.UTC), step: time.Second,
		versions: map[uuid.UUID]int{}, contacts: map[uuid.UUID]uuid.UUID{},
	}
}

// part is the events one stream gains in an append.
type part struct {
	typ string
	id  uuid.UUID
	ps  []events.Payload
}

// append stores parts in one transaction, at the org's clock, as actor.
func (o *org) append(actor uuid.UUID, parts ...part) events.Result {
	o.t.Helper()
	at := o.clock
	o.clock = o.clock.Add(o.step)
	b := events.Batch{Metadata: events.Metadata{TenantID: o.id, ActorID: &actor}}
	for _, p := range parts {
		a := events.Append{Stream: events.Stream{TenantID: o.id, Type: p.typ, ID: p.id}, Expected: o.versions[p.id]}
		for _, pl := range p.ps {
			a.Events = append(a.Events, events.Pending{Data: pl, OccurredAt: at})
		}
		b.Streams = append(b.Streams, a)
	}
	res, err := o.e.store.Append(context.Background(), b)
	if err != nil {
		o.t.Fatal(err)
	}
	for _, p := range parts {
		o.versions[p.id] += len(p.ps)
	}
	return res
}

func (o *org) newContact(c events.ContactCreated) uuid.UUID {
	o.t.Helper()
	if c.ContactID == uuid.Nil {
		c.ContactID = uuid.Must(uuid.NewV7())
	}
	if c.OwnerID == uuid.Nil {
		c.OwnerID = o.actor
	}
	o.append(o.actor, part{events.StreamContact, c.ContactID, []events.Payload{c}})
	return c.ContactID
}

func (o *org) newDeal(d events.DealCreated) uuid.UUID {
	o.t.Helper()
	if d.DealID == uuid.Nil {
		d.DealID = uuid.Must(uuid.NewV7())
	}
	if d.OwnerID == uuid.Nil {
		d.OwnerID = o.actor
	}
	if d.Currency == "" {
		d.Currency = "USD"
	}
	d.Status, d.Stage = "new", "qualification"
	o.append(o.actor,
		part{events.StreamDeal, d.DealID, []events.Payload{d}},
		part{events.StreamContact, d.ContactID, []events.Payload{events.ContactDealLinked{DealID: d.DealID}}})
	o.contacts[d.DealID] = d.ContactID
	return d.DealID
}

func (o *org) newTask(t events.TaskCreated) uuid.UUID {
	o.t.Helper()
	if t.TaskID == uuid.Nil {
		t.TaskID = uuid.Must(uuid.NewV7())
	}
	o.append(o.actor,
		part{events.StreamTask, t.TaskID, []events.Payload{t}},
		part{events.StreamDeal, t.DealID, []events.Payload{events.DealTaskAdded{TaskID: t.TaskID}}})
	return t.TaskID
}

func (o *org) onContact(id uuid.UUID, ps ...events.Payload) {
	o.t.Helper()
	o.append(o.actor, part{events.StreamContact, id, ps})
}

func (o *org) onDeal(id uuid.UUID, ps ...events.Payload) {
	o.t.Helper()
	o.append(o.actor, part{events.StreamDeal, id, ps})
}

func (o *org) onTask(id uuid.UUID, ps ...events.Payload) {
	o.t.Helper()
	o.append(o.actor, part{events.StreamTask, id, ps})
}

// moveDeal changes a deal's contact, moving the link as the command does.
func (o *org) moveDeal(id, to uuid.UUID) {
	o.t.Helper()
	from := o.contacts[id]
	o.append(o.actor,
		part{events.StreamDeal, id, []events.Payload{events.DealUpdated{Changes: map[string]events.Change{
			"contact_id": {Old: from.String(), New: to.String()}}}}},
		part{events.StreamContact, from, []events.Payload{events.ContactDealUnlinked{DealID: id}}},
		part{events.StreamContact, to, []events.Payload{events.ContactDealLinked{DealID: id}}})
	o.contacts[id] = to
}

func (o *org) deleteDeal(id uuid.UUID) {
	o.t.Helper()
	o.append(o.actor,
		part{events.StreamDeal, id, []events.Payload{events.DealDeleted{}}},
		part{events.StreamContact, o.contacts[id], []events.Payload{events.ContactDealUnlinked{DealID: id}}})
}

// Small helpers for assertions.

func ptr[T any](v T) *T { return &v }

func amount(t testing.TB, s string) crm.Amount {
	t.Helper()
	a, err := crm.ParseAmountString(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func date(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func idsOf[T any](items []T, id func(T) uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

// byID sorts ids as PostgreSQL sorts uuids (bytewise), descending when
// desc: the tie-break order of every list.
func byID(ids []uuid.UUID, desc bool) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b uuid.UUID) int {
		if desc {
			return bytes.Compare(b[:], a[:])
		}
		return bytes.Compare(a[:], b[:])
	})
	return out
}

func wantIDs(t *testing.T, got, want []uuid.UUID, names map[uuid.UUID]string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", nameAll(got, names), nameAll(want, names))
	}
}

func nameAll(ids []uuid.UUID, names map[uuid.UUID]string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if n, ok := names[id]; ok {
			out[i] = n
		} else {
			out[i] = id.String()
		}
	}
	return out
}

func wantCode(t *testing.T, err error, code crm.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got no error", code)
	}
	if got := crm.ErrorCode(err); got != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// mustList fails the test on a query error.
func mustList[T any](t *testing.T) func(readapi.List[T], error) readapi.List[T] {
	return func(l readapi.List[T], err error) readapi.List[T] {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
}

// caughtUp waits until every sales projector has processed o's events.
func caughtUp(t *testing.T, e *env, o *org) {
	t.Helper()
	if err := projections.NewWaiter(e.pool, e.progress, 10*time.Second).Wait(context.Background(), o.id, projectorNames()...); err != nil {
		t.Fatal(err)
	}
}
