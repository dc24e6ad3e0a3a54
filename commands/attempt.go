package commands

import (
	"context"
	"errors"
	"sync"

	"github.com/google/uuid"

	"example.com/crm/events"
)

// Deciding on cached states without reading them.
//
// A command's first attempt takes a trusted cached state (cache.go) as
// the stream's current state without a round trip. Nothing is lost if it
// is stale: every stream the decision read is either appended to at the
// version it was read at (the store's unique stream version refuses the
// append) or guarded at that version (added here when the command did not
// guard it itself), so a decision on a stale state never commits. What is
// left to settle is an attempt that did not commit: its answer (an error,
// or a patch that changed nothing) may come from a stale state, so retry
// runs it again reading every stream. A conflict on a stream it assumed
// marks that stream shared (read every time from then on).

// attempt is what one run of a command's decision assumed and whether its
// append committed. Commands run an attempt on one goroutine; the lock
// is for the store's callbacks all the same.
type attempt struct {
	optimistic bool
	mu         sync.Mutex
	assumed    []assumedState
	committed  bool
	// onCommit runs after the append committed (states to remember).
	onCommit []func()
}

// assumedState is a stream whose cached state a decision took unread.
type assumedState struct {
	key     streamKey
	version int
}

type attemptKey struct{}

func withAttempt(ctx context.Context, at *attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, at)
}

func attemptFrom(ctx context.Context) *attempt {
	at, _ := ctx.Value(attemptKey{}).(*attempt)
	return at
}

func (at *attempt) assume(k streamKey, version int) {
	at.mu.Lock()
	defer at.mu.Unlock()
	at.assumed = append(at.assumed, assumedState{k, version})
}

// unsettled reports whether the attempt decided on unread states and did
// not commit: its outcome cannot be trusted.
func (at *attempt) unsettled() bool {
	at.mu.Lock()
	defer at.mu.Unlock()
	return len(at.assumed) > 0 && !at.committed
}

// settle updates the cache after an unsettled attempt that failed with
// err: a conflict marks the streams it assumed as shared.
func (at *attempt) settle(c *stateCache, err error) {
	if !errors.Is(err, events.ErrConflict) {
		return
	}
	var named uuid.UUID
	if ce := (*events.ConflictError)(nil); errors.As(err, &ce) {
		named = ce.StreamID
	}
	at.mu.Lock()
	defer at.mu.Unlock()
	for _, s := range at.assumed {
		if named == uuid.Nil || named == s.key.stream {
			c.conflicted(s.key, s.version)
		}
	}
}

// checkedStore is the event store as commands use it: an append guards
// every state its attempt assumed and did not append to at that version,
// and records that the attempt committed; any append moves the cache's
// trust off the states it left behind.
type checkedStore struct {
	events.Store
	cache *stateCache
}

func (s checkedStore) Append(ctx context.Context, b events.Batch) (events.Result, error) {
	at := attemptFrom(ctx)
	if at != nil {
		b.Guards = at.guards(b)
	}
	keys := make([]streamKey, len(b.Streams))
	for i, ap := range b.Streams {
		keys[i] = streamKey{ap.Stream.TenantID, ap.Stream.ID}
	}
	s.cache.appendStarted(keys)
	res, err := s.Store.Append(ctx, b)
	if err != nil {
		s.cache.appendEnded(keys, nil)
		return res, err
	}
	versions := make([]int, len(b.Streams))
	for i, ap := range b.Streams {
		versions[i] = ap.Expected + len(ap.Events)
	}
	s.cache.appendEnded(keys, versions)
	if at != nil {
		at.mu.Lock()
		at.committed = true
		done := at.onCommit
		at.onCommit = nil
		at.mu.Unlock()
		for _, f := range done {
			f()
		}
	}
	return res, nil
}

// rememberOnCommit caches s, a state the attempt of ctx decided, at
// version once its append commits (for states a helper decided and the
// command does not hold: the contact a deal links to).
func rememberOnCommit[T any, P aggregate[T]](ctx context.Context, a *Application, tenant, id uuid.UUID, version int, s P) {
	at := attemptFrom(ctx)
	if at == nil {
		return
	}
	at.mu.Lock()
	defer at.mu.Unlock()
	at.onCommit = append(at.onCommit, func() { remember(a, tenant, id, version, s) })
}

// guards returns b's guards plus one for every assumed state that b
// neither appends to at its version nor guards already.
func (at *attempt) guards(b events.Batch) []events.Guard {
	at.mu.Lock()
	defer at.mu.Unlock()
	out := b.Guards
next:
	for _, s := range at.assumed {
		for _, ap := range b.Streams {
			if ap.Stream.TenantID == s.key.tenant && ap.Stream.ID == s.key.stream && ap.Expected == s.version {
				continue next
			}
		}
		for _, g := range b.Guards {
			if g.Stream.TenantID == s.key.tenant && g.Stream.ID == s.key.stream && g.Version == s.version {
				continue next
			}
		}
		out = append(out, events.Guard{Stream: events.Stream{TenantID: s.key.tenant, ID: s.key.stream}, Version: s.version})
	}
	return out
}
