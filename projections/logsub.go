package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
)

// Checkpoint is a point in projection order: everything at or before
// (TransactionID, Position) has been applied.
type Checkpoint struct {
	TransactionID uint64
	Position      int64
}

// Before reports whether c comes before o in projection order.
func (c Checkpoint) Before(o Checkpoint) bool {
	return c.TransactionID < o.TransactionID || (c.TransactionID == o.TransactionID && c.Position < o.Position)
}

func (c Checkpoint) xid() string { return strconv.FormatUint(c.TransactionID, 10) }

func checkpointOf(e events.Event) Checkpoint {
	return Checkpoint{TransactionID: e.TransactionID, Position: e.Position}
}

// pollSQL reads the next events after a checkpoint: a range scan of the
// primary key (transaction_id, position), ORDER BY and LIMIT at the top
// level, and only transactions below the snapshot xmin (every one of
// them has ended, so none can still commit behind the checkpoint). It
// runs outside any transaction: reading the log takes no xid.
const pollSQL = `
SELECT position, transaction_id::text, event_id, tenant_id, stream_type, stream_id, version,
       event_type, schema_version, payload, metadata, occurred_at, recorded_at
FROM events
WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT $3`

// PollSQL is the poll's statement, for tests that check its plan.
const PollSQL = pollSQL

// item is one event read from the log; err is set when its payload could
// not be decoded (its Data is then nil).
type item struct {
	events.Event
	err error
}

// readLog reads up to limit events after c.
func readLog(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, reg *events.Registry, c Checkpoint, limit int) ([]item, error) {
	rows, err := q.Query(ctx, pollSQL, c.xid(), c.Position, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []item
	for rows.Next() {
		it, err := scanEvent(rows, reg)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

func scanEvent(rows pgx.Rows, reg *events.Registry) (item, error) {
	var (
		it       item
		xid      string
		payload  []byte
		metadata []byte
	)
	e := &it.Event
	if err := rows.Scan(&e.Position, &xid, &e.ID, &e.TenantID, &e.StreamType, &e.StreamID, &e.Version,
		&e.Type, &e.SchemaVersion, &payload, &metadata, &e.OccurredAt, &e.RecordedAt); err != nil {
		return it, fmt.Errorf("projections: scan event: %w", err)
	}
	var err error
	if e.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return it, err
	}
	e.OccurredAt, e.RecordedAt = e.OccurredAt.UTC(), e.RecordedAt.UTC()
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &e.Metadata); err != nil {
			it.err = fmt.Errorf("event %s: metadata: %w", e.ID, err)
		}
	}
	if it.err == nil {
		e.Data, it.err = reg.Decode(e.Type, e.SchemaVersion, payload)
	}
	return it, nil
}

// batch is what one Watermill message carries: the events of one poll,
// and the checkpoint they start after. The subscriber and the handler
// share it in process (through the message's context), so nothing is
// marshalled; err is the handler's answer to a nack.
type batch struct {
	from   Checkpoint
	events []item
	err    error
}

func (b *batch) last() Checkpoint { return checkpointOf(b.events[len(b.events)-1].Event) }

type batchKey struct{}

// errCheckpointMoved says another process moved the checkpoint: this one
// lost the lease and must re-read where it stands.
var errCheckpointMoved = errors.New("projections: checkpoint moved by another process")

// logSubscriber is the Watermill subscriber of one projector: while this
// process holds the projector's lease it polls the log after the
// checkpoint and hands out one batch per message, waiting for its ack.
type logSubscriber struct {
	r       *Runner
	p       Projector
	closing chan struct{}
	once    sync.Once
	wake    *waker
}

func newLogSubscriber(r *Runner, p Projector) *logSubscriber {
	return &logSubscriber{r: r, p: p, closing: make(chan struct{}), wake: newWaker(r.cfg.Hub)}
}

func (s *logSubscriber) shutdown() {
	s.once.Do(func() {
		close(s.closing)
		s.wake.close()
	})
}

// Close implements message.Subscriber.
func (s *logSubscriber) Close() error { s.shutdown(); return nil }

// Subscribe implements message.Subscriber; the topic is the projector.
func (s *logSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		s.run(ctx, out)
	}()
	return out, nil
}

func (s *logSubscriber) log() watermill.LoggerAdapter {
	return watermill.NewSlogLogger(s.r.cfg.Logger).With(watermill.LogFields{"projector": s.p.Name})
}

// run holds the projector while the lease is held, and waits for the
// lease otherwise.
func (s *logSubscriber) run(ctx context.Context, out chan<- *message.Message) {
	for {
		if !s.r.leases.await(ctx, s.p.Name, s.closing) {
			return
		}
		c, err := ensureCheckpoint(ctx, s.r.cfg.Pool, s.p.Name)
		if err != nil {
			s.log().Error("projector checkpoint", err, nil)
			if !s.sleep(ctx, time.Second) {
				return
			}
			continue
		}
		s.consume(ctx, out, c)
		select {
		case <-s.closing:
			return
		case <-ctx.Done():
			return
		default:
		}
	}
}

func (s *logSubscriber) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return false
	case <-ctx.Done():
		return false
	}
}

// consume feeds batches from checkpoint c until the lease is lost or the
// subscriber closes.
func (s *logSubscriber) consume(ctx context.Context, out chan<- *message.Message, c Checkpoint) {
	cfg := s.r.cfg
	var (
		isolateUntil Checkpoint // after a failed batch: one event per message up to here
		isolating    bool
		failures     int
		heldBack     time.Duration
		checkParked  = true // at start, after parking, while stopped
	)
	s.wake.seen(c.TransactionID)
	for {
		if !s.r.leases.held(s.p.Name) {
			return
		}
		if checkParked {
			stopped, pending, err := s.parkedAt(ctx, &c)
			if err != nil || stopped {
				if err != nil {
					s.log().Error("reading parked events", err, nil)
				}
				if !s.sleep(ctx, cfg.FallbackPoll) {
					return
				}
				continue
			}
			checkParked = pending
		}
		items, err := readLog(ctx, cfg.Pool, cfg.Registry, c, cfg.BatchSize)
		if err != nil {
			if ctx.Err() == nil && !s.isClosing() {
				s.log().Error("projector poll failed", err, nil)
			}
			if !s.sleep(ctx, 200*time.Millisecond) {
				return
			}
			continue
		}
		if len(items) == 0 {
			if !s.idle(ctx, &heldBack) {
				return
			}
			continue
		}
		heldBack = 0
		s.wake.seen(items[len(items)-1].TransactionID)
		if isolating {
			items = items[:1]
		}
		b := &batch{from: c, events: items}
		msg := message.NewMessage(uuid.NewString(), nil)
		msg.SetContext(context.WithValue(ctx, batchKey{}, b))
		select {
		case out <- msg:
		case <-s.closing:
			return
		case <-ctx.Done():
			return
		}
		select {
		case <-msg.Acked():
			c = b.last()
			failures = 0
			if isolating && !c.Before(isolateUntil) {
				isolating = false
			}
		case <-msg.Nacked():
			if errors.Is(b.err, errCheckpointMoved) {
				s.log().Info("projector checkpoint moved elsewhere; re-reading it", nil)
				return
			}
			if len(b.events) > 1 {
				// Apply the events one by one up to the end of the
				// failed batch: the good ones commit, the bad one is
				// found.
				isolating, isolateUntil = true, b.last()
				continue
			}
			failures++
			if failures >= cfg.MaxAttempts {
				if err := s.park(ctx, b.events[0], b.err, failures); err != nil {
					s.log().Error("parking a poison event", err, nil)
				}
				failures, checkParked = 0, true
				continue
			}
			// No transaction is open while we wait: the failed batch
			// rolled back, and the log read took no xid.
			if !s.sleep(ctx, cfg.ResendInterval<<min(failures-1, 6)) {
				return
			}
		case <-s.closing:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *logSubscriber) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// idle waits after an empty poll: for a wake-up or the fallback poll;
// or, when the hub knows of a commit this projector has not seen (an
// older transaction still holds the snapshot horizon), a short pause
// that doubles while it lasts, so a long-open transaction elsewhere
// costs a few polls per second, never a busy loop.
func (s *logSubscriber) idle(ctx context.Context, heldBack *time.Duration) bool {
	wait := s.r.cfg.FallbackPoll
	useWake := true
	if s.wake.behind() {
		if *heldBack == 0 {
			*heldBack = time.Millisecond
		} else {
			*heldBack = min(*heldBack*2, 64*time.Millisecond)
		}
		wait = *heldBack
		// Past the first pauses, commits no longer cut the wait short:
		// they cannot move a horizon that an old transaction holds.
		useWake = *heldBack <= 4*time.Millisecond
	} else {
		*heldBack = 0
	}
	return s.wake.wait(ctx, wait, useWake, s.closing)
}

// handler applies one batch in one transaction with the checkpoint.
func (r *Runner) handler(p Projector) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		b, ok := msg.Context().Value(batchKey{}).(*batch)
		if !ok {
			return errors.New("projections: message without a batch")
		}
		b.err = r.apply(msg.Context(), p, b)
		if b.err != nil {
			return fmt.Errorf("projector %s: %w", p.Name, b.err)
		}
		r.cfg.Progress.Advance()
		return nil
	}
}

const advanceSQL = `
UPDATE projector_checkpoints
SET offset_acked = $2, last_processed_transaction_id = $3::text::xid8, updated_at = now(), owner = $6
WHERE consumer_group = $1 AND offset_acked = $4 AND last_processed_transaction_id = $5::text::xid8`

func (r *Runner) apply(ctx context.Context, p Projector, b *batch) (err error) {
	tx, err := r.cfg.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// The checkpoint first: its row lock orders this batch against any
	// other writer of the checkpoint (another process, a rebuild's swap).
	to := b.last()
	tag, err := tx.Exec(ctx, advanceSQL, p.Name, to.Position, to.xid(), b.from.Position, b.from.xid(), r.cfg.Owner)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return errCheckpointMoved
	}
	evs, err := wanted(p, b.events)
	if err != nil {
		return err
	}
	if len(evs) > 0 {
		if err := ApplyBatch(ctx, tx, p.Model.NewFold(Live), evs); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// wanted drops the events whose payload failed to decode when the model
// does not read that type, and fails on one it does read.
func wanted(p Projector, items []item) ([]events.Event, error) {
	evs := make([]events.Event, 0, len(items))
	for _, it := range items {
		if it.err != nil {
			if p.Model.Wants(it.Type) {
				return nil, fmt.Errorf("event %s (%s, position %d): %w", it.ID, it.Type, it.Position, it.err)
			}
		}
		evs = append(evs, it.Event)
	}
	return evs, nil
}

// ApplyBatch runs one fold over evs in tx: load, apply each, flush.
func ApplyBatch(ctx context.Context, tx pgx.Tx, f Fold, evs []events.Event) error {
	if err := f.Load(ctx, tx, evs); err != nil {
		return err
	}
	for _, e := range evs {
		if err := f.Apply(e); err != nil {
			return fmt.Errorf("event %s (%s v%d of %s, position %d): %w", e.ID, e.Type, e.Version, e.StreamID, e.Position, err)
		}
	}
	return f.Flush(ctx, tx)
}

// ensureCheckpoint creates the projector's checkpoint row if missing and
// reads it. The row has the shape of watermill-sql's
// DefaultPostgreSQLOffsetsAdapter, read with its own query.
func ensureCheckpoint(ctx context.Context, pool *pgxpool.Pool, name string) (Checkpoint, error) {
	if _, err := pool.Exec(ctx, `INSERT INTO projector_checkpoints (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ($1, 0, '0') ON CONFLICT (consumer_group) DO NOTHING`, name); err != nil {
		return Checkpoint{}, err
	}
	q, err := offsetsAdapter().NextOffsetQuery(wsql.NextOffsetQueryParams{Topic: "events", ConsumerGroup: name})
	if err != nil {
		return Checkpoint{}, err
	}
	var c Checkpoint
	var xid wsql.XID8
	if err := pool.QueryRow(ctx, q.Query, q.Args...).Scan(&c.Position, &xid); err != nil {
		return Checkpoint{}, fmt.Errorf("projections: checkpoint of %s: %w", name, err)
	}
	c.TransactionID = uint64(xid)
	return c, nil
}

// checkpointTable holds one row per projector.
const checkpointTable = "projector_checkpoints"

func offsetsAdapter() wsql.DefaultPostgreSQLOffsetsAdapter {
	return wsql.DefaultPostgreSQLOffsetsAdapter{
		GenerateMessagesOffsetsTableName: func(string) string { return checkpointTable },
	}
}

// parkedAt reports whether the projector is stopped at a parked event,
// and whether a skipped one lies ahead (so it must keep checking). A
// parked event an operator skipped is stepped over here (the checkpoint
// moves past it, c with it); one marked for retry is tried again.
func (s *logSubscriber) parkedAt(ctx context.Context, c *Checkpoint) (stopped, pending bool, err error) {
	var (
		id         uuid.UUID
		pos        int64
		xid        string
		resolution *string
	)
	err = s.r.cfg.Pool.QueryRow(ctx, `
		SELECT event_id, position, transaction_id::text, resolution FROM projector_parked
		WHERE projector = $1 AND (resolution IS NULL OR resolution = 'skipped')
		  AND (transaction_id, position) > ($2::text::xid8, $3::bigint)
		ORDER BY transaction_id, position LIMIT 1`, s.p.Name, c.xid(), c.Position).Scan(&id, &pos, &xid, &resolution)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, true, err
	}
	at := Checkpoint{Position: pos}
	if at.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return false, true, err
	}
	if resolution == nil {
		return true, true, nil
	}
	// Skipped: is it the very next event? Then step over it.
	next, err := readLog(ctx, s.r.cfg.Pool, s.r.cfg.Registry, *c, 1)
	if err != nil || len(next) == 0 || next[0].ID != id {
		return false, true, err // not reached yet: go on until it is
	}
	tag, err := s.r.cfg.Pool.Exec(ctx, advanceSQL, s.p.Name, at.Position, at.xid(), c.Position, c.xid(), s.r.cfg.Owner)
	if err != nil {
		return false, true, err
	}
	if tag.RowsAffected() == 1 {
		s.log().Info("skipped a parked event", watermill.LogFields{"event_id": id.String()})
		*c = at
	}
	return false, true, nil
}

// park records a poison event: the projector stops at it until an
// operator skips it or asks for a retry.
func (s *logSubscriber) park(ctx context.Context, it item, cause error, attempts int) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	s.log().Error("projector stopped at a poison event: fix the projector, or `crm projections skip`", cause,
		watermill.LogFields{"event_id": it.ID.String(), "event_type": it.Type, "position": it.Position, "attempts": attempts})
	_, err := s.r.cfg.Pool.Exec(ctx, `
		INSERT INTO projector_parked (projector, event_id, position, transaction_id, event_type, tenant_id, error, attempts)
		VALUES ($1, $2, $3, $4::text::xid8, $5, $6, $7, $8)
		ON CONFLICT (projector, event_id) DO UPDATE
		SET error = EXCLUDED.error, attempts = projector_parked.attempts + EXCLUDED.attempts,
		    parked_at = now(), resolution = NULL, resolved_at = NULL`,
		s.p.Name, it.ID, it.Position, strconv.FormatUint(it.TransactionID, 10), it.Type, it.TenantID, msg, attempts)
	return err
}
