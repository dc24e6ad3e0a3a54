package projections

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// leaseClass is the first key of every projector's advisory lock ("crm"
// in ASCII); the second is hashtext(projector name).
const leaseClass = 0x63726d

// leaser holds the projectors' leases: session-level advisory locks on
// one dedicated connection. A projector runs in the one process holding
// its lock; when that process dies its session ends, the locks go with
// it, and another process takes them at its next try (fail-over within
// the lease interval). The checkpoint update of every batch is guarded
// by the position it started from, so even two holders (a connection
// that died unnoticed) cannot apply one batch twice.
type leaser struct {
	pool     *pgxpool.Pool
	names    []string
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	holding map[string]bool
	changed chan struct{} // closed and replaced when holding changes
}

func newLeaser(pool *pgxpool.Pool, names []string, interval time.Duration, log *slog.Logger) *leaser {
	return &leaser{pool: pool, names: names, interval: interval, log: log,
		holding: map[string]bool{}, changed: make(chan struct{})}
}

func (l *leaser) held(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holding[name]
}

func (l *leaser) heldNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range l.names {
		if l.holding[n] {
			out = append(out, n)
		}
	}
	return out
}

// changes returns a channel closed when the leases held next change.
func (l *leaser) changes() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// await blocks until this process holds name's lease; false when closing.
func (l *leaser) await(ctx context.Context, name string, closing <-chan struct{}) bool {
	for {
		l.mu.Lock()
		ok, ch := l.holding[name], l.changed
		l.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-closing:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// awaitAny blocks until this process holds some lease; false when
// closing.
func (l *leaser) awaitAny(ctx context.Context, closing <-chan struct{}) bool {
	for {
		l.mu.Lock()
		n, ch := len(l.holding), l.changed
		l.mu.Unlock()
		if n > 0 {
			return true
		}
		select {
		case <-ch:
		case <-closing:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func (l *leaser) set(holding map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holding = holding
	close(l.changed)
	l.changed = make(chan struct{})
}

// run takes and keeps the leases until ctx ends. After a lost session
// (PostgreSQL restarted, say) it tries again at once and then backs off,
// from 50 ms up to the lease interval: the projectors, and the reads that
// wait for them, are back within moments of the database.
func (l *leaser) run(ctx context.Context) {
	retry := time.Duration(0)
	for ctx.Err() == nil {
		started := time.Now()
		err := l.session(ctx)
		l.set(map[string]bool{})
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > l.interval {
			retry = 0 // a session that lived: this is a new failure
		}
		retry = min(max(2*retry, 50*time.Millisecond), l.interval)
		l.log.Warn("projector lease connection lost; retrying", "err", err, "in", retry.String())
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

func (l *leaser) session(ctx context.Context) error {
	c, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The locks live as long as this session: it never goes back to the
	// pool, and closing it releases them.
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	holding := map[string]bool{}
	for {
		if len(holding) < len(l.names) {
			got, err := l.try(ctx, conn, holding)
			if err != nil {
				return err
			}
			if len(got) > 0 {
				next := map[string]bool{}
				for n := range holding {
					next[n] = true
				}
				for _, n := range got {
					next[n] = true
				}
				holding = next
				l.set(next)
				l.log.Info("projector leases taken", "projectors", got)
			}
		} else if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			return err // the session (and with it every lease) is gone
		}
		t := time.NewTimer(l.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// try takes every free lease not held yet, in one statement.
func (l *leaser) try(ctx context.Context, conn *pgx.Conn, holding map[string]bool) ([]string, error) {
	var want []string
	for _, n := range l.names {
		if !holding[n] {
			want = append(want, n)
		}
	}
	rows, err := conn.Query(ctx, `SELECT n FROM unnest($1::text[]) AS n
		WHERE pg_try_advisory_lock($2::int, hashtext(n))`, want, leaseClass)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
