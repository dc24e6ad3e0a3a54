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
//
// A command's first attempt goes further and does not read at all when
// the cached state is trusted (attempt.go): the append's expected
// versions validate it instead, one round trip less. A state is trusted
// when this process read it or committed it, and it is as far as this
// process's own appends took the stream; a stream that another writer
// moved under a trusted state (a conflict) is "shared" and is read before
// every decision from then on.

// defaultCacheSize bounds the number of cached states: a few hundred
// bytes each, so 50,000 cost the server about 15 MB. At 10,000, after
// crmbench's W1 (some 30,000 streams created or changed in 90 s) 40 % of
// W2's deal patches read their stream from the log again before deciding
// (an extra round trip and ~0.13 ms of PostgreSQL each); at 50,000, 19 %
// (the first touch of a deal this process never cached).
const defaultCacheSize = 50_000

// stateCache holds recent aggregate states, each never mutated after it is
// put (loads hand out clones).
type stateCache struct {
	mu  sync.Mutex
	max int
	m   map[streamKey]cachedState
	// appending counts this process's appends in flight per stream, so
	// that a conflict between two of its own requests is not taken for
	// another writer's.
	appending map[streamKey]int
}

// streamKey names a stream of a tenant.
type streamKey struct{ tenant, stream uuid.UUID }

type cachedState struct {
	// kind is the aggregate type of state: a stream id passed where
	// another type is expected (a contact's id as a deal's) must not pick
	// up the other type's state.
	kind    reflect.Type
	version int
	state   any
	// trusted: a first attempt may decide on it without reading (see
	// above); shared: never, another writer moved the stream under it.
	trusted, shared bool
}

func newStateCache(max int) *stateCache {
	return &stateCache{max: max, m: make(map[streamKey]cachedState), appending: make(map[streamKey]int)}
}

func (c *stateCache) get(k streamKey, kind reflect.Type) (cachedState, bool) {
	if c == nil {
		return cachedState{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	if !ok || s.kind != kind {
		return cachedState{}, false
	}
	return s, true
}

// put keeps s as k's state at version (current: as far as the store or
// this process's append took it) unless a newer one is cached.
func (c *stateCache) put(k streamKey, version int, s any) {
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.m[k]
	if ok && cur.kind == reflect.TypeOf(s).Elem() && cur.version >= version {
		return
	}
	if !ok && len(c.m) >= c.max {
		for old := range c.m { // evict one at random
			delete(c.m, old)
			break
		}
	}
	c.m[k] = cachedState{kind: reflect.TypeOf(s).Elem(), version: version, state: s, trusted: !cur.shared, shared: cur.shared}
}

// appendStarted counts an append to keys in flight until appendEnded.
func (c *stateCache) appendStarted(keys []streamKey) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		c.appending[k]++
	}
}

// appendEnded ends appendStarted. When the append committed, versions
// are where it took each stream: a cached state behind is no longer
// trusted (it is still a valid start for a load). It runs before the
// count drops, so a racing request of this process that conflicts sees
// either the append in flight or the cache moved on.
func (c *stateCache) appendEnded(keys []streamKey, versions []int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		if versions != nil {
			if cur, ok := c.m[k]; ok && cur.version < versions[i] {
				cur.trusted = false
				c.m[k] = cur
			}
		}
		if c.appending[k]--; c.appending[k] <= 0 {
			delete(c.appending, k)
		}
	}
}

// conflicted records that a decision on k's state at version met a
// conflict: unless this process's own append moved the stream past it
// meanwhile (two requests of this process raced), another writer did, and
// k is shared from now on.
func (c *stateCache) conflicted(k streamKey, version int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.m[k]
	if !ok || cur.version > version || !cur.trusted || c.appending[k] > 0 {
		return // this process moved it on, or already knows
	}
	cur.trusted, cur.shared = false, true
	c.m[k] = cur
}

// aggregate is a pointer to an aggregate type that can be cloned.
type aggregate[T any] interface {
	*T
	aggregates.State
	Clone() *T
}

// load rebuilds the aggregate of stream id of tenant: the cached state,
// if any, plus the events after its version. It reports the version (0
// when the stream does not exist). On a command's first attempt a trusted
// cached state is taken without reading; the attempt records it, and its
// append validates it (attempt.go).
func load[T any, P aggregate[T]](ctx context.Context, a *Application, tenant, id uuid.UUID) (P, int, error) {
	k := streamKey{tenant, id}
	var s P = new(T)
	after := 0
	if c, ok := a.cache.get(k, reflect.TypeFor[T]()); ok {
		s, after = P(c.state.(P).Clone()), c.version
		if at := attemptFrom(ctx); at != nil && at.optimistic && c.trusted {
			at.assume(k, c.version)
			return s, after, nil
		}
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
	a.cache.put(streamKey{tenant, id}, version, s)
}
