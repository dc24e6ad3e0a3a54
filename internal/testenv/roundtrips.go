package testenv

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// RoundTrips is a pgx tracer that counts what a pool sends: each query or
// statement is one round trip, and so is each batch (pipelined, one
// Sync). Set it as a pool's ConnConfig.Tracer.
type RoundTrips struct {
	Queries, Batches atomic.Int64
}

// Total is every round trip counted so far.
func (r *RoundTrips) Total() int64 { return r.Queries.Load() + r.Batches.Load() }

// Reset starts counting again from zero.
func (r *RoundTrips) Reset() { r.Queries.Store(0); r.Batches.Store(0) }

func (r *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.Queries.Add(1)
	return ctx
}
func (r *RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *RoundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.Batches.Add(1)
	return ctx
}
func (r *RoundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *RoundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
