package projections

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
)

// logCache lets one read of the log feed every projector of a process.
// Projectors that keep up read the same events in the same order, each
// after its own checkpoint: the first to poll after a checkpoint queries
// and decodes, the others find the batch here. A cached batch stays
// valid for good: it lies below the snapshot xmin it was read under, so
// nothing can still commit inside it (a later read after the same
// checkpoint can only return more events, never others). Items are
// shared read-only between projectors.
type logCache struct {
	pool *pgxpool.Pool
	reg  *events.Registry

	mu    sync.Mutex
	byKey map[Checkpoint][]item
	order []Checkpoint
	limit int
	// emptyAfter holds the checkpoints after which a read that rode
	// along with a batch's commit found nothing: the next read after one
	// of them is answered "nothing" without asking, once, and only for
	// emptyFresh. Unlike a cached batch, "nothing yet" holds only for the
	// moment it was read: the engine reads right after the batch, and any
	// commit since has woken it (or left the hub ahead of what it has
	// seen, which makes it look again within a millisecond).
	emptyAfter map[Checkpoint]time.Time
}

// emptyFresh is how long an empty read that rode along with a commit
// stands in for a read of the engine's own.
const emptyFresh = 50 * time.Millisecond

func newLogCache(pool *pgxpool.Pool, reg *events.Registry, batches int) *logCache {
	return &logCache{pool: pool, reg: reg, byKey: map[Checkpoint][]item{}, limit: batches, emptyAfter: map[Checkpoint]time.Time{}}
}

// read returns up to limit events after c, from the cache when another
// projector read them already.
func (l *logCache) read(ctx context.Context, c Checkpoint, limit int) ([]item, error) {
	l.mu.Lock()
	got, ok := l.byKey[c]
	emptyAt, empty := l.emptyAfter[c]
	delete(l.emptyAfter, c)
	l.mu.Unlock()
	if ok {
		return got[:min(len(got), limit)], nil
	}
	if empty && time.Since(emptyAt) < emptyFresh {
		return nil, nil
	}
	got, err := readLog(ctx, l.pool, l.reg, c, limit)
	if err != nil || len(got) == 0 {
		return got, err
	}
	l.deposit(c, got)
	return got, nil
}

// deposit keeps got, read after c, for the next read after c; an empty
// got answers that one read only.
func (l *logCache) deposit(c Checkpoint, got []item) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(got) == 0 {
		clear(l.emptyAfter) // only the newest one can still be asked for
		l.emptyAfter[c] = time.Now()
		return
	}
	if prev, ok := l.byKey[c]; ok && len(prev) >= len(got) {
		return
	}
	if _, ok := l.byKey[c]; !ok {
		l.order = append(l.order, c)
	}
	l.byKey[c] = got
	for len(l.order) > l.limit {
		delete(l.byKey, l.order[0])
		l.order = l.order[1:]
	}
}

// prefetch reads the batch after c into the cache.
func (l *logCache) prefetch(ctx context.Context, c Checkpoint, limit int) {
	_, _ = l.read(ctx, c, limit)
}
