// Package projections turns the event log into read models, in batches.
//
// A read model is a Model: pure reducers folding events into rows
// (Fold.Apply), plus the shell that loads the rows a batch touches and
// writes them back set-wise. The same fold runs on the live path (a batch
// of events in one transaction with the projector's checkpoint) and on a
// rebuild (the whole log folded in memory, then COPY into shadow tables),
// so the two cannot drift.
//
// Watermill drives the live path: one router handler per projector, fed
// by a subscriber that reads the events table in (transaction_id,
// position) order below the snapshot xmin — an index range scan outside
// any transaction — and hands out a whole batch as one message. The
// handler applies the batch and moves the checkpoint in one transaction;
// an ack lets the subscriber read on, a nack makes it isolate the failing
// event (one event per message), retry it a bounded number of times with
// no transaction open while it waits, then park it and stop at it.
//
// Projector names are API: they are the checkpoints' keys and what
// read-your-writes waits on. Renaming one re-projects every event into it.
package projections

import (
	"context"

	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
)

// Projector is one read model kept up to date from the log.
type Projector struct {
	// Name is the checkpoint key (API: never rename).
	Name string
	// Model folds events into the read model's tables.
	Model Model
}

// Model is a read model built by folding events with pure reducers.
type Model interface {
	// Tables lists the tables the model owns, base tables first and the
	// counters derived from them after: a rebuild replaces them together.
	Tables() []TableInfo
	// Wants reports whether the model reads payloads of eventType: an
	// event of a wanted type that cannot be decoded (a schema version
	// newer than this binary knows) stops the projector instead of
	// being skipped silently.
	Wants(eventType string) bool
	// NewFold starts a fold writing to the physical tables of names.
	NewFold(names Names) Fold
}

// Fold folds events into rows. Live: Load, Apply each event of the
// batch, Flush. Rebuild: Apply every event of the log, then Copy.
//
// Load and Flush queue their statements on a pgx.Batch instead of
// running them: the engine pipelines the reads of every projector of a
// batch in one round trip, and their writes in another (with BEGIN, the
// checkpoints and COMMIT).
type Fold interface {
	// Load queues the reads of the rows the batch's events touch; their
	// results reach the fold when b runs.
	Load(b *pgx.Batch, batch []events.Event)
	// Apply folds one event into the rows in memory: the read model's
	// rules, version guard included, live here and nowhere else.
	Apply(e events.Event) error
	// Flush queues the writes of what changed (rows and counter
	// deltas): a handful of statements whatever the batch's size.
	Flush(b *pgx.Batch) error
	// Copy writes every row folded into the empty shadow tables and
	// derives the counters from them.
	Copy(ctx context.Context, conn *pgx.Conn) error
}

// Doubter is a Fold that can be told to trust no stream to be new: to
// read the row of every stream its batch touches, those starting in it
// included (see StreamKeys). The engine tells it so when such a row
// turned out to exist (CR011): a replay of events already applied, after
// a checkpoint was moved back. The version guards then make the replay
// the no-op it must be.
type Doubter interface {
	ReadEveryRow()
}

// Committer is a Fold told that the transaction holding its writes
// committed (RowModel keeps its row cache).
type Committer interface {
	Committed()
}

// Forgetter is a Model holding per-process state about its tables (a
// cache) that the engine drops whenever the tables may have changed
// elsewhere: a lease taken, a batch that failed or found its checkpoint
// moved.
type Forgetter interface {
	Forget()
}

// Warmer is a Model that refills what it keeps in memory about its
// tables (RowModel's row cache) when this process takes its projector's
// lease, right after Forget and before the first batch: the tables then
// hold what the checkpoint says, and nobody else writes them. recent are
// the streams the log's newest events touched, read once for every
// Warmer whose lease was taken at the same time. A failure costs speed,
// not correctness; the engine logs it and goes on.
type Warmer interface {
	Warm(ctx context.Context, q Querier, recent Recent) error
}

// Recent lists, by stream type, the streams the log's newest events
// touched, the newest first: the streams the next batches are likeliest
// to touch again.
type Recent map[string][]Key

// Querier runs one statement (a pool, a connection).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Streamer is a Fold whose rows are final as soon as they are folded (an
// append-only table such as the timeline). A rebuild calls StartCopy on
// it before the bulk pass: the fold COPYs its rows on conn while it
// folds, so they neither wait in memory (a million timeline entries are
// hundreds of megabytes) nor for the fold's end; Copy then finishes the
// COPY and reports its outcome.
type Streamer interface {
	StartCopy(ctx context.Context, conn *pgx.Conn)
}

// TableInfo describes one table of a read model.
type TableInfo struct {
	Name    string
	Key     []string
	Columns []string
	// Counter marks a table of sums, where a row at zero is the same as
	// no row.
	Counter bool
}
