package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/events"
)

// Waiter gives queries read-your-writes: it waits until the named
// projectors have processed every event of the tenant that was committed
// before the wait began, across all server processes.
//
// Waiters compare against the checkpoints in Progress, in memory: this
// process's projectors advance it as they commit, and while anybody
// waits for a projector this process does not run (held by another
// process, or stopped at a parked event), one poller reads every
// checkpoint from the database every few milliseconds and advances it
// too. However many requests wait, the database sees at most one read
// per interval, and none while every projector waited for runs here.
type Waiter struct {
	pool     *pgxpool.Pool
	progress *Progress
	timeout  time.Duration
	recheck  time.Duration

	mu      sync.Mutex
	waiting int
	polling bool
	// waitedFor counts the waiters of each projector.
	waitedFor map[string]int

	// own holds, for each tenant this process appended to lately, the
	// newest event it appended (see Appended).
	ownMu sync.Mutex
	own   map[uuid.UUID]Horizon
}

// ownLimit bounds Waiter.own: past it, the tenants whose appends every
// projector here has passed are forgotten, and if that is not enough,
// all of them (a forgotten tenant only costs its next read a round trip).
const ownLimit = 4096

// NewWaiter returns a Waiter giving up after timeout (CONSISTENCY_TIMEOUT).
func NewWaiter(pool *pgxpool.Pool, progress *Progress, timeout time.Duration) *Waiter {
	return &Waiter{pool: pool, progress: progress, timeout: timeout, recheck: 5 * time.Millisecond}
}

// Horizon is a point in projection order: (transaction id, position).
type Horizon struct {
	TransactionID uint64
	Position      int64
}

const horizonSQL = `
SELECT e.transaction_id::text AS xid, e.position FROM events e
WHERE e.tenant_id = $1
ORDER BY e.transaction_id DESC, e.position DESC -- the xid8, not its text
LIMIT 1`

// TenantHorizon returns the tenant's newest committed event in projection
// order (zero when it has none).
func (w *Waiter) TenantHorizon(ctx context.Context, tenantID uuid.UUID) (Horizon, error) {
	var h Horizon
	var xid string
	err := w.pool.QueryRow(ctx, horizonSQL, tenantID).Scan(&xid, &h.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return Horizon{}, nil
	}
	if err != nil {
		return Horizon{}, fmt.Errorf("projections: horizon: %w", err)
	}
	h.TransactionID, err = strconv.ParseUint(xid, 10, 64)
	return h, err
}

// Appended records the events this process just appended (before their
// command is acknowledged), so that a read of the same tenant that
// arrives before the projectors have passed them waits for them first,
// in memory, instead of sending its query, finding the projectors
// behind, and sending it again (see WaitOwn).
func (w *Waiter) Appended(evs []events.Event) {
	w.ownMu.Lock()
	defer w.ownMu.Unlock()
	if w.own == nil {
		w.own = map[uuid.UUID]Horizon{}
	}
	for _, e := range evs {
		h := Horizon{TransactionID: e.TransactionID, Position: e.Position}
		if cur, ok := w.own[e.TenantID]; !ok || Checkpoint(cur).Before(Checkpoint(h)) {
			w.own[e.TenantID] = h
		}
	}
	if len(w.own) > ownLimit {
		for t, h := range w.own {
			if w.progress.ReachedAll(h) {
				delete(w.own, t)
			}
		}
		if len(w.own) > ownLimit {
			clear(w.own)
		}
	}
}

// WaitOwn blocks until every named projector has processed the events
// of the tenant this process appended, as far as it remembers them, or
// for at most max. It asks the database nothing: the tenant's horizon
// there is at or past those events, so a read-your-writes check made
// before they are projected can only say "wait". Done first, it makes
// that check, sent afterwards with the read it guards, say "go" in the
// common case of a client reading right after its own command. Past max
// it returns nil all the same: the check decides. Its only errors are a
// projector stopped at a parked event and ctx's.
func (w *Waiter) WaitOwn(ctx context.Context, tenantID uuid.UUID, max time.Duration, projectors ...string) error {
	w.ownMu.Lock()
	h, ok := w.own[tenantID]
	w.ownMu.Unlock()
	if !ok {
		return nil
	}
	_, err := w.waitFor(ctx, h, max, projectors)
	return err
}

// Wait blocks until every named projector is at or past the tenant's
// horizon as it is now. After the timeout it returns a PROJECTION_BEHIND
// error.
func (w *Waiter) Wait(ctx context.Context, tenantID uuid.UUID, projectors ...string) error {
	// One round trip for the common case: read the horizon and whether
	// the projectors are already past it together.
	h, caughtUp, err := scanCheck(w.pool.QueryRow(ctx, horizonAndCaughtUpSQL, tenantID, projectors))
	if err != nil || caughtUp {
		return err
	}
	return w.WaitFor(ctx, h, projectors...)
}

// QueueCheck queues, in a query's own batch and ahead of it, what Wait
// reads first: the tenant's horizon and whether the projectors are past
// it. The query then costs no round trip of its own for read-your-writes:
// when ReadCheck says caught up, the statements after the check see every
// event committed before it (checkpoints only move forward); otherwise
// the caller waits (WaitFor) and runs its query again.
func (w *Waiter) QueueCheck(b *pgx.Batch, tenantID uuid.UUID, projectors []string) {
	b.Queue(horizonAndCaughtUpSQL, tenantID, projectors)
}

// ReadCheck reads the answer of QueueCheck from br: the horizon, and
// whether the projectors are past it already.
func (w *Waiter) ReadCheck(br pgx.BatchResults) (Horizon, bool, error) {
	return scanCheck(br.QueryRow())
}

// scanCheck reads a row of horizonAndCaughtUpSQL; a tenant without
// events has nothing to wait for.
func scanCheck(row pgx.Row) (Horizon, bool, error) {
	var h Horizon
	var xid string
	var caughtUp bool
	err := row.Scan(&xid, &h.Position, &caughtUp)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && caughtUp) {
		return h, true, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("projections: horizon: %w", err)
	}
	h.TransactionID, err = strconv.ParseUint(xid, 10, 64)
	return h, false, err
}

const horizonAndCaughtUpSQL = `
WITH h AS (` + horizonSQL + `)
SELECT h.xid, h.position,
       (SELECT count(*) FILTER (WHERE (c.last_processed_transaction_id, c.offset_acked) >= (h.xid::xid8, h.position))
               = cardinality($2::text[])
        FROM projector_checkpoints c WHERE c.consumer_group = ANY($2::text[]))
FROM h`

// WaitFor blocks until every named projector has processed h.
func (w *Waiter) WaitFor(ctx context.Context, h Horizon, projectors ...string) error {
	reached, err := w.waitFor(ctx, h, w.timeout, projectors)
	if err == nil && !reached {
		return crm.Errorf(crm.CodeProjectionBehind, "read models are still catching up; retry shortly")
	}
	return err
}

// waitFor waits at most timeout for every named projector to process h.
func (w *Waiter) waitFor(ctx context.Context, h Horizon, timeout time.Duration, projectors []string) (reached bool, err error) {
	if w.progress.Reached(h, projectors...) {
		return true, nil
	}
	w.join(projectors)
	defer w.leave(projectors)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := w.progress.Changed() // before the check, so no advance is missed
		if w.progress.Reached(h, projectors...) {
			return true, nil
		}
		if name, stopped := w.progress.Stopped(projectors...); stopped {
			// It will not move until an operator acts: say so now
			// rather than after the timeout.
			return false, crm.Errorf(crm.CodeProjectionBehind, "read model %q is stopped at an event it cannot apply; an operator has been alerted", name)
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

func (w *Waiter) join(projectors []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting++
	if w.waitedFor == nil {
		w.waitedFor = map[string]int{}
	}
	for _, n := range projectors {
		w.waitedFor[n]++
	}
	if !w.polling {
		w.polling = true
		go w.poll()
	}
}

func (w *Waiter) leave(projectors []string) {
	w.mu.Lock()
	w.waiting--
	for _, n := range projectors {
		if w.waitedFor[n]--; w.waitedFor[n] == 0 {
			delete(w.waitedFor, n)
		}
	}
	w.mu.Unlock()
}

// poll reads the checkpoints into Progress while anybody waits.
func (w *Waiter) poll() {
	ctx := context.Background()
	for {
		w.mu.Lock()
		if w.waiting == 0 {
			w.polling = false
			w.progress.SetStopped(nil) // stale once nobody polls: the next waiter reads afresh
			w.mu.Unlock()
			return
		}
		waited := slices.Collect(maps.Keys(w.waitedFor))
		w.mu.Unlock()
		if w.progress.Local(waited...) {
			time.Sleep(w.recheck)
			continue
		}
		if err := w.readCheckpoints(ctx); err != nil {
			slog.Default().Debug("read-your-writes: reading checkpoints", "err", err)
		}
		time.Sleep(w.recheck)
	}
}

// readCheckpoints reads every checkpoint, and whether its projector is
// stopped at a parked event, in one query.
func (w *Waiter) readCheckpoints(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rows, err := w.pool.Query(ctx, `SELECT c.consumer_group, c.offset_acked, c.last_processed_transaction_id::text,
		EXISTS (SELECT 1 FROM projector_parked p WHERE p.projector = c.consumer_group AND p.resolution IS NULL)
		FROM projector_checkpoints c`)
	if err != nil {
		return err
	}
	defer rows.Close()
	stopped := map[string]bool{}
	for rows.Next() {
		var name, xid string
		var c Checkpoint
		var parked bool
		if err := rows.Scan(&name, &c.Position, &xid, &parked); err != nil {
			return err
		}
		if c.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
			return err
		}
		w.progress.Advance(name, c)
		stopped[name] = parked
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.progress.SetStopped(stopped)
	return nil
}
