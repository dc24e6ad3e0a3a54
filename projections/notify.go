package projections

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// channel is the PostgreSQL NOTIFY channel that carries "events up to this
// transaction id are committed" between server processes.
const channel = "crm_events"

// listenerName is the application_name of every listening connection, by
// which a notifier tells whether another process listens.
const listenerName = "crm-listener"

// othersEvery is how often a notifier looks again whether another
// process listens: a process that starts listening hears this one's
// commits within it (its projectors read the log at start and on their
// fallback poll in any case).
const othersEvery = time.Second

// Notifier forwards local commits to other server processes. NOTIFY is
// sent after the append commits, from its own connection, coalescing
// bursts into one notification: a NOTIFY inside the append transaction
// would serialize every commit on PostgreSQL's notify-queue lock.
//
// While no other process listens (no connection named listenerName but
// this process's own, looked up at most every othersEvery while commits
// come), nothing is sent: a lone server paid a NOTIFY transaction, an
// xid, and its own listener's wake-up for every few commits, about a
// sixth of PostgreSQL's transactions under W2, to tell nobody.
type Notifier struct {
	pool     *pgxpool.Pool
	pending  atomic.Uint64
	kick     chan struct{}
	pid      atomic.Uint32 // the notifying connection's backend
	listener atomic.Uint32 // this process's listening connection's backend
	log      *slog.Logger
}

// NewNotifier returns a Notifier; call Run to start sending.
func NewNotifier(pool *pgxpool.Pool, log *slog.Logger) *Notifier {
	return &Notifier{pool: pool, kick: make(chan struct{}, 1), log: log}
}

// Committed schedules a notification for xid (non-blocking).
func (n *Notifier) Committed(xid uint64) {
	for {
		cur := n.pending.Load()
		if xid <= cur || n.pending.CompareAndSwap(cur, xid) {
			break
		}
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Run sends notifications until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := n.session(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("event notifier connection lost; retrying", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

func (n *Notifier) session(ctx context.Context) error {
	conn, err := n.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	n.pid.Store(conn.Conn().PgConn().PID())
	var (
		sent      uint64
		others    bool
		checkedAt time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.kick:
		}
		xid := n.pending.Load()
		if xid <= sent {
			continue
		}
		if time.Since(checkedAt) >= othersEvery {
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> $2)`,
				listenerName, int64(n.listener.Load())).Scan(&others); err != nil {
				return err
			}
			checkedAt = time.Now()
		}
		if others {
			if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", channel, strconv.FormatUint(xid, 10)); err != nil {
				return err
			}
		}
		sent = xid
	}
}

// Listen feeds commits announced by other processes into hub until ctx
// ends, reconnecting as needed. Its own process's notifications (sent
// by self) are skipped: the hub heard of those directly.
func Listen(ctx context.Context, pool *pgxpool.Pool, hub *Hub, self *Notifier, log *slog.Logger) {
	for ctx.Err() == nil {
		if err := listenSession(ctx, pool, hub, self); err != nil && ctx.Err() == nil {
			log.Warn("event listener connection lost; retrying", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

func listenSession(ctx context.Context, pool *pgxpool.Pool, hub *Hub, self *Notifier) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A LISTENing connection must not go back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	// The notifier learns which listener is its own before the name
	// makes it visible: else, for its first look, it counts its own
	// process as another and announces commits to nobody.
	if self != nil {
		self.listener.Store(pc.PgConn().PID())
	}
	if _, err := pc.Exec(ctx, "SET application_name = '"+listenerName+"'"); err != nil {
		return err
	}
	if _, err := pc.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	for {
		note, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if self != nil && note.PID == self.pid.Load() {
			continue
		}
		xid, err := strconv.ParseUint(note.Payload, 10, 64)
		if err != nil {
			continue
		}
		hub.Committed(xid)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
