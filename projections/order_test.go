package projections_test

import (
	"context"
	"strings"
	"testing"

	"example.com/crm/projections"
)

// A log whose transaction ids run ahead of the cluster's counter (a dump
// restored into another cluster) is refused at start, naming the way out;
// a log written by this cluster passes.
func TestRestoredLogAheadOfTheClusterIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.append(t, 1, 3)
	if err := projections.CheckLogOrder(ctx, e.pool); err != nil {
		t.Fatalf("a log written by this cluster: %v", err)
	}
	// An event as a restore from an older, busier cluster leaves it: its
	// transaction id far beyond anything this cluster has handed out.
	if _, err := e.pool.Exec(ctx, `
		INSERT INTO events (transaction_id, event_id, tenant_id, stream_type, stream_id, version, event_type, payload, occurred_at)
		VALUES ((pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text::xid8,
		        gen_random_uuid(), $1, 'note', gen_random_uuid(), 1, 'test.noted', '{"seq": 1}', now())`, e.tenant); err != nil {
		t.Fatal(err)
	}
	err := projections.CheckLogOrder(ctx, e.pool)
	if err == nil || !strings.Contains(err.Error(), "pg_resetwal") {
		t.Fatalf("want a refusal naming pg_resetwal, got %v", err)
	}
}
