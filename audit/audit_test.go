package audit_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/audit"
	"example.com/crm/audit/pgsnapshots"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/seed"
	"example.com/crm/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// bigDeal is a database holding one organization with a deal of n events.
type bigDeal struct {
	pool    *pgxpool.Pool
	org, id uuid.UUID
	store   *pgstore.Store
}

func newBigDeal(t testing.TB, n int) bigDeal {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	res, err := seed.Run(ctx, pool, seed.Options{Contacts: 1, Deals: 1, BigDealEvents: n, Password: "bench-password-1", PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	return bigDeal{pool: pool, org: res.Main.ID, id: res.Main.BigDeal, store: pgstore.New(pool, events.Domain(), pgstore.Hooks{})}
}

func (b bigDeal) plain() audit.Deals { return audit.Deals{Store: b.store} }
func (b bigDeal) snapshotted() audit.Deals {
	return audit.Deals{Store: b.store, Snapshots: pgsnapshots.New(b.pool)}
}

func (b bigDeal) snapshotVersions(t *testing.T) []int {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT version FROM deal_snapshots WHERE deal_id = $1 ORDER BY version`, b.id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// Replaying from snapshots answers exactly what replaying from the first
// event does, at every version, at moments throughout the deal's life,
// and for every page of its history.
func TestSnapshotsChangeNoAnswer(t *testing.T) {
	b := newBigDeal(t, 250)
	ctx := context.Background()
	plain, snap := b.plain(), b.snapshotted()

	// The first replay writes the snapshots it passes.
	if _, err := snap.DealAt(ctx, b.org, b.id, crm.RoleMember, 1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := b.snapshotVersions(t); !reflect.DeepEqual(got, []int{100, 200}) {
		t.Fatalf("snapshots written: %v, want [100 200]", got)
	}
	evs, err := b.store.Load(ctx, b.org, b.id, events.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, want, got audit.At, werr, gerr error) {
		t.Helper()
		if !sameJSON(want, got) || crm.ErrorCode(werr) != crm.ErrorCode(gerr) || crm.ErrorMessage(werr) != crm.ErrorMessage(gerr) {
			t.Fatalf("%s: from snapshots %+v %v, from the first event %+v %v", what, got, gerr, want, werr)
		}
	}
	for v := 1; v <= 251; v++ {
		want, werr := plain.DealAt(ctx, b.org, b.id, crm.RoleMember, v, time.Time{})
		got, gerr := snap.DealAt(ctx, b.org, b.id, crm.RoleMember, v, time.Time{})
		same("version "+strconv.Itoa(v), want, got, werr, gerr)
	}
	for _, e := range append(evs[:1:1], evs[99], evs[100], evs[150], evs[199], evs[200], evs[249]) {
		for _, at := range []time.Time{e.OccurredAt.Add(-time.Nanosecond), e.OccurredAt, e.OccurredAt.Add(time.Millisecond)} {
			want, werr := plain.DealAt(ctx, b.org, b.id, crm.RoleMember, 0, at)
			got, gerr := snap.DealAt(ctx, b.org, b.id, crm.RoleMember, 0, at)
			same("as of "+at.String(), want, got, werr, gerr)
		}
	}
	for page := 1; page <= 4; page++ {
		want, wn, werr := plain.History(ctx, b.org, b.id, crm.RoleMember, page, 100)
		got, gn, gerr := snap.History(ctx, b.org, b.id, crm.RoleMember, page, 100)
		if werr != nil || gerr != nil || wn != gn || !sameJSON(want, got) {
			t.Fatalf("history page %d: %d entries of %d (%v) from snapshots, %d of %d (%v) from the first event", page, len(got), gn, gerr, len(want), wn, werr)
		}
	}
}

// A deal deleted after its last snapshot is deleted for the rules too:
// its past is for owners and admins only.
func TestADealDeletedAfterItsSnapshotsKeepsItsPastFromMembers(t *testing.T) {
	b := newBigDeal(t, 120)
	ctx := context.Background()
	snap := b.snapshotted()
	if _, err := snap.DealAt(ctx, b.org, b.id, crm.RoleMember, 50, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, occurred_at)
		VALUES (gen_random_uuid(), $1, 'deal', $2, 121, 'deal.deleted', '{}', now())`, b.org, b.id); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.DealAt(ctx, b.org, b.id, crm.RoleMember, 50, time.Time{}); crm.ErrorCode(err) != crm.CodeForbidden {
		t.Fatalf("a member replaying a deleted deal: %v, want FORBIDDEN", err)
	}
	at, err := snap.DealAt(ctx, b.org, b.id, crm.RoleAdmin, 110, time.Time{})
	if err != nil || at.AsOfVersion != 110 {
		t.Fatalf("an admin replaying it: %+v %v", at, err)
	}
	if _, err := snap.DealAt(ctx, b.org, b.id, crm.RoleAdmin, 121, time.Time{}); crm.ErrorCode(err) != crm.CodeDealNotFound {
		t.Fatalf("the deleted version: %v, want DEAL_NOT_FOUND", err)
	}
}

// A snapshot of another format (an older binary's fold) is ignored and
// replaced; one that does not decode is ignored.
func TestSnapshotsOfAnotherFormatAreIgnoredAndReplaced(t *testing.T) {
	b := newBigDeal(t, 150)
	ctx := context.Background()
	wrong, _ := json.Marshal(map[string]any{"Title": "not what the events say", "Version": 100, "ID": b.id})
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO deal_snapshots (tenant_id, deal_id, version, format, max_occurred_at, state)
		VALUES ($1, $2, 100, $3, now() - interval '1 year', $4)`, b.org, b.id, audit.SnapshotFormat+1, wrong); err != nil {
		t.Fatal(err)
	}
	want, err := b.plain().DealAt(ctx, b.org, b.id, crm.RoleOwner, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.snapshotted().DealAt(ctx, b.org, b.id, crm.RoleOwner, 0, time.Now())
	if err != nil || !sameJSON(want, got) {
		t.Fatalf("with a foreign snapshot: %+v %v, want %+v", got, err, want)
	}
	var format int
	if err := b.pool.QueryRow(ctx, `SELECT format FROM deal_snapshots WHERE deal_id = $1 AND version = 100`, b.id).Scan(&format); err != nil || format != audit.SnapshotFormat {
		t.Fatalf("the foreign snapshot was not replaced: format %d, %v", format, err)
	}
}

// sameJSON compares what the API would show of a and b (times from the
// database and from a snapshot differ only in their *time.Location).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// BenchmarkDealAtVersion1000 is W5 without HTTP: a deal of 1,000 events
// replayed to its last version, from the first event and from snapshots.
func BenchmarkDealAtVersion1000(b *testing.B) {
	d := newBigDeal(b, 1000)
	ctx := context.Background()
	for name, deals := range map[string]audit.Deals{"first-event": d.plain(), "snapshots": d.snapshotted()} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := deals.DealAt(ctx, d.org, d.id, crm.RoleOwner, 1000, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
