package projections

import (
	"context"
	"sync"

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
}

func newLogCache(pool *pgxpool.Pool, reg *events.Registry, batches int) *logCache {
	return &logCache{pool: pool, reg: reg, byKey: map[Checkpoint][]item{}, limit: batches}
}

// read returns up to limit events after c, from the cache when another
// projector read them already.
func (l *logCache) read(ctx context.Context, c Checkpoint, limit int) ([]item, error) {
	l.mu.Lock()
	got, ok := l.byKey[c]
	l.mu.Unlock()
	if ok {
		return got[:min(len(got), limit)], nil
	}
	got, err := readLog(ctx, l.pool, l.reg, c, limit)
	if err != nil || len(got) == 0 {
		return got, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.byKey[c]; ok && len(prev) >= len(got) {
		return got, nil
	}
	if _, ok := l.byKey[c]; !ok {
		l.order = append(l.order, c)
	}
	l.byKey[c] = got
	for len(l.order) > l.limit {
		delete(l.byKey, l.order[0])
		l.order = l.order[1:]
	}
	return got, nil
}

// prefetch reads the batch after c into the cache.
func (l *logCache) prefetch(ctx context.Context, c Checkpoint, limit int) {
	_, _ = l.read(ctx, c, limit)
}
