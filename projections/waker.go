package projections

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Hub tells idle projectors that the event log moved, so they poll at once
// instead of on a timer. The event store calls Committed after every
// append that commits (with its transaction id) and Ended after every
// append transaction that ends; the cross-process listener calls Committed
// for appends made by other server processes.
type Hub struct {
	mu           sync.Mutex
	wakers       map[*waker]struct{}
	maxCommitted atomic.Uint64
}

// NewHub returns a hub with no projectors yet.
func NewHub() *Hub { return &Hub{wakers: map[*waker]struct{}{}} }

// Committed records that events of transaction xid are committed and
// wakes every projector.
func (h *Hub) Committed(xid uint64) {
	storeMax(&h.maxCommitted, xid)
	h.wakeAll()
}

// Ended wakes every projector: a transaction that ended may have been the
// one holding the snapshot horizon back.
func (h *Hub) Ended() { h.wakeAll() }

// MaxCommitted is the newest append transaction this process knows to be
// committed.
func (h *Hub) MaxCommitted() uint64 { return h.maxCommitted.Load() }

// Subscribe returns a channel signalled (coalesced, never blocking the
// hub) after commits and ends of append transactions, for waiters outside
// this package such as the event feed's long poll, and the func that
// unsubscribes.
func (h *Hub) Subscribe() (<-chan struct{}, func()) {
	w := newWaker(h)
	return w.ch, w.close
}

func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.wakers {
		select {
		case w.ch <- struct{}{}:
		default: // already signalled
		}
	}
}

func storeMax(v *atomic.Uint64, x uint64) {
	for {
		cur := v.Load()
		if x <= cur || v.CompareAndSwap(cur, x) {
			return
		}
	}
}

// waker is one projector's line to the hub: a signal channel, and the
// newest transaction id the projector has read (to tell "idle" from
// "held back by an older open transaction").
type waker struct {
	hub     *Hub
	ch      chan struct{}
	seenXID atomic.Uint64
	once    sync.Once
}

func newWaker(h *Hub) *waker {
	w := &waker{hub: h, ch: make(chan struct{}, 1)}
	h.mu.Lock()
	h.wakers[w] = struct{}{}
	h.mu.Unlock()
	return w
}

func (w *waker) seen(xid uint64) { storeMax(&w.seenXID, xid) }

// behind reports a commit the projector has not read yet.
func (w *waker) behind() bool { return w.seenXID.Load() < w.hub.MaxCommitted() }

// wait sleeps for d, or until a wake-up when useWake, or until also is
// closed; false when closing.
// A wake-up that announces nothing past what the projector has read does
// not end the wait: the end of an append whose events a
// batch's own read already brought (see nextRead), or a commit read
// before it was announced. Such a wake-up used to cost a read of the log
// that found nothing.
func (w *waker) wait(ctx context.Context, d time.Duration, useWake bool, also, closing <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	wake := w.ch
	if !useWake {
		wake = nil
	}
	for {
		select {
		case <-wake:
			if !w.behind() {
				continue
			}
		case <-t.C:
		case <-also:
		case <-closing:
			return false
		case <-ctx.Done():
			return false
		}
		return true
	}
}

func (w *waker) close() {
	w.once.Do(func() {
		w.hub.mu.Lock()
		delete(w.hub.wakers, w)
		w.hub.mu.Unlock()
	})
}
