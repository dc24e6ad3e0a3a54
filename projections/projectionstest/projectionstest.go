// Package projectionstest runs projectors in tests: the one place that
// starts a Runner, waits until it has subscribed, and stops it when the
// test ends.
package projectionstest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"example.com/crm/projections"
)

// Run starts a runner of cfg and returns once every projector is
// subscribed. The returned stop (also run when the test ends, and safe
// to call twice) first calls beforeStop when given — to let the
// projectors drain, say — then closes the runner and waits for it.
func Run(t testing.TB, cfg projections.Config, beforeStop func()) (stop func()) {
	t.Helper()
	r, err := projections.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case <-r.Running():
	case err := <-done:
		t.Fatalf("runner stopped at start: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if beforeStop != nil {
				beforeStop()
			}
			if err := r.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// Statements is a pgx.QueryTracer counting the statements (outside
// batches) whose text contains Containing.
type Statements struct {
	Containing string
	N          atomic.Int64
}

// TraceQueryStart implements pgx.QueryTracer.
func (c *Statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, c.Containing) {
		c.N.Add(1)
	}
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (c *Statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
