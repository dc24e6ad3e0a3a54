package identity_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections/identity"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T) (*pgstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pgstore.New(pool, events.Domain(), pgstore.Hooks{}, identity.New()), pool
}

// registration is the batch of a registration: a user stream and an
// organization stream with its owner.
func registration(user, org uuid.UUID, email string) events.Batch {
	now := time.Now()
	return events.Batch{
		Metadata: events.Metadata{TenantID: org, ActorID: &user},
		Streams: []events.Append{
			{Stream: events.Stream{TenantID: user, Type: events.StreamUser, ID: user}, Events: []events.Pending{
				{Data: events.UserRegistered{UserID: user, Email: email, Name: "N", PasswordHash: "h"}, OccurredAt: now},
			}},
			{Stream: events.Stream{TenantID: org, Type: events.StreamOrganization, ID: org}, Events: []events.Pending{
				{Data: events.OrganizationCreated{OrganizationID: org, Name: "O", CreatedBy: user}, OccurredAt: now},
				{Data: events.MemberAdded{UserID: user, Role: "owner"}, OccurredAt: now},
			}},
		},
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A second user with the same e-mail, in any case, is 409 EMAIL_TAKEN and
// its whole append (events and rows) rolls back.
func TestEmailIsUniqueInTheAppendTransaction(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	ctx := context.Background()
	email := uuid.NewString() + "@Example.com"
	if _, err := store.Append(ctx, registration(uuid.New(), uuid.New(), email)); err != nil {
		t.Fatal(err)
	}
	user, org := uuid.New(), uuid.New()
	_, err := store.Append(ctx, registration(user, org, " "+crm.NormalizeEmail(email)))
	var ce *crm.Error
	if !errors.As(err, &ce) || ce.Code != crm.CodeEmailTaken {
		t.Fatalf("second registration: %v", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM events WHERE stream_id = ANY($1)`, []uuid.UUID{user, org}); n != 0 {
		t.Fatalf("%d events of a refused registration were stored", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM organizations WHERE id = $1`, org); n != 0 {
		t.Fatal("the refused registration's organization exists")
	}
}

// Of concurrent registrations with one e-mail, exactly one commits.
func TestConcurrentRegistrations(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	email := uuid.NewString() + "@example.com"
	errs := make([]error, 4)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range errs {
		b := registration(uuid.New(), uuid.New(), email)
		wg.Go(func() {
			<-start
			_, errs[i] = store.Append(context.Background(), b)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case crm.ErrorCode(err) != crm.CodeEmailTaken:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d registrations committed, want 1", ok)
	}
}

// The organization events keep organizations and memberships in step.
func TestOrganizationTables(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	ctx := context.Background()
	owner, other, org := uuid.New(), uuid.New(), uuid.New()
	if _, err := store.Append(ctx, registration(owner, org, uuid.NewString()+"@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, registration(other, uuid.New(), uuid.NewString()+"@example.com")); err != nil {
		t.Fatal(err)
	}
	stream := events.Stream{TenantID: org, Type: events.StreamOrganization, ID: org}
	version := 2
	appendOrg := func(ps ...events.Payload) {
		t.Helper()
		var pending []events.Pending
		for _, p := range ps {
			pending = append(pending, events.Pending{Data: p, OccurredAt: time.Now()})
		}
		if _, err := store.Append(ctx, events.Batch{Metadata: events.Metadata{TenantID: org, ActorID: &owner},
			Streams: []events.Append{{Stream: stream, Expected: version, Events: pending}}}); err != nil {
			t.Fatal(err)
		}
		version += len(ps)
	}
	role := func(user uuid.UUID) string {
		var r string
		_ = pool.QueryRow(ctx, `SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2`, org, user).Scan(&r)
		return r
	}
	appendOrg(events.MemberAdded{UserID: other, Role: "member"}, events.MemberRoleChanged{UserID: other, Old: "member", New: "admin"})
	if role(other) != "admin" {
		t.Fatalf("role = %q", role(other))
	}
	appendOrg(events.OwnershipTransferred{From: owner, To: other}, events.OrganizationRenamed{Old: "O", New: "P"})
	if role(owner) != "admin" || role(other) != "owner" {
		t.Fatalf("after transfer: owner %q, other %q", role(owner), role(other))
	}
	appendOrg(events.MemberRemoved{UserID: owner, Role: "admin"})
	if role(owner) != "" {
		t.Fatal("a removed member still has a membership")
	}
	var name string
	var v int
	var deleted *time.Time
	if err := pool.QueryRow(ctx, `SELECT name, version, deleted_at FROM organizations WHERE id = $1`, org).Scan(&name, &v, &deleted); err != nil {
		t.Fatal(err)
	}
	if name != "P" || v != version || deleted != nil {
		t.Fatalf("organization: %s v%d deleted %v (want v%d)", name, v, deleted, version)
	}
	appendOrg(events.OrganizationDeleted{})
	if n := count(t, pool, `SELECT count(*) FROM organizations WHERE id = $1 AND deleted_at IS NOT NULL AND version = $2`, org, version); n != 1 {
		t.Fatal("the organization is not marked deleted")
	}
}
