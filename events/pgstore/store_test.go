package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/testenv"
	"example.com/crm/internal/testevents"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newStore(t *testing.T) (*pgstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pgstore.New(pool, testevents.Registry(), pgstore.Hooks{}), pool
}

func batch(tenant uuid.UUID, appends ...events.Append) events.Batch {
	return events.Batch{Metadata: events.Metadata{TenantID: tenant}, Streams: appends}
}

func TestConcurrentAppendsAtOneVersionExactlyOneWins(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	ctx := context.Background()
	tenant := uuid.New()
	stream := testevents.Stream(tenant)
	if _, err := store.Append(ctx, batch(tenant, events.Append{Stream: stream, Expected: 0, Events: testevents.Notes(1, 1)})); err != nil {
		t.Fatal(err)
	}

	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = store.Append(ctx, batch(tenant, events.Append{Stream: stream, Expected: 1, Events: testevents.Notes(100+i, 2)}))
		}()
	}
	close(start)
	wg.Wait()

	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, events.ErrConflict):
			var ce *events.ConflictError
			if !errors.As(err, &ce) || ce.StreamID != stream.ID || ce.Expected != 1 {
				t.Errorf("conflict does not name the stream: %v", err)
			}
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won, want exactly 1", wins)
	}
	got, err := store.Load(ctx, tenant, stream.ID, events.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("stream has %d events, want 3", len(got))
	}
}

func TestMultiStreamAppendIsAtomic(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	ctx := context.Background()
	tenant := uuid.New()
	a, b := testevents.Stream(tenant), testevents.Stream(tenant)
	if _, err := store.Append(ctx, batch(tenant, events.Append{Stream: b, Events: testevents.Notes(1, 2)})); err != nil {
		t.Fatal(err)
	}

	// a is new (ok), b is stale (expected 1, actually 2): nothing is written.
	_, err := store.Append(ctx, batch(tenant,
		events.Append{Stream: a, Expected: 0, Events: testevents.Notes(10, 3)},
		events.Append{Stream: b, Expected: 1, Events: testevents.Notes(20, 1)},
	))
	var ce *events.ConflictError
	if !errors.As(err, &ce) || ce.StreamID != b.ID {
		t.Fatalf("want a conflict on stream b, got %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("tenant has %d events, want the 2 from before the failed batch", n)
	}

	// Both at the right versions: both streams gain their events together.
	res, err := store.Append(ctx, batch(tenant,
		events.Append{Stream: a, Expected: 0, Events: testevents.Notes(10, 3)},
		events.Append{Stream: b, Expected: 2, Events: testevents.Notes(20, 1)},
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 4 || res.TransactionID == 0 || res.LastPosition == 0 {
		t.Fatalf("result: %+v", res)
	}
	for _, e := range res.Events {
		if e.TransactionID != res.TransactionID {
			t.Fatal("events of one batch must share one transaction")
		}
	}
}

func TestLoadStopsAtVersionOrTime(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	ctx := context.Background()
	tenant := uuid.New()
	s := testevents.Stream(tenant)
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pending := testevents.Notes(1, 5)
	for i := range pending {
		pending[i].OccurredAt = base.Add(time.Duration(i) * time.Hour)
	}
	if _, err := store.Append(ctx, batch(tenant, events.Append{Stream: s, Events: pending})); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		opt  events.LoadOptions
		want int
	}{
		{"everything", events.LoadOptions{}, 5},
		{"up to version 3", events.LoadOptions{UpToVersion: 3}, 3},
		{"as of the third event", events.LoadOptions{AsOf: base.Add(2 * time.Hour)}, 3},
		{"as of before creation", events.LoadOptions{AsOf: base.Add(-time.Second)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.Load(ctx, tenant, s.ID, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("%d events, want %d", len(got), tt.want)
			}
			for i, e := range got {
				if e.Version != i+1 || e.Data != (testevents.Noted{Seq: i + 1}) {
					t.Fatalf("event %d: version %d data %#v", i, e.Version, e.Data)
				}
			}
		})
	}

	other, err := store.Load(ctx, uuid.New(), s.ID, events.LoadOptions{})
	if err != nil || len(other) != 0 {
		t.Fatalf("another tenant must see nothing of the stream: %d events, %v", len(other), err)
	}
}
