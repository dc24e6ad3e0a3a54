package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/commands"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/testenv"
	"example.com/crm/passwords"
	"example.com/crm/projections/identity"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is the write side on a fresh database: the real event store with
// its inline identity projection, and commands that can be paused
// between their decision and their append.
type env struct {
	app   *commands.Application
	store *pgstore.Store
	pool  *pgxpool.Pool
}

// directory answers IsMember from the memberships table.
type directory struct{ pool *pgxpool.Pool }

func (d directory) IsMember(ctx context.Context, org, user uuid.UUID) (bool, error) {
	var ok bool
	err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND user_id = $2)`, org, user).Scan(&ok)
	return ok, err
}

func newEnv(t testing.TB) *env {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	hasher, err := passwords.NewWithCost(4)
	if err != nil {
		t.Fatal(err)
	}
	store := pgstore.New(pool, events.Domain(), pgstore.Hooks{}, identity.New())
	app := commands.New(commands.Deps{Store: store, Directory: directory{pool}, Passwords: hasher})
	commands.SetBeforeAppend(app, func(ctx context.Context) {
		if p, ok := ctx.Value(pauseKey{}).(*pause); ok {
			p.once.Do(func() { close(p.decided); <-p.resume })
		}
	})
	return &env{app: app, store: store, pool: pool}
}

// pause holds a command between its first decision and its append.
type pause struct {
	once            sync.Once
	decided, resume chan struct{}
}

type pauseKey struct{}

// paused runs cmd with a context that pauses it after its first decision;
// it returns once cmd has decided, with the function that lets it append
// and returns its error.
func paused(ctx context.Context, cmd func(ctx context.Context) error) (resume func() error) {
	p := &pause{decided: make(chan struct{}), resume: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- cmd(context.WithValue(ctx, pauseKey{}, p)) }()
	select {
	case <-p.decided:
	case err := <-done: // it failed before deciding
		return func() error { return err }
	}
	return func() error { close(p.resume); return <-done }
}

// org is an organization with its owner and the context of each member.
type org struct {
	id      uuid.UUID
	owner   uuid.UUID
	members map[string]uuid.UUID
}

var seq struct {
	sync.Mutex
	n int
}

func (e *env) register(t testing.TB) (user, orgID uuid.UUID) {
	t.Helper()
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	reg, err := e.app.Register(context.Background(), commands.RegisterInput{
		Email: fmt.Sprintf("u%d-%s@example.com", n, uuid.NewString()[:8]), Password: "password1", Name: "U", OrganizationName: "Org",
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg.User.ID, reg.Organization.ID
}

// newOrg registers an owner and adds one member per role given.
func (e *env) newOrg(t testing.TB, roles ...crm.Role) *org {
	t.Helper()
	owner, id := e.register(t)
	o := &org{id: id, owner: owner, members: map[string]uuid.UUID{"owner": owner}}
	for _, r := range roles {
		u, _ := e.register(t)
		if _, err := e.app.AddMember(o.as(owner, crm.RoleOwner), commands.AddMemberInput{UserID: &u, Role: string(r)}); err != nil {
			t.Fatal(err)
		}
		o.members[string(r)] = u
	}
	return o
}

// as is the context of user acting in o with the role the tenancy check
// read (a hint: the append checks it again).
func (o *org) as(user uuid.UUID, role crm.Role) context.Context {
	ctx := crm.WithActor(context.Background(), crm.Actor{UserID: user})
	return crm.WithTenant(ctx, crm.Tenant{OrgID: o.id, Role: role})
}

func (o *org) ctx(role crm.Role) context.Context { return o.as(o.members[string(role)], role) }

func wantCode(t testing.TB, err error, codes ...crm.Code) {
	t.Helper()
	var ce *crm.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want one of %v", err, codes)
	}
	for _, c := range codes {
		if ce.Code == c {
			return
		}
	}
	t.Fatalf("code %s (%v), want one of %v", ce.Code, err, codes)
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// streamLen is how many events a stream of o has.
func (e *env) streamLen(t testing.TB, tenant, stream uuid.UUID) int {
	t.Helper()
	evs, err := e.store.Load(context.Background(), tenant, stream, events.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func (e *env) newContact(t testing.TB, ctx context.Context) aggregates.Contact {
	t.Helper()
	ct, _, err := e.app.CreateContact(ctx, aggregates.ContactInput{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func (e *env) newDeal(t testing.TB, ctx context.Context, contact uuid.UUID, owner *uuid.UUID) aggregates.Deal {
	t.Helper()
	d, _, err := e.app.CreateDeal(ctx, aggregates.DealInput{ContactID: contact, Title: "Deal", Amount: amount(t, "10"), Currency: "USD", OwnerID: owner})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func amount(t testing.TB, s string) crm.Amount {
	t.Helper()
	a, err := crm.ParseAmountString(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) loadDeal(o *org, id uuid.UUID) (*aggregates.Deal, error) {
	evs, err := e.store.Load(context.Background(), o.id, id, events.LoadOptions{})
	if err != nil {
		return nil, err
	}
	d := &aggregates.Deal{}
	aggregates.Replay(d, evs)
	return d, nil
}
