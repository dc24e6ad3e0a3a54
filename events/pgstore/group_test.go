package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"example.com/crm/events"
)

// With group commit, appends share transactions but not outcomes: of
// eight writers of one stream at one version exactly one wins, and the
// losers' conflicts fail none of the appends to other streams that ran
// in the same transactions.
func TestGroupCommitKeepsEachAppendsOutcome(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	stop := store.StartGroupCommit(2, 32)
	defer stop()
	ctx := context.Background()
	tenant := uuid.New()
	hot := testeventsStream(tenant)
	if _, err := store.Append(ctx, batch(tenant, events.Append{Stream: hot, Expected: 0, Events: notes(1, 1)})); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if i%2 == 0 { // all at one version of the hot stream
					_, errs[i] = store.Append(ctx, batch(tenant, events.Append{Stream: hot, Expected: 1 + round, Events: notes(2, 1)}))
					return
				}
				_, errs[i] = store.Append(ctx, batch(tenant, events.Append{Stream: testeventsStream(tenant), Expected: 0, Events: notes(1, 2)}))
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case i%2 == 1 && err != nil:
				t.Fatalf("round %d: an append to a fresh stream failed: %v", round, err)
			case i%2 == 0 && err == nil:
				wins++
			case i%2 == 0 && !errors.Is(err, events.ErrConflict):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers of the hot stream won, want 1", round, wins)
		}
	}
	got, err := store.Load(ctx, tenant, hot.ID, events.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("the hot stream has %d events, want 6", len(got))
	}
}
