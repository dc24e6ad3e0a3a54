package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
)

// Waiter gives queries read-your-writes: it waits until the named
// projectors have processed every event of the tenant that was committed
// before the wait began, across all server processes (checkpoints are read
// from the database, not from memory).
type Waiter struct {
	pool     *pgxpool.Pool
	progress *Progress
	timeout  time.Duration
	recheck  time.Duration
}

// NewWaiter returns a Waiter giving up after timeout (CONSISTENCY_TIMEOUT).
// progress makes in-process commits wake waiters at once; checkpoints
// advanced by other processes are seen by re-checking every few
// milliseconds.
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

const caughtUpSQL = `
SELECT count(*) FILTER (WHERE (last_processed_transaction_id, offset_acked) >= ($1::text::xid8, $2::bigint))
       = cardinality($3::text[])
FROM projector_checkpoints WHERE consumer_group = ANY($3::text[])`

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

// Wait blocks until every named projector is at or past the tenant's
// horizon as it is now. After the timeout it returns a PROJECTION_BEHIND
// error.
func (w *Waiter) Wait(ctx context.Context, tenantID uuid.UUID, projectors ...string) error {
	// One round trip for the common case: read the horizon and whether
	// the projectors are already past it together.
	var h Horizon
	var xid string
	var caughtUp bool
	err := w.pool.QueryRow(ctx, horizonAndCaughtUpSQL, tenantID, projectors).Scan(&xid, &h.Position, &caughtUp)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && caughtUp) {
		return nil // no events yet, or nothing to wait for
	}
	if err != nil {
		return fmt.Errorf("projections: horizon: %w", err)
	}
	if h.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return err
	}
	return w.WaitFor(ctx, h, projectors...)
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
	deadline := time.NewTimer(w.timeout)
	defer deadline.Stop()
	for {
		changed := w.progress.Changed() // before the check, so no advance is missed
		ok, err := w.caughtUp(ctx, h, projectors)
		if err != nil || ok {
			return err
		}
		select {
		case <-changed:
		case <-time.After(w.recheck):
		case <-deadline.C:
			return crm.Errorf(crm.CodeProjectionBehind, "read models are still catching up; retry shortly")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *Waiter) caughtUp(ctx context.Context, h Horizon, projectors []string) (bool, error) {
	var ok bool
	err := w.pool.QueryRow(ctx, caughtUpSQL, strconv.FormatUint(h.TransactionID, 10), h.Position, projectors).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("projections: checkpoints: %w", err)
	}
	return ok, nil
}
