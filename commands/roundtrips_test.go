package commands_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/commands"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/projections/identity"
)

// roundTrips counts what the pool sends: each query or statement is one
// round trip, and so is each batch (pipelined, one Sync).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// The command side of one command costs its loads and one round trip for
// the append (authorization, owners, guards and idempotency included).
func TestRoundTripsPerCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleMember)
	ctx := o.ctx(crm.RoleOwner)
	member := o.members["member"]

	// The same database as e: count on a second pool over it.
	cfg, err := pgxpool.ParseConfig(e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	rt := &roundTrips{}
	cfg.ConnConfig.Tracer = rt
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	app := commands.New(commands.Deps{Store: pgstore.New(pool, events.Domain(), pgstore.Hooks{}, identity.New()), Directory: directory{pool}})

	count := func(name string, want int64, f func() error) {
		t.Helper()
		// Warm: statements prepared, states cached.
		if err := f(); err != nil {
			t.Fatal(err)
		}
		rt.n.Store(0)
		if err := f(); err != nil {
			t.Fatal(err)
		}
		if got := rt.n.Load(); got != want {
			t.Errorf("%s: %d round trips, want %d", name, got, want)
		}
		t.Logf("%s: %d round trips", name, rt.n.Load())
	}
	contact, _, err := app.CreateContact(ctx, aggregates.ContactInput{Name: "A"})
	if err != nil {
		t.Fatal(err)
	}
	deal, _, err := app.CreateDeal(ctx, aggregates.DealInput{ContactID: contact.ID, Title: "D", Amount: amount(t, "1"), Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	task, _, err := app.CreateTask(ctx, deal.ID, aggregates.TaskInput{Title: "T", DueDate: "2999-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	count("create contact with another owner", 1, func() error {
		_, _, err := app.CreateContact(ctx, aggregates.ContactInput{Name: "B", OwnerID: &member})
		return err
	})
	n := 0
	count("update deal", 2, func() error {
		n++
		_, _, err := app.UpdateDeal(ctx, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo(string(rune('a' + n)))}, nil)
		return err
	})
	count("comment", 2, func() error {
		_, _, err := app.CommentOnDeal(ctx, deal.ID, "c")
		return err
	})
	count("create deal", 2, func() error {
		_, _, err := app.CreateDeal(ctx, aggregates.DealInput{ContactID: contact.ID, Title: "D", Amount: amount(t, "1"), Currency: "USD"})
		return err
	})
	count("update task (deal guarded)", 3, func() error {
		n++
		_, _, err := app.UpdateTask(ctx, task.ID, aggregates.TaskPatch{Title: aggregates.SetTo(string(rune('a' + n)))}, nil)
		return err
	})
}
