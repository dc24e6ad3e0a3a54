package commands

import (
	"context"
	"reflect"
	"sync"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// Loading an aggregate must not grow with its history (a contact with
// 10k deals linked, a deal with 1,000 comments): states are cached by
// stream and version, and a load reads only the events after the cached
// version. A stream only grows and a stored event never changes, so a
// cached state plus the events after it is the current state, whatever
// other processes appended meanwhile: the cache needs no invalidation.

// defaultCacheSize bounds the number of cached states.
const defaultCacheSize = 10_000

// stateCache holds recent aggregate states, each never mutated after it is
// put (loads hand out clones).
type stateCache struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]cachedState
}

// cacheKey names a stream's state as one aggregate type: a stream id
// passed where another type is expected (a contact's id as a deal's)
// must not pick up the other type's state.
type cacheKey struct {
	tenant, stream uuid.UUID
	kind           reflect.Type
}

type cachedState struct {
	version int
	state   any
}

func newStateCache(max int) *stateCache {
	return &stateCache{max: max, m: make(map[cacheKey]cachedState)}
}

func (c *stateCache) get(k cacheKey) (cachedState, bool) {
	if c == nil {
		return cachedState{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s, ok
}

// put keeps s as k's state at version unless a newer one is cached.
func (c *stateCache) put(k cacheKey, version int, s any) {
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.m[k]; ok && cur.version >= version {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m { // evict one at random
			delete(c.m, old)
			break
		}
	}
	c.m[k] = cachedState{version: version, state: s}
}

// aggregate is a pointer to an aggregate type that can be cloned.
type aggregate[T any] interface {
	*T
	aggregates.State
	Clone() *T
}

// load rebuilds the aggregate of stream id of tenant: the cached state,
// if any, plus the events after its version. It reports the version (0
// when the stream does not exist).
func load[T any, P aggregate[T]](ctx context.Context, a *Application, tenant, id uuid.UUID) (P, int, error) {
	k := cacheKey{tenant, id, reflect.TypeFor[T]()}
	var s P = new(T)
	after := 0
	if c, ok := a.cache.get(k); ok {
		s, after = P(c.state.(P).Clone()), c.version
	}
	evs, err := a.store.Load(ctx, tenant, id, events.LoadOptions{AfterVersion: after})
	if err != nil {
		return nil, 0, err
	}
	if len(evs) == 0 {
		return s, after, nil
	}
	aggregates.Replay(s, evs)
	version := evs[len(evs)-1].Version
	a.cache.put(k, version, P(s.Clone()))
	return s, version, nil
}

// remember caches s, the state a command's append just committed at
// version, so the next load of the stream reads no event and clones once.
// The command must not change s afterwards.
func remember[T any, P aggregate[T]](a *Application, tenant, id uuid.UUID, version int, s P) {
	a.cache.put(cacheKey{tenant, id, reflect.TypeFor[T]()}, version, s)
}
