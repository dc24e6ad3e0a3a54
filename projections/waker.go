package projections

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgconn"
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
	for {
		cur := h.maxCommitted.Load()
		if xid <= cur || h.maxCommitted.CompareAndSwap(cur, xid) {
			break
		}
	}
	h.wakeAll()
}

// Ended wakes every projector: a transaction that ended may have been the
// one holding the snapshot horizon back.
func (h *Hub) Ended() { h.wakeAll() }

// MaxCommitted is the newest append transaction this process knows to be
// committed.
func (h *Hub) MaxCommitted() uint64 { return h.maxCommitted.Load() }

func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.wakers {
		select {
		case w.wake <- struct{}{}:
		default: // already signalled
		}
	}
}

func (h *Hub) add(w *waker) {
	h.mu.Lock()
	h.wakers[w] = struct{}{}
	h.mu.Unlock()
}

func (h *Hub) remove(w *waker) {
	h.mu.Lock()
	delete(h.wakers, w)
	h.mu.Unlock()
}

// waker is a watermill-sql BackoffManager for one subscriber. After an
// empty poll it blocks until the hub signals a commit (or the fallback
// interval passes), so an idle projector costs one query per fallback
// interval, and a busy one reacts within a scheduler tick. When the
// projector has not yet seen the newest committed append, an empty poll
// means an older transaction still holds the snapshot xmin: it then polls
// again after a short pause instead of sleeping.
type waker struct {
	hub      *Hub
	seenXID  *atomic.Uint64
	wake     chan struct{}
	closing  chan struct{}
	fallback time.Duration
	heldBack time.Duration
	retry    time.Duration
	once     sync.Once
}

func newWaker(h *Hub, seen *atomic.Uint64, fallback time.Duration) *waker {
	w := &waker{
		hub: h, seenXID: seen, wake: make(chan struct{}, 1), closing: make(chan struct{}),
		fallback: fallback, heldBack: time.Millisecond, retry: 200 * time.Millisecond,
	}
	h.add(w)
	return w
}

// HandleError implements wsql.BackoffManager.
func (w *waker) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil {
		if contended(err) {
			// Another server process holds this projector's checkpoint
			// and just advanced it: try again shortly, it is not a fault.
			logger.Debug("projector checkpoint busy in another process", watermill.LogFields{"err": err.Error()})
			return 10 * time.Millisecond
		}
		select {
		case <-w.closing: // shutting down: the poll was cancelled
		default:
			logger.Error("projector poll failed", err, watermill.LogFields{"retry_in": w.retry})
		}
		return w.retry
	}
	if !noMsg {
		return 0
	}
	wait := w.fallback
	if w.seenXID.Load() < w.hub.MaxCommitted() {
		// Something committed that this projector has not seen: either
		// its wake-up is pending (it committed during the poll), or an
		// older open transaction holds the horizon. Poll again at the
		// next commit, or shortly.
		wait = w.heldBack
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.wake:
	case <-t.C:
	case <-w.closing:
	}
	return 0
}

func (w *waker) close() {
	w.once.Do(func() {
		close(w.closing)
		w.hub.remove(w)
	})
}

// contended reports a serialization failure or deadlock (SQLSTATE 40001,
// 40P01): the checkpoint row was updated by the projector's consumer in
// another process while this poll waited for its lock.
func contended(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}
