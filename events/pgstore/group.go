package pgstore

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"example.com/crm/events"
)

// Group commit: concurrent appends share one transaction, hence one
// commit record and one WAL flush. Each append keeps its own checks and
// outcome: it runs under a savepoint of the group's transaction, and a
// failed one (a version conflict, a refused authorization) is rolled back
// to its savepoint without touching the others. Appends with inline
// projection work or InTx never join a group.
//
// A group holds the locks of all its appends until it commits, so two
// groups could wait for each other: every statement of a group runs with
// a short lock_timeout, and an append that times out (or is chosen as a
// deadlock victim) is retried alone, outside any group.
//
// It is off unless StartGroupCommit is called, and the server does not
// call it: measured with fsync on (BenchmarkAppendThroughput), it bought
// little at 8 clients and lost 3–5× at 32, because PostgreSQL already
// shares WAL flushes between concurrent commits while a group runs its
// appends one after another on one connection.

// groupLockTimeout bounds a lock wait inside a group.
const groupLockTimeout = "50ms"

type groupReq struct {
	p    encoded
	done chan groupRes
}

type groupRes struct {
	stored []events.Event
	xid    uint64
	err    error
	// alone: retry outside any group (a lock wait timed out).
	alone bool
}

type grouper struct {
	reqs    chan *groupReq
	max     int
	stop    chan struct{}
	stopped sync.WaitGroup
}

// StartGroupCommit makes appends share transactions: lanes goroutines
// each run one group transaction at a time, of up to max appends that
// arrived while the previous groups were busy. It returns the function
// that stops them (call it after the last Append). Without it, every
// append is its own transaction.
func (s *Store) StartGroupCommit(lanes, max int) (stop func()) {
	g := &grouper{reqs: make(chan *groupReq, lanes*max), max: max, stop: make(chan struct{})}
	for range lanes {
		g.stopped.Add(1)
		go func() {
			defer g.stopped.Done()
			s.lane(g)
		}()
	}
	s.group = g
	var once sync.Once
	return func() {
		once.Do(func() {
			close(g.stop)
			g.stopped.Wait()
		})
	}
}

func (s *Store) lane(g *grouper) {
	for {
		var first *groupReq
		select {
		case first = <-g.reqs:
		case <-g.stop:
			return
		}
		group := []*groupReq{first}
	drain:
		for len(group) < g.max {
			select {
			case r := <-g.reqs:
				group = append(group, r)
			default:
				break drain
			}
		}
		s.runGroup(group)
	}
}

// appendGrouped hands p to a group and waits for its outcome. It waits
// even when ctx ends: the group may already have committed p's events,
// and the caller must not be told otherwise.
func (s *Store) appendGrouped(ctx context.Context, p encoded) ([]events.Event, uint64, error) {
	r := &groupReq{p: p, done: make(chan groupRes, 1)}
	select {
	case s.group.reqs <- r:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	case <-s.group.stop:
		return s.appendPipelined(ctx, p)
	}
	res := <-r.done
	if res.alone {
		return s.appendPipelined(ctx, p)
	}
	return res.stored, res.xid, res.err
}

// runGroup runs the appends of group in one transaction, each under a
// savepoint, and delivers every outcome after the commit. Each appender
// tells the hooks about its own outcome (Append does).
func (s *Store) runGroup(group []*groupReq) {
	ctx := context.Background() // a group outlives any one request
	res := make([]groupRes, len(group))
	deliver := func() {
		for i, r := range group {
			r.done <- res[i]
		}
	}
	failAll := func(err error) {
		for i := range res {
			if res[i].err == nil && !res[i].alone {
				res[i] = groupRes{err: err}
			}
		}
	}
	if len(group) == 1 { // nothing to share: the one-round-trip append
		r := &res[0]
		r.stored, r.xid, r.err = s.appendPipelined(ctx, group[0].p)
		deliver()
		return
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		failAll(err)
		deliver()
		return
	}
	defer conn.Release()
	// BEGIN and the lock timeout in one round trip (simple protocol).
	if _, err := conn.Exec(ctx, "BEGIN; SET LOCAL lock_timeout = '"+groupLockTimeout+"'"); err != nil {
		failAll(err)
		deliver()
		return
	}
	tx := conn.Conn()
	committed := false
	defer func() {
		if !committed {
			_, _ = tx.Exec(ctx, "ROLLBACK")
		}
	}()
	ok := 0
	for i, r := range group {
		p := r.p
		var b pgx.Batch
		b.Queue("SAVEPOINT a")
		if len(p.guardStreams) > 0 {
			b.Queue(lockSQL, p.lockKeys, p.lockShared)
		}
		b.Queue(appendSQL, p.args(len(p.guardStreams) > 0)...).Query(func(rows pgx.Rows) error {
			var err error
			res[i].stored, res[i].xid, err = p.scan(rows)
			return err
		})
		b.Queue("RELEASE SAVEPOINT a")
		err := tx.SendBatch(ctx, &b).Close()
		if err == nil {
			ok++
			continue
		}
		res[i] = groupRes{err: p.mapErr(err)}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01") {
			res[i] = groupRes{alone: true}
		}
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT a"); rerr != nil {
			failAll(rerr)
			deliver()
			return
		}
		if _, rerr := tx.Exec(ctx, "RELEASE SAVEPOINT a"); rerr != nil {
			failAll(rerr)
			deliver()
			return
		}
	}
	if ok > 0 {
		// COMMIT of a transaction in the failed state rolls back
		// without an error: its tag tells.
		tag, err := tx.Exec(ctx, "COMMIT")
		switch {
		case err != nil:
			failAll(err)
		case tag.String() != "COMMIT":
			failAll(errors.New("pgstore: the group transaction rolled back"))
		default:
			committed = true
		}
	}
	deliver()
}
