package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/crm/events"
	"example.com/crm/projections"
	"example.com/crm/projections/projectionstest"
)

// A read made by the process that just appended for its tenant waits
// for those events in memory, asking the database nothing, until the
// projectors have passed them; a tenant it appended nothing for does
// not wait at all.
func TestAReadWaitsInMemoryForWhatThisProcessAppended(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := e.startGatedHere(t)
	every := &projectionstest.Statements{Containing: ""}
	w := projections.NewWaiter(e.tracedPool(t, every), e.progress, 5*time.Second)
	ctx := context.Background()

	if err := w.WaitOwn(ctx, uuid.New(), 5*time.Second, "here"); err != nil {
		t.Fatalf("a tenant this process appended nothing for: %v", err)
	}
	res := e.append(t, 1, 2)
	w.Appended(res.Events)
	done := make(chan error, 1)
	go func() { done <- w.WaitOwn(ctx, e.tenant, 5*time.Second, "here") }()
	select {
	case err := <-done:
		t.Fatalf("returned (%v) before the projector passed the appended events", err)
	case <-time.After(200 * time.Millisecond):
	}
	if n := every.N.Load(); n != 0 {
		t.Fatalf("waiting for its own appends, the waiter sent %d statements", n)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("waiting for the projector: %v", err)
	}
	h := projections.Horizon{TransactionID: res.TransactionID, Position: res.LastPosition}
	if !e.progress.Reached(h, "here") {
		t.Fatal("WaitOwn returned before the projector committed the appended events")
	}
}

// A waiter remembers a bounded number of tenants: it forgets those the
// projectors have passed, and what it forgets only costs a read the
// database's answer, never a wrong one. A wait for its own appends
// lasts at most as long as it is told: the database's check decides
// what comes next.
func TestAWaiterRemembersABoundedNumberOfTenantsAndWaitsForThemBriefly(t *testing.T) {
	t.Parallel()
	progress := projections.NewProgress()
	w := projections.NewWaiter(nil, progress, time.Minute)
	progress.SetLocal(map[string]bool{"p": true}) // moved here: nobody polls the database
	progress.Advance("p", projections.Checkpoint{TransactionID: 10, Position: 10})
	for i := range 3 * projections.OwnLimit {
		xid := uint64(5) // passed by the projector
		if i%2 == 1 {
			xid = 20 // not yet
		}
		w.Appended(ownEvents(uuid.New(), xid, int64(i)))
	}
	if n := w.OwnTenants(); n > projections.OwnLimit {
		t.Fatalf("remembers %d tenants, limit %d", n, projections.OwnLimit)
	}
	ahead := uuid.New()
	w.Appended(ownEvents(ahead, 20, 1))
	started := time.Now()
	if err := w.WaitOwn(context.Background(), ahead, 100*time.Millisecond, "p"); err != nil {
		t.Fatalf("waiting for a tenant appended past the projector: %v", err)
	}
	if waited := time.Since(started); waited < 100*time.Millisecond || waited > 30*time.Second {
		t.Fatalf("waited %v for a tenant appended past the projector, told 100ms", waited)
	}
}

// ownEvents is an append of one event for tenant in transaction xid.
func ownEvents(tenant uuid.UUID, xid uint64, pos int64) []events.Event {
	return []events.Event{{TenantID: tenant, TransactionID: xid, Position: pos}}
}
