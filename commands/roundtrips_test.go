package commands_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/commands"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections/identity"
)

// The command side of one command costs one round trip: the append
// (authorization, owners, guards and idempotency included). The states it
// decides on are this process's cached ones, validated by the append's
// expected versions and guards instead of a read.
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
	rt := &testenv.RoundTrips{}
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
		rt.Reset()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		if got := rt.Total(); got != want {
			t.Errorf("%s: %d round trips, want %d", name, got, want)
		}
		t.Logf("%s: %d round trips", name, rt.Total())
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
	count("update deal", 1, func() error {
		n++
		_, _, err := app.UpdateDeal(ctx, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo(string(rune('a' + n)))}, nil)
		return err
	})
	count("comment", 1, func() error {
		_, _, err := app.CommentOnDeal(ctx, deal.ID, "c")
		return err
	})
	count("create deal", 1, func() error {
		_, _, err := app.CreateDeal(ctx, aggregates.DealInput{ContactID: contact.ID, Title: "D", Amount: amount(t, "1"), Currency: "USD"})
		return err
	})
	count("update task (deal guarded)", 1, func() error {
		n++
		_, _, err := app.UpdateTask(ctx, task.ID, aggregates.TaskPatch{Title: aggregates.SetTo(string(rune('a' + n)))}, nil)
		return err
	})
	// Once another process wrote a stream under this one's cached state
	// (the warm-up's conflict), it is read before every decision: the
	// load and the append.
	count("update a deal another process writes too", 2, func() error {
		n++
		if _, _, err := e.app.CommentOnDeal(ctx, deal.ID, "from elsewhere"); err != nil {
			return err
		}
		rt.Reset()
		_, _, err := app.UpdateDeal(ctx, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo(string(rune('a' + n)))}, nil)
		return err
	})
}
