package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"example.com/crm/events"
)

// member is one projector's place in the engine's loop.
type member struct {
	p Projector
	// held: this process holds the projector's lease and at is its
	// checkpoint as read when the lease was taken, moved by every batch.
	held bool
	at   Checkpoint
	// stopped: the projector is at a parked event; checkParked: look in
	// projector_parked before the next batch (at start, after parking,
	// while stopped, while a skipped event lies ahead).
	stopped, checkParked bool
	// After a failed batch the projector takes one event per batch up
	// to the failed batch's end, so the good events commit and the bad
	// one is found; failures counts the bad one's attempts.
	isolating    bool
	isolateUntil Checkpoint
	failures     int
	notBefore    time.Time
	// doubt: a row taken to be new existed (CR011), so the projector is
	// replaying events it applied before; its folds read every row
	// (Doubter) until a batch commits.
	doubt bool
}

func (m *member) runnable(now time.Time) bool {
	return m.held && !m.stopped && !now.Before(m.notBefore)
}

// part is one projector's share of a batch.
type part struct {
	m     *member
	from  Checkpoint
	items []item
	err   error // this projector's failure (the others may have committed)
	// retry: this part could not reach the database (applied alone, in
	// parallel with the others): read it again after a pause, counting
	// nothing against its events.
	retry bool
	// readRows: its fold read rows before writing them (rows neither in
	// the row cache nor new), a round trip of their own.
	readRows bool
}

func (p *part) to() Checkpoint { return checkpointOf(p.items[len(p.items)-1].Event) }

// batch is what one Watermill message carries: events read once from the
// log, and each projector's share of them. The subscriber and the
// handler share it in process (through the message's context), so
// nothing is marshalled.
type batch struct {
	parts []*part
	read  time.Time // when the log read returned its events
	// next, for live traffic (a read shorter than a batch), is the read
	// of the log after this batch that rides in its write's round trip
	// (see nextRead).
	next *nextRead
}

// nextRead is a read of the log sent in the same round trip as a live
// batch's writes, right after their COMMIT: the events committed while
// the batch was applied come back with its commit, and the engine's next
// read finds them in the log cache instead of costing a round trip of its
// own. A projector that keeps up thus spends one round trip per batch,
// not two (W2: the read was a third of a batch's time under load).
type nextRead struct {
	from  Checkpoint // the batch's end
	limit int
	items []item
	done  bool // the read ran (a failure of the read leaves it false)
}

type batchKey struct{}

// errCheckpointMoved says another process moved a checkpoint: this one
// lost the lease and must re-read where it stands.
var errCheckpointMoved = errors.New("projections: checkpoint moved by another process")

// errRowNotNew says a row taken to be new, unread, existed (CR011 of
// Table.QueueUpsertFresh): the projector is replaying events it applied
// before, and applies them again reading every row (member.doubt).
var errRowNotNew = errors.New("projections: a stream taken to be new has a row already")

// engine is the Watermill subscriber of the projectors: while this
// process holds their leases it reads the log after their checkpoints —
// once for every projector at the same place — and hands out batches,
// waiting for each one's ack before reading on.
type engine struct {
	r       *Runner
	members []*member
	closing chan struct{}
	once    sync.Once
	wake    *waker
}

func newEngine(r *Runner) *engine {
	e := &engine{r: r, closing: make(chan struct{}), wake: newWaker(r.cfg.Hub)}
	for _, p := range r.cfg.Projectors {
		e.members = append(e.members, &member{p: p})
	}
	return e
}

func (e *engine) shutdown() {
	e.once.Do(func() {
		close(e.closing)
		e.wake.close()
	})
}

// Close implements message.Subscriber.
func (e *engine) Close() error { e.shutdown(); return nil }

// Subscribe implements message.Subscriber.
func (e *engine) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		e.run(ctx, out)
	}()
	return out, nil
}

func (e *engine) log(p *Projector) watermill.LoggerAdapter {
	l := watermill.NewSlogLogger(e.r.cfg.Logger)
	if p != nil {
		return l.With(watermill.LogFields{"projector": p.Name})
	}
	return l
}

func (e *engine) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.closing:
		return false
	case <-ctx.Done():
		return false
	}
}

// run is the loop: follow the leases, check parked events, read, send.
func (e *engine) run(ctx context.Context, out chan<- *message.Message) {
	cfg := e.r.cfg
	defer cfg.Progress.SetLocal(nil)
	var held heldBack
	for {
		// A lease taken or lost while the engine waits ends the wait, so
		// that this process's waiters stop counting on a projector it no
		// longer runs at once, not a fallback poll later.
		leasesChanged := e.r.leases.changes()
		if err := e.followLeases(ctx); err != nil {
			e.log(nil).Error("projector checkpoints", err, nil)
			if !e.sleep(ctx, time.Second) {
				return
			}
			continue
		}
		now := time.Now()
		var runnable []*member
		anyHeld := false
		wait := cfg.FallbackPoll
		for _, m := range e.members {
			anyHeld = anyHeld || m.held
			if m.held && m.checkParked {
				if err := e.checkParked(ctx, m); err != nil {
					e.log(&m.p).Error("reading parked events", err, nil)
				}
			}
			if m.runnable(now) {
				runnable = append(runnable, m)
			} else if m.held && !m.stopped {
				wait = min(wait, m.notBefore.Sub(now))
			}
		}
		e.publishLocal()
		if !anyHeld {
			if !e.r.leases.awaitAny(ctx, e.closing) {
				return
			}
			continue
		}
		if len(runnable) == 0 {
			if !e.wake.wait(ctx, max(wait, time.Millisecond), false, leasesChanged, e.closing) {
				return
			}
			continue
		}
		sent, ok := e.feed(ctx, out, runnable)
		if !ok {
			return
		}
		if sent {
			held = heldBack{}
			continue
		}
		if !e.idle(ctx, &held, leasesChanged) {
			return
		}
	}
}

// publishLocal tells the waiters of this process which projectors it
// runs and keeps moving: their checkpoints reach Progress as they commit,
// and the waiters read no checkpoint from the database for them.
func (e *engine) publishLocal() {
	local := map[string]bool{}
	for _, m := range e.members {
		if m.held && !m.stopped {
			local[m.p.Name] = true
		}
	}
	e.r.cfg.Progress.SetLocal(local)
}

// followLeases loads the checkpoint of every projector whose lease was
// just taken, and drops those whose lease was lost. The models of those
// taken forget what they cached and, unless Config.ColdStart, warm up
// from one read of the log's newest events for all of them.
func (e *engine) followLeases(ctx context.Context) error {
	var taken []*member
	for _, m := range e.members {
		held := e.r.leases.held(m.p.Name)
		switch {
		case held && !m.held:
			c, err := ensureCheckpoint(ctx, e.r.cfg.Pool, m.p.Name)
			if err != nil {
				return err
			}
			*m = member{p: m.p, held: true, at: c, checkParked: true}
			e.r.cfg.Progress.Advance(m.p.Name, c)
			forget(m.p) // another process may have written meanwhile
			taken = append(taken, m)
			e.wake.seen(c.TransactionID)
		case !held:
			m.held = false
		}
	}
	e.warm(ctx, taken)
	return nil
}

// warm fills the caches of the Warmers among taken.
func (e *engine) warm(ctx context.Context, taken []*member) {
	var warmers []*member
	for _, m := range taken {
		if _, ok := m.p.Model.(Warmer); ok && !e.r.cfg.ColdStart {
			warmers = append(warmers, m)
		}
	}
	if len(warmers) == 0 {
		return
	}
	pool := e.r.cfg.Pool
	recent, err := readRecent(ctx, pool)
	if err != nil {
		if ctx.Err() == nil {
			e.log(nil).Error("warming the row caches: reading the log", err, nil)
		}
		return
	}
	for _, m := range warmers {
		if err := m.p.Model.(Warmer).Warm(ctx, pool, recent); err != nil && ctx.Err() == nil {
			e.log(&m.p).Error("warming the row cache", err, nil)
		}
	}
}

// feed reads the log for the runnable projectors and sends batches: the
// projectors furthest behind first, then, if the read did not reach the
// others, a read from where they stand; so a projector catching up
// never starves the ones that keep up. It reports whether it sent
// anything.
func (e *engine) feed(ctx context.Context, out chan<- *message.Message, runnable []*member) (sent, ok bool) {
	waiting := slices.Clone(runnable)
	for len(waiting) > 0 {
		from := waiting[0].at
		for _, m := range waiting[1:] {
			if m.at.Before(from) {
				from = m.at
			}
		}
		items, err := e.r.log.read(ctx, from, e.r.cfg.BatchSize)
		if err != nil {
			if ctx.Err() == nil && !e.isClosing() {
				e.log(nil).Error("projector poll failed", err, nil)
			}
			return sent, e.sleep(ctx, 200*time.Millisecond)
		}
		if len(items) == 0 {
			return sent, true
		}
		e.wake.seen(items[len(items)-1].TransactionID)
		if len(items) == e.r.cfg.BatchSize {
			// A backlog: read the next batch while this one is applied,
			// so reading and applying use both cores.
			go e.r.log.prefetch(ctx, checkpointOf(items[len(items)-1].Event), e.r.cfg.BatchSize)
		}
		b := &batch{read: time.Now()}
		if len(items) < e.r.cfg.BatchSize {
			b.next = &nextRead{from: checkpointOf(items[len(items)-1].Event), limit: e.r.cfg.BatchSize}
		}
		var rest []*member
		for _, m := range waiting {
			share := after(items, m.at)
			if len(share) == 0 {
				rest = append(rest, m) // ahead of this read: next round
				continue
			}
			if m.isolating {
				share = share[:1]
			}
			b.parts = append(b.parts, &part{m: m, from: m.at, items: share})
		}
		if !e.send(ctx, out, b) {
			return sent, false
		}
		sent, waiting = true, rest
	}
	return sent, true
}

// after returns the items past c.
func after(items []item, c Checkpoint) []item {
	i, _ := slices.BinarySearchFunc(items, c, func(it item, c Checkpoint) int {
		if !c.Before(checkpointOf(it.Event)) {
			return -1
		}
		return 1
	})
	return items[i:]
}

// send hands b to the handler and applies its outcome to the members.
func (e *engine) send(ctx context.Context, out chan<- *message.Message, b *batch) bool {
	msg := message.NewMessage(uuid.NewString(), nil)
	msg.SetContext(context.WithValue(ctx, batchKey{}, b))
	select {
	case out <- msg:
	case <-e.closing:
		return false
	case <-ctx.Done():
		return false
	}
	select {
	case <-msg.Acked():
	case <-msg.Nacked():
		// The batch failed as a whole (the database went away): read
		// again after a pause.
		return e.sleep(ctx, 200*time.Millisecond)
	case <-e.closing:
		return false
	case <-ctx.Done():
		return false
	}
	for _, pt := range b.parts {
		e.settle(ctx, pt)
	}
	return true
}

// settle moves a projector on after its part of a batch: to the part's
// end when it committed; otherwise into isolation, a retry after a
// back-off (no transaction stays open meanwhile), or the parking lot.
func (e *engine) settle(ctx context.Context, pt *part) {
	m, cfg := pt.m, e.r.cfg
	if pt.err != nil || pt.retry {
		forget(m.p) // what the part's fold loaded is not known to be committed
	}
	switch {
	case pt.retry:
		m.notBefore = time.Now().Add(200 * time.Millisecond)
	case pt.err == nil:
		m.at, m.failures, m.doubt = pt.to(), 0, false
		if m.isolating && !m.at.Before(m.isolateUntil) {
			m.isolating = false
		}
	case errors.Is(pt.err, errRowNotNew) && !m.doubt:
		// Again at once, reading every row: counts no failure.
		e.log(&m.p).Info("projector replays events it applied before; reading every row", nil)
		m.doubt = true
	case errors.Is(pt.err, errCheckpointMoved):
		e.log(&m.p).Info("projector checkpoint moved elsewhere; re-reading it", nil)
		m.held = false // followLeases reloads it
	case len(pt.items) > 1:
		m.isolating, m.isolateUntil = true, pt.to()
	default:
		m.failures++
		if m.failures >= cfg.MaxAttempts {
			if err := e.park(ctx, &m.p, pt.items[0], pt.err, m.failures); err != nil {
				e.log(&m.p).Error("parking a poison event", err, nil)
			}
			m.failures, m.checkParked = 0, true
			return
		}
		m.notBefore = time.Now().Add(cfg.ResendInterval << min(m.failures-1, 6))
	}
}

func (e *engine) isClosing() bool {
	select {
	case <-e.closing:
		return true
	default:
		return false
	}
}

// idle waits after an empty read: for a wake-up or the fallback poll;
// or, when the hub knows of a commit not read yet (an older transaction
// still holds the snapshot horizon), a short pause: 1, 2, then every 4 ms,
// woken early by any append that ends, for as long as a second; past
// that (a transaction left open elsewhere in the cluster, not appends in
// flight) the pause doubles up to the fallback poll and commits no longer
// cut it short. So appends in flight cost a few quick reads, a long-open
// transaction one read a second, and nothing is ever a busy loop.
func (e *engine) idle(ctx context.Context, held *heldBack, leasesChanged <-chan struct{}) bool {
	wait := e.r.cfg.FallbackPoll
	useWake := true
	if e.wake.behind() {
		now := time.Now()
		if held.since.IsZero() {
			held.since, held.pause = now, 0
		}
		if now.Sub(held.since) < time.Second {
			held.pause = min(max(held.pause*2, time.Millisecond), 4*time.Millisecond)
		} else {
			held.pause = min(max(held.pause*2, 8*time.Millisecond), e.r.cfg.FallbackPoll)
			useWake = false
		}
		wait = held.pause
	} else {
		*held = heldBack{}
	}
	return e.wake.wait(ctx, wait, useWake, leasesChanged, e.closing)
}

// heldBack tracks how long reads have found nothing while a commit was
// known to be waiting behind an older transaction.
type heldBack struct {
	since time.Time
	pause time.Duration
}

// handler applies one batch. A small batch (live traffic: fewer than
// ParallelBelow events) is applied in ParallelGroups transactions at
// once (by default one: see Config.ParallelGroups), each on its own
// connection, so that a failing group does not hold back the others and
// a read model is readable once its own group commits. A large
// batch (catching up) is applied in one transaction and two round trips
// for every projector, which costs less per event; when that fails, each
// part in its own transaction, so one projector's failure is its own.
//
// A failure to reach the database nacks the batch (read again, nothing
// counted against any event), or, for a part applied alone, retries that
// part later; anything else is the failing projector's, settled by the
// engine.
func (r *Runner) handler(msg *message.Message) error {
	b, ok := msg.Context().Value(batchKey{}).(*batch)
	if !ok {
		return errors.New("projections: message without a batch")
	}
	ctx := msg.Context()
	started := time.Now()
	if len(b.parts) > 1 && b.widest() < r.cfg.ParallelBelow {
		r.applyEach(ctx, b.parts, b.next)
	} else {
		err := r.applyParts(ctx, b.parts, b.next)
		switch {
		case err == nil:
		case transient(err):
			return err
		case len(b.parts) == 1:
			b.parts[0].err = err
		default:
			for _, pt := range b.parts {
				pt.err = nil
				if err := r.applyParts(ctx, []*part{pt}, nil); err != nil {
					if transient(err) {
						return err
					}
					pt.err = err
				}
			}
		}
	}
	r.published(b.parts)
	if b.next != nil && b.next.done {
		r.log.deposit(b.next.from, b.next.items)
	}
	var widest []item
	readRows := false
	for _, pt := range b.parts {
		if pt.err == nil && !pt.retry && len(pt.items) > len(widest) {
			widest = pt.items
		}
		readRows = readRows || pt.readRows
	}
	if r.cfg.OnBatch != nil && len(widest) > 0 {
		now := time.Now()
		st := BatchStats{Events: len(widest), Apply: now.Sub(started), Queued: started.Sub(b.read), ReadRows: readRows,
			Delays: make([]time.Duration, len(widest)), ReadDelays: make([]time.Duration, len(widest))}
		for i, it := range widest {
			st.Delays[i] = now.Sub(it.RecordedAt)
			st.ReadDelays[i] = b.read.Sub(it.RecordedAt)
		}
		r.cfg.OnBatch(st)
	}
	return nil
}

// applyEach applies the parts in up to ParallelGroups transactions at
// once (see groupParts). A group that fails as a whole is applied again
// part by part, like a batch, so that one projector's failure is its
// own; a part that cannot reach the database is retried. The first
// group, the one with the most work, carries next.
func (r *Runner) applyEach(ctx context.Context, parts []*part, next *nextRead) {
	groups := groupParts(parts, r.cfg.ParallelGroups)
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rd *nextRead
			if i == 0 {
				rd = next
			}
			groupErr := r.applyParts(ctx, g, rd)
			if groupErr == nil {
				r.published(g)
				return
			}
			for _, pt := range g {
				pt.err = nil
				err := groupErr
				if len(g) > 1 && !transient(groupErr) {
					err = r.applyParts(ctx, []*part{pt}, nil)
				}
				switch {
				case err == nil:
					r.published([]*part{pt})
				case transient(err):
					pt.retry = true
				default:
					pt.err = err
				}
			}
		}()
	}
	wg.Wait()
}

// published tells the read-your-writes waiters of this process that the
// parts of a group that committed are readable: as soon as their own
// transaction is done, not once the batch's slowest group is.
func (r *Runner) published(parts []*part) {
	for _, pt := range parts {
		if pt.err == nil && !pt.retry {
			r.cfg.Progress.Advance(pt.m.p.Name, pt.to())
		}
	}
}

// groupParts deals parts out to at most n transactions so that the work
// is shared evenly: largest first, each part joins the group with the
// least work so far. A part's work is the number of its events its model
// reads; a part with none (only its checkpoint moves) rides along in the
// group with the least work and never takes a transaction of its own.
// Dealing parts out in turn instead put W2's two busy projectors (deals
// and activities, every deal patch writes both) into one transaction, one
// after the other, beside a transaction that only moved the checkpoints
// of the two idle ones.
func groupParts(parts []*part, n int) [][]*part {
	work := make(map[*part]int, len(parts))
	busy := 0
	for _, pt := range parts {
		for _, it := range pt.items {
			if pt.m.p.Model.Wants(it.Type) {
				work[pt]++
			}
		}
		if work[pt] > 0 {
			busy++
		}
	}
	byWork := slices.Clone(parts)
	slices.SortStableFunc(byWork, func(a, b *part) int { return work[b] - work[a] })
	groups := make([][]*part, max(1, min(n, busy)))
	load := make([]int, len(groups))
	for _, pt := range byWork {
		i := 0
		for j := range load {
			if load[j] < load[i] {
				i = j
			}
		}
		groups[i] = append(groups[i], pt)
		load[i] += work[pt]
	}
	return groups
}

// widest is the number of events of the batch's largest part.
func (b *batch) widest() int {
	n := 0
	for _, pt := range b.parts {
		n = max(n, len(pt.items))
	}
	return n
}

// transient tells an error of reaching the database (retry as it is)
// from one a projector caused (a statement its fold wrote failed, or the
// fold itself did: counted against the event).
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57", "58", "40": // connection, resources, operator, system, serialization
			return true
		}
		return false
	}
	var fe *foldError
	return !errors.As(err, &fe) && !errors.Is(err, errCheckpointMoved) && !errors.Is(err, errRowNotNew)
}

// foldError is a failure of a projector's own code.
type foldError struct{ err error }

func (e *foldError) Error() string { return e.err.Error() }
func (e *foldError) Unwrap() error { return e.err }

// advanceSQL moves each projector's checkpoint from where this process
// left it to the end of its part, and its high_position (migrations/00090)
// up to the part's highest position ($7; 0 leaves it).
const advanceSQL = `
UPDATE projector_checkpoints c
SET offset_acked = a.to_pos, last_processed_transaction_id = a.to_xid::xid8, updated_at = now(), owner = $6,
    high_position = greatest(c.high_position, a.high)
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $7::bigint[]) AS a(name, to_pos, to_xid, from_pos, from_xid, high)
WHERE c.consumer_group = a.name AND c.offset_acked = a.from_pos AND c.last_processed_transaction_id = a.from_xid::xid8
RETURNING c.consumer_group`

// advanceOrFailSQL is advanceSQL that fails the transaction (CR010,
// crm_fail of migrations/00020) unless every checkpoint moved on ($8 of
// them): sent in the same round trip as the writes it guards.
const advanceOrFailSQL = `WITH a AS (` + advanceSQL + `)
SELECT CASE WHEN count(*) = $8 THEN true ELSE crm_fail('CR010', 'a projector checkpoint moved') END FROM a`

// applyParts applies parts in one transaction, in one or two round
// trips. When every fold knows its rows already (RowModel's row cache),
// one: [BEGIN, the checkpoints (failing the transaction if one moved),
// every fold's writes, COMMIT]. Otherwise every fold's reads go first,
// in a round trip of their own outside any transaction, then the folds
// run in memory, then that same one.
//
// Reading outside the transaction is safe for the reason the row cache
// is: this process holds the projectors' leases and applies their
// batches one after the other, so the rows read are what its last batch
// committed; should anyone else have moved a checkpoint meanwhile (a
// process that lost the lease, a rebuild's swap), the checkpoint guard
// fails the whole transaction (CR010) and nothing read is written back.
// (The reads used to open the transaction and move the checkpoints
// there, which cost a second update of every checkpoint per batch to
// raise its high position once the folds were done.)
//
// A part whose fold fails is left out (its checkpoint stays) and
// carries its error; an error of the whole transaction is returned.
// With next, the round trip reads the log after the COMMIT too.
func (r *Runner) applyParts(ctx context.Context, parts []*part, next *nextRead) (err error) {
	c, err := r.cfg.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Conn()
	inTx := false
	defer func() {
		if inTx {
			if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				_ = conn.Close(context.WithoutCancel(ctx)) // never return a connection mid-transaction
			}
		}
		c.Release()
	}()

	folds := make([]Fold, len(parts))
	evs := make([][]events.Event, len(parts))
	loads := &pgx.Batch{}
	for i, pt := range parts {
		var err error
		if evs[i], err = wanted(pt.m.p, pt.items); err != nil {
			pt.err = &foldError{err}
			continue
		}
		folds[i] = pt.m.p.Model.NewFold(Live)
		if d, ok := folds[i].(Doubter); ok && pt.m.doubt {
			d.ReadEveryRow()
		}
		own := &pgx.Batch{}
		if pt.err = guard(func() error { folds[i].Load(own, evs[i]); return nil }); pt.err != nil {
			continue
		}
		pt.readRows = own.Len() > 0
		loads.QueuedQueries = append(loads.QueuedQueries, own.QueuedQueries...)
	}
	if loads.Len() > 0 {
		if err := conn.SendBatch(ctx, loads).Close(); err != nil {
			return err
		}
	}
	return r.applyOneTrip(ctx, conn, &inTx, parts, folds, evs, next)
}

// applyOneTrip folds the parts and writes them in one round trip, behind
// the checkpoint guard, followed by next's read of the log when given.
func (r *Runner) applyOneTrip(ctx context.Context, conn *pgx.Conn, inTx *bool, parts []*part, folds []Fold, evs [][]events.Event, next *nextRead) error {
	writes := &pgx.Batch{}
	var cp checkpointArgs
	for i, pt := range parts {
		if pt.err == nil {
			pt.err = foldAndFlush(folds[i], evs[i], writes)
		}
		if pt.err == nil {
			cp.add(pt)
		}
	}
	if len(cp.names) == 0 {
		return nil // every part failed in memory: nothing to write
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(advanceOrFailSQL, cp.names, cp.toPos, cp.toXid, cp.fromPos, cp.fromXid, r.cfg.Owner, cp.high, len(cp.names))
	b.QueuedQueries = append(b.QueuedQueries, writes.QueuedQueries...)
	b.Queue("COMMIT")
	statements := b.Len()
	if next != nil {
		b.Queue(pollSQL, next.from.xid(), next.from.Position, next.limit)
	}
	*inTx = true
	br := conn.SendBatch(ctx, b)
	var err error
	for range statements {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if err == nil && next != nil {
		// The writes are committed whatever becomes of the read: a
		// failed read only costs the engine a read of its own. The
		// waiters learn of them first, not once the read is decoded.
		r.published(parts)
		next.items, next.done = scanLog(br, r.cfg.Registry)
	}
	if cerr := br.Close(); err == nil && !next.readFailed() {
		err = cerr
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "CR010" {
			return errCheckpointMoved
		}
		if errors.As(err, &pgErr) && pgErr.Code == "CR011" {
			return errRowNotNew
		}
		return err
	}
	*inTx = false
	committed(parts, folds)
	return nil
}

// readFailed: next's read was sent and did not come back.
func (n *nextRead) readFailed() bool { return n != nil && !n.done }

// scanLog reads the result of a queued pollSQL; ok is false when the
// read failed.
func scanLog(br pgx.BatchResults, reg *events.Registry) (items []item, ok bool) {
	rows, err := br.Query()
	if err != nil {
		return nil, false
	}
	defer rows.Close()
	for rows.Next() {
		if items, err = scanEvent(rows, reg, items); err != nil {
			return nil, false
		}
	}
	return items, rows.Err() == nil
}

// checkpointArgs are advanceSQL's arrays: each part's projector, where it
// goes and where it comes from.
type checkpointArgs struct {
	names, toXid, fromXid []string
	toPos, fromPos, high  []int64
}

func (a *checkpointArgs) add(pt *part) {
	to := pt.to()
	a.names, a.toPos, a.toXid = append(a.names, pt.m.p.Name), append(a.toPos, to.Position), append(a.toXid, to.xid())
	a.fromPos, a.fromXid = append(a.fromPos, pt.from.Position), append(a.fromXid, pt.from.xid())
	high := int64(0)
	for _, it := range pt.items {
		high = max(high, it.Position)
	}
	a.high = append(a.high, high)
}

// foldAndFlush folds evs and queues the fold's writes on b; a failure is
// the fold's own, and queues nothing (a Flush that fails halfway leaves
// no statement behind to commit without its checkpoint).
func foldAndFlush(f Fold, evs []events.Event, b *pgx.Batch) error {
	return guard(func() error {
		if err := foldAll(f, evs); err != nil {
			return &foldError{err}
		}
		own := &pgx.Batch{}
		if err := f.Flush(own); err != nil {
			return &foldError{err}
		}
		b.QueuedQueries = append(b.QueuedQueries, own.QueuedQueries...)
		return nil
	})
}

// guard runs a projector's own code and turns a panic into that
// projector's failure, so that a bug in one read model is isolated,
// retried and parked like any event it cannot apply. Recovered by
// Watermill's middleware instead, it failed the batch as a whole, which
// the engine takes for the database going away and reads again, without
// end.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &foldError{fmt.Errorf("panic: %v", r)}
		}
	}()
	return f()
}

// committed tells the folds of the parts that committed.
func committed(parts []*part, folds []Fold) {
	for i, pt := range parts {
		if c, ok := folds[i].(Committer); ok && pt.err == nil {
			c.Committed()
		}
	}
}

// forget drops what p's model keeps in memory about its tables.
func forget(p Projector) {
	if f, ok := p.Model.(Forgetter); ok {
		f.Forget()
	}
}

func foldAll(f Fold, evs []events.Event) error {
	for _, e := range evs {
		if err := f.Apply(e); err != nil {
			return fmt.Errorf("event %s (%s v%d of %s, position %d): %w", e.ID, e.Type, e.Version, e.StreamID, e.Position, err)
		}
	}
	return nil
}

// wanted drops the events whose payload failed to decode when the model
// does not read that type, and fails on one it does read.
func wanted(p Projector, items []item) ([]events.Event, error) {
	evs := make([]events.Event, 0, len(items))
	for _, it := range items {
		if it.err != nil && p.Model.Wants(it.Type) {
			return nil, fmt.Errorf("event %s (%s, position %d): %w", it.ID, it.Type, it.Position, it.err)
		}
		evs = append(evs, it.Event)
	}
	return evs, nil
}

// applyBatch runs one fold over evs in tx: its reads, the events, its
// writes (the rebuild's catch-up uses it on shadow tables).
func applyBatch(ctx context.Context, tx pgx.Tx, f Fold, evs []events.Event) error {
	reads := &pgx.Batch{}
	f.Load(reads, evs)
	if err := sendBatch(ctx, tx, reads); err != nil {
		return err
	}
	if err := foldAll(f, evs); err != nil {
		return err
	}
	writes := &pgx.Batch{}
	if err := f.Flush(writes); err != nil {
		return err
	}
	return sendBatch(ctx, tx, writes)
}

// checkParked looks for a parked event ahead of m: m stops at one still
// open; one an operator skipped is stepped over when m reaches it (the
// checkpoint moves past it); one marked for retry is tried again.
func (e *engine) checkParked(ctx context.Context, m *member) error {
	pool := e.r.cfg.Pool
	var (
		id         uuid.UUID
		pos        int64
		xid        string
		resolution *string
	)
	err := pool.QueryRow(ctx, `
		SELECT event_id, position, transaction_id::text, resolution FROM projector_parked
		WHERE projector = $1 AND (resolution IS NULL OR resolution = 'skipped')
		  AND (transaction_id, position) > ($2::text::xid8, $3::bigint)
		ORDER BY transaction_id, position LIMIT 1`, m.p.Name, m.at.xid(), m.at.Position).Scan(&id, &pos, &xid, &resolution)
	if errors.Is(err, pgx.ErrNoRows) {
		m.stopped, m.checkParked = false, false
		return nil
	}
	if err != nil {
		return err
	}
	at := Checkpoint{Position: pos}
	if at.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return err
	}
	if resolution == nil {
		m.stopped = true
		return nil
	}
	m.stopped = false
	next, err := readLog(ctx, pool, e.r.cfg.Registry, m.at, 1)
	if err != nil || len(next) == 0 || next[0].ID != id {
		return err // not reached yet: go on until it is
	}
	tag, err := pool.Exec(ctx, `UPDATE projector_checkpoints SET offset_acked = $2, last_processed_transaction_id = $3::text::xid8,
		high_position = greatest(high_position, $2), updated_at = now() WHERE consumer_group = $1 AND offset_acked = $4 AND last_processed_transaction_id = $5::text::xid8`,
		m.p.Name, at.Position, at.xid(), m.at.Position, m.at.xid())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		e.log(&m.p).Info("skipped a parked event", watermill.LogFields{"event_id": id.String()})
		m.at = at
		e.r.cfg.Progress.Advance(m.p.Name, at)
	}
	return nil
}

// park records a poison event: the projector stops at it until an
// operator skips it or asks for a retry.
func (e *engine) park(ctx context.Context, p *Projector, it item, cause error, attempts int) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	e.log(p).Error("projector stopped at a poison event: fix the projector and `crm projections retry`, or `crm projections skip`", cause,
		watermill.LogFields{"event_id": it.ID.String(), "event_type": it.Type, "position": it.Position, "attempts": attempts})
	_, err := e.r.cfg.Pool.Exec(ctx, `
		INSERT INTO projector_parked (projector, event_id, position, transaction_id, event_type, tenant_id, error, attempts)
		VALUES ($1, $2, $3, $4::text::xid8, $5, $6, $7, $8)
		ON CONFLICT (projector, event_id) DO UPDATE
		SET error = EXCLUDED.error, attempts = projector_parked.attempts + EXCLUDED.attempts,
		    parked_at = now(), resolution = NULL, resolved_at = NULL`,
		p.Name, it.ID, it.Position, strconv.FormatUint(it.TransactionID, 10), it.Type, it.TenantID, msg, attempts)
	return err
}
