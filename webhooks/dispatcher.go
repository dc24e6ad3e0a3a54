package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/feed"
	"example.com/crm/projections"
	"example.com/crm/readapi"
)

// EventReader reads one organization's events after a cursor, in
// projection order (feed.Reader).
type EventReader interface {
	Read(ctx context.Context, org uuid.UUID, after feed.Cursor, types feed.Types, limit int) ([]feed.Event, feed.Cursor, error)
}

// Config wires a Dispatcher.
type Config struct {
	Pool   *pgxpool.Pool
	Reader EventReader
	// AllowPrivate delivers to http URLs and private addresses
	// (WEBHOOK_ALLOW_PRIVATE: tests and local development).
	AllowPrivate bool
	// Client sends the deliveries. Default NewClient(AllowPrivate).
	Client *http.Client
	// Wake, when set, subscribes to commit signals (projections.Hub
	// Subscribe); without it the dispatcher polls every FallbackPoll.
	Wake func() (<-chan struct{}, func())
	// Concurrency bounds the subscriptions delivered at once by this
	// process. Default 8.
	Concurrency int
	// FallbackPoll bounds how long the dispatcher sleeps without a
	// wake-up. Default 1 s.
	FallbackPoll time.Duration
	// RetryBase is the back-off before the first retry: each retry
	// waits a random time in [b/2, b], b = RetryBase·2^(attempts−1)
	// capped at MaxBackoff. Default 4 s (first retry within 5 s).
	RetryBase  time.Duration
	MaxBackoff time.Duration // default 1 h
	// DisableAfter is how long a subscription may fail without a single
	// success before it is disabled. Default 24 h.
	DisableAfter time.Duration
	// LeaseTTL is how long a process keeps a subscription to itself
	// without renewing it (the fail-over time after a crash). It must
	// exceed Timeout. Default 60 s.
	LeaseTTL time.Duration
	// Now is the clock of retries and of the failure streak. Default
	// time.Now.
	Now func() time.Time
	// Owner names this process in leases. Default hostname:pid:random.
	Owner  string
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Client == nil {
		c.Client = NewClient(c.AllowPrivate)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.FallbackPoll == 0 {
		c.FallbackPoll = time.Second
	}
	if c.RetryBase == 0 {
		c.RetryBase = 4 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Hour
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = 24 * time.Hour
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every missing piece at once.
func (c Config) Validate() error {
	var err error
	if c.Pool == nil {
		err = errors.Join(err, errors.New("webhooks: missing Pool"))
	}
	if c.Reader == nil {
		err = errors.Join(err, errors.New("webhooks: missing Reader"))
	}
	if c.LeaseTTL <= Timeout {
		err = errors.Join(err, errors.New("webhooks: LeaseTTL must exceed the delivery timeout"))
	}
	return err
}

// Dispatcher delivers every active subscription's events, at least once
// and in projection order (so the events of one stream in version order):
// one subscription's events strictly one after the other, up to
// Concurrency subscriptions at once, so that a slow or dead receiver
// holds up only its own subscription. It is a consumer of its own,
// separate from the projectors, and never runs during a rebuild.
//
// It runs in a Watermill router, as the projectors do: its subscriber
// (source) finds the subscriptions with work, takes a lease on each
// (lease_owner/lease_until on the subscription row: one process delivers
// a subscription at a time, and a crashed one's lease expires after
// LeaseTTL), reads its next events after its cursor with the feed reader
// and emits one message per delivery; the handler signs and POSTs it. The
// subscriber waits for each message's ack before it records the outcome
// in the delivery log and, after a 2xx only, moves the cursor. Every
// database write is a short statement or transaction of its own; none is
// open during an HTTP call. The message is shared in process (its
// context carries the delivery), so nothing is marshalled twice.
type Dispatcher struct {
	cfg    Config
	router *message.Router
	logger projections.RouterLogger
	kick   chan struct{}

	mu       sync.Mutex
	inflight map[subKey]bool

	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

// subKey names a subscription.
type subKey struct{ org, id uuid.UUID }

// New builds a dispatcher; Run starts it.
func New(cfg Config) (*Dispatcher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := projections.NewRouterLogger(cfg.Logger)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: Timeout + 5*time.Second}, logger)
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(middleware.Recoverer)
	d := &Dispatcher{cfg: cfg, router: router, logger: logger, kick: make(chan struct{}, 1), inflight: map[subKey]bool{},
		closing: make(chan struct{}), done: make(chan struct{})}
	// The handler name is the consumer's name: API, like a projector's.
	router.AddConsumerHandler("webhook-deliveries", "webhook-deliveries", source{d}, d.handle)
	return d, nil
}

// Run delivers until ctx ends or Close is called.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer close(d.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return d.router.Run(ctx)
}

// Running is closed once the dispatcher is subscribed.
func (d *Dispatcher) Running() chan struct{} { return d.router.Running() }

// Kick makes the dispatcher look for work at once (after a subscription
// was created, re-enabled or replayed in this process).
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Close stops the dispatcher: deliveries under way are cut off (they are
// not recorded, and are sent again by whoever takes the subscription
// next, with the same webhook-id), leases are given up.
func (d *Dispatcher) Close() error {
	var err error
	d.closeOnce.Do(func() {
		close(d.closing)
		d.logger.Closing()
		err = d.router.Close()
	})
	return err
}

// source is the dispatcher as a Watermill subscriber.
type source struct{ d *Dispatcher }

// Subscribe implements message.Subscriber.
func (s source) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(out)
		defer cancel()
		go func() {
			select {
			case <-s.d.closing:
				cancel() // cuts off the deliveries under way
			case <-ctx.Done():
			}
		}()
		s.d.schedule(ctx, out)
	}()
	return out, nil
}

// Close implements message.Subscriber.
func (s source) Close() error { return nil }

// minScanGap is the least time between two scans that commits trigger.
const minScanGap = 10 * time.Millisecond

// candidate is an active subscription as the scheduler sees it.
type candidate struct {
	key         subKey
	cursor      feed.Cursor
	eventTypes  []string
	pending     bool
	nextAttempt *time.Time
}

// schedule is the subscriber's loop: find the subscriptions with work,
// start a worker for each (up to Concurrency), sleep until a commit, a
// kick, a worker's end, a retry's time or the fallback poll.
func (d *Dispatcher) schedule(ctx context.Context, out chan<- *message.Message) {
	var wake <-chan struct{}
	if d.cfg.Wake != nil {
		ch, stop := d.cfg.Wake()
		defer stop()
		wake = ch
	}
	sem := make(chan struct{}, d.cfg.Concurrency)
	finished := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	var lastScan time.Time
	for {
		wait := d.cfg.FallbackPoll
		lastScan = time.Now()
		cands, err := d.candidates(ctx)
		if err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("webhooks: listing subscriptions", "err", err)
		}
		now := d.cfg.Now()
	start:
		for _, c := range cands {
			if d.isInflight(c.key) {
				continue
			}
			if c.nextAttempt != nil && c.nextAttempt.After(now) {
				wait = min(wait, c.nextAttempt.Sub(now))
				continue
			}
			if !c.pending && !d.hasWork(ctx, c) {
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				break start // every worker is busy: look again when one ends
			}
			d.setInflight(c.key, true)
			wg.Add(1)
			go func(key subKey) {
				defer wg.Done()
				defer func() {
					d.setInflight(key, false)
					<-sem
					select {
					case finished <- struct{}{}:
					default:
					}
				}()
				d.serve(ctx, key, out)
			}(c.key)
		}
		// Commits wake the scheduler only while some subscription is
		// active: with none, a commit has nothing to deliver (a new
		// subscription kicks its own process, and others see it at the
		// fallback poll). Under a stream of commits, scans are at least
		// minScanGap apart.
		commits := wake
		if len(cands) == 0 {
			commits = nil
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-d.closing:
			t.Stop()
			return
		case <-commits:
			if gap := minScanGap - time.Since(lastScan); gap > 0 {
				time.Sleep(gap)
			}
		case <-d.kick:
		case <-finished:
		case <-t.C:
		}
		t.Stop()
	}
}

func (d *Dispatcher) isInflight(k subKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight[k]
}

func (d *Dispatcher) setInflight(k subKey, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on {
		d.inflight[k] = true
	} else {
		delete(d.inflight, k)
	}
}

// candidates lists the active subscriptions no other process holds.
func (d *Dispatcher) candidates(ctx context.Context) ([]candidate, error) {
	rows, err := d.cfg.Pool.Query(ctx, `
SELECT org_id, id, cursor_xid::text, cursor_position, event_types, pending_delivery_id IS NOT NULL, next_attempt_at
FROM webhook_subscriptions
WHERE active AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $1)`, d.cfg.Owner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		var xid string
		if err := rows.Scan(&c.key.org, &c.key.id, &xid, &c.cursor.Position, &c.eventTypes, &c.pending, &c.nextAttempt); err != nil {
			return nil, err
		}
		if c.cursor.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// hasWork reports whether the log moved past c's cursor (a read, no
// write: idle subscriptions cost no commits).
func (d *Dispatcher) hasWork(ctx context.Context, c candidate) bool {
	types, err := feed.ParseTypesField("event_types", c.eventTypes)
	if err != nil {
		return false
	}
	items, next, err := d.cfg.Reader.Read(ctx, c.key.org, c.cursor, types, 1)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Error("webhooks: reading the log", "subscription", c.key.id, "err", err)
		}
		return false
	}
	return len(items) > 0 || next != c.cursor
}

// state is a leased subscription as its worker sees it.
type state struct {
	active         bool
	url            string
	eventTypes     []string
	secrets        []string
	cursor         feed.Cursor
	pendingID      *uuid.UUID
	pendingEventID *uuid.UUID
	nextAttempt    *time.Time
	failingSince   *time.Time
}

// batchSize is how many events a worker reads at a time.
const batchSize = 20

// serve delivers one subscription's events until it is caught up, a
// delivery fails (the next attempt is scheduled) or the dispatcher stops.
func (d *Dispatcher) serve(ctx context.Context, key subKey, out chan<- *message.Message) {
	defer d.release(ctx, key)
	for ctx.Err() == nil {
		st, ok, err := d.claim(ctx, key)
		if err != nil {
			if ctx.Err() == nil {
				d.cfg.Logger.Error("webhooks: taking a subscription", "subscription", key.id, "err", err)
			}
			return
		}
		if !ok || !st.active || (st.nextAttempt != nil && st.nextAttempt.After(d.cfg.Now())) {
			return
		}
		types, err := feed.ParseTypesField("event_types", st.eventTypes)
		if err != nil {
			d.cfg.Logger.Error("webhooks: subscription selects unknown event types", "subscription", key.id, "err", err)
			return
		}
		items, next, err := d.cfg.Reader.Read(ctx, key.org, st.cursor, types, batchSize)
		if err != nil {
			if ctx.Err() == nil {
				d.cfg.Logger.Error("webhooks: reading the log", "subscription", key.id, "err", err)
			}
			return
		}
		for _, e := range items {
			if !d.deliver(ctx, key, &st, e, out) {
				return
			}
		}
		if next == st.cursor {
			if len(items) == 0 {
				return // caught up
			}
			continue
		}
		// Events after the last delivered one that the subscription does
		// not select: skip them.
		if !d.advance(ctx, key, &st, next) {
			return
		}
	}
}

// claim takes (or renews) the subscription's lease and reads its state;
// ok is false when another process holds it or it is gone or inactive.
func (d *Dispatcher) claim(ctx context.Context, key subKey) (state, bool, error) {
	var (
		st       state
		secret   string
		previous *string
		xid      string
	)
	err := d.cfg.Pool.QueryRow(ctx, `
UPDATE webhook_subscriptions SET lease_owner = $3, lease_until = now() + $4::interval
WHERE org_id = $1 AND id = $2 AND active AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $3)
RETURNING active, url, event_types, secret, CASE WHEN previous_secret_until > now() THEN previous_secret END,
    cursor_xid::text, cursor_position, pending_delivery_id, pending_event_id, next_attempt_at, failing_since`,
		key.org, key.id, d.cfg.Owner, d.ttl()).Scan(&st.active, &st.url, &st.eventTypes, &secret, &previous,
		&xid, &st.cursor.Position, &st.pendingID, &st.pendingEventID, &st.nextAttempt, &st.failingSince)
	if errors.Is(err, pgx.ErrNoRows) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, err
	}
	if st.cursor.TransactionID, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return state{}, false, err
	}
	st.secrets = []string{secret}
	if previous != nil {
		st.secrets = append(st.secrets, *previous)
	}
	return st, true, nil
}

func (d *Dispatcher) ttl() string {
	return strconv.FormatInt(int64(d.cfg.LeaseTTL/time.Millisecond), 10) + " milliseconds"
}

// release gives the lease up (also when stopping: the next process need
// not wait for it to expire).
func (d *Dispatcher) release(ctx context.Context, key subKey) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := d.cfg.Pool.Exec(ctx, `UPDATE webhook_subscriptions SET lease_owner = NULL, lease_until = NULL
		WHERE org_id = $1 AND id = $2 AND lease_owner = $3`, key.org, key.id, d.cfg.Owner); err != nil {
		d.cfg.Logger.Warn("webhooks: giving up a lease (it expires by itself)", "subscription", key.id, "err", err)
	}
}

// writeContext is the context of the dispatcher's bookkeeping: it
// outlives a stop request by a few seconds, so an attempt that was made
// is recorded.
func writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// advance moves the cursor past events the subscription does not select.
func (d *Dispatcher) advance(ctx context.Context, key subKey, st *state, next feed.Cursor) bool {
	wctx, cancel := writeContext(ctx)
	defer cancel()
	tag, err := d.cfg.Pool.Exec(wctx, `
UPDATE webhook_subscriptions SET cursor_xid = $4::text::xid8, cursor_position = $5, lease_until = now() + $8::interval
WHERE org_id = $1 AND id = $2 AND lease_owner = $3 AND pending_delivery_id IS NULL
  AND cursor_xid = $6::text::xid8 AND cursor_position = $7`,
		key.org, key.id, d.cfg.Owner, strconv.FormatUint(next.TransactionID, 10), next.Position,
		strconv.FormatUint(st.cursor.TransactionID, 10), st.cursor.Position, d.ttl())
	if err != nil {
		d.cfg.Logger.Error("webhooks: moving a cursor", "subscription", key.id, "err", err)
		return false
	}
	st.cursor = next
	return tag.RowsAffected() == 1
}

// Payload is the body of a delivery (API.md): the event's type, when it
// occurred, and the event as the feed shows it.
type Payload struct {
	Type      string       `json:"type"`
	Timestamp readapi.Time `json:"timestamp"`
	Data      feed.Event   `json:"data"`
}

// job is one delivery attempt, shared by the subscriber and the handler
// through the message's context.
type job struct {
	url     string
	id      string
	body    []byte
	secrets []string
	// set by the handler
	attempted bool
	status    int
	latency   time.Duration
	err       string
}

func (j *job) ok() bool { return j.attempted && j.err == "" && j.status >= 200 && j.status < 300 }

type jobKey struct{}

// deliver sends e (the subscription's next event) until it is recorded:
// true after a success (the cursor moved past e), false when the worker
// stops (failure recorded and retry scheduled, state changed under it,
// or shutdown).
func (d *Dispatcher) deliver(ctx context.Context, key subKey, st *state, e feed.Event, out chan<- *message.Message) bool {
	deliveryID, ok := d.begin(ctx, key, st, e)
	if !ok {
		return false
	}
	body, err := json.Marshal(Payload{Type: e.Type, Timestamp: e.OccurredAt, Data: e})
	if err != nil {
		d.cfg.Logger.Error("webhooks: encoding a delivery", "event", e.ID, "err", err)
		return false
	}
	if len(body) > MaxRequestBody {
		return d.giveUp(ctx, key, st, e, deliveryID, fmt.Sprintf("not sent: the body is %d bytes, over the %d-byte limit", len(body), MaxRequestBody))
	}
	j := &job{url: st.url, id: e.ID.String(), body: body, secrets: st.secrets}
	msg := message.NewMessage(deliveryID.String(), nil)
	msg.SetContext(context.WithValue(ctx, jobKey{}, j))
	select {
	case out <- msg:
	case <-ctx.Done():
		return false
	case <-d.closing:
		return false
	}
	select {
	case <-msg.Acked():
	case <-msg.Nacked():
		if !j.attempted {
			j.attempted, j.err = true, "internal error while sending"
		}
	case <-ctx.Done():
		return false
	}
	if ctx.Err() != nil && !j.ok() {
		return false // cut off by a stop: not an attempt that counts
	}
	return d.record(ctx, key, st, e, deliveryID, j)
}

// handle is the Watermill handler: one signed POST.
func (d *Dispatcher) handle(msg *message.Message) error {
	j, ok := msg.Context().Value(jobKey{}).(*job)
	if !ok {
		return errors.New("webhooks: message without a delivery")
	}
	d.post(msg.Context(), j)
	return nil // the outcome travels in the job; the subscriber records it
}

// post sends j once and notes the outcome in it.
func (d *Dispatcher) post(ctx context.Context, j *job) {
	j.attempted = true
	if err := ValidateURL(j.url, d.cfg.AllowPrivate); err != nil {
		j.err = "not sent: " + crm.ErrorMessage(err)
		return
	}
	ts := time.Now().Unix()
	sig, err := Signature(j.secrets, j.id, ts, j.body)
	if err != nil {
		j.err = "not sent: " + err.Error()
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		j.err = "not sent: " + err.Error()
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "crm-webhooks/1")
	req.Header.Set("webhook-id", j.id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	res, err := d.cfg.Client.Do(req)
	j.latency = time.Since(start)
	if err != nil {
		j.err = err.Error()
		return
	}
	excerpt := readExcerpt(res.Body)
	res.Body.Close()
	j.status = res.StatusCode
	if res.StatusCode < 200 || res.StatusCode > 299 {
		j.err = fmt.Sprintf("HTTP %d", res.StatusCode)
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			j.err += " (redirects are not followed)"
		}
		if excerpt != "" {
			j.err += ": " + excerpt
		}
	}
}

// begin makes sure the delivery log has a pending delivery of e and
// returns its id.
func (d *Dispatcher) begin(ctx context.Context, key subKey, st *state, e feed.Event) (uuid.UUID, bool) {
	if st.pendingID != nil && st.pendingEventID != nil && *st.pendingEventID == e.ID {
		return *st.pendingID, true
	}
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, false
	}
	wctx, cancel := writeContext(ctx)
	defer cancel()
	err = pgx.BeginFunc(wctx, d.cfg.Pool, func(tx pgx.Tx) error {
		if st.pendingID != nil {
			// The pending delivery was of another event (the
			// subscription's types changed): it is given up.
			if _, err := tx.Exec(wctx, `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,
				last_error = 'given up: the subscription no longer selects this event'
				WHERE org_id = $1 AND subscription_id = $2 AND id = $3 AND status = 'pending'`, key.org, key.id, *st.pendingID); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(wctx, `UPDATE webhook_subscriptions SET pending_delivery_id = $4, pending_event_id = $5
			WHERE org_id = $1 AND id = $2 AND lease_owner = $3 AND pending_delivery_id IS NOT DISTINCT FROM $6`,
			key.org, key.id, d.cfg.Owner, id, e.ID, st.pendingID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errStateChanged
		}
		_, err = tx.Exec(wctx, `INSERT INTO webhook_deliveries (org_id, subscription_id, id, event_id, event_type, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, key.org, key.id, id, e.ID, e.Type, d.cfg.Now())
		return err
	})
	if err != nil {
		if !errors.Is(err, errStateChanged) {
			d.cfg.Logger.Error("webhooks: starting a delivery", "subscription", key.id, "err", err)
		}
		return uuid.Nil, false
	}
	st.pendingID, st.pendingEventID = &id, &e.ID
	return id, true
}

// errStateChanged says the subscription changed under the worker (a
// replay, a deletion, a lost lease): it stops and looks again.
var errStateChanged = errors.New("webhooks: subscription changed meanwhile")

// record writes an attempt's outcome: after a success the cursor moves
// past e; after a failure the next attempt is scheduled, or the
// subscription is disabled when it has failed for DisableAfter.
func (d *Dispatcher) record(ctx context.Context, key subKey, st *state, e feed.Event, deliveryID uuid.UUID, j *job) bool {
	wctx, cancel := writeContext(ctx)
	defer cancel()
	now := d.cfg.Now()
	var status *int
	if j.status != 0 {
		status = &j.status
	}
	latency := int(j.latency / time.Millisecond)
	if j.ok() {
		err := pgx.BeginFunc(wctx, d.cfg.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(wctx, `UPDATE webhook_deliveries SET status = 'succeeded', attempts = attempts + 1,
				last_status_code = $4, last_error = NULL, latency_ms = $5, delivered_at = $6, next_attempt_at = NULL
				WHERE org_id = $1 AND subscription_id = $2 AND id = $3`, key.org, key.id, deliveryID, status, latency, now); err != nil {
				return err
			}
			tag, err := tx.Exec(wctx, `UPDATE webhook_subscriptions SET cursor_xid = $5::text::xid8, cursor_position = $6,
				pending_delivery_id = NULL, pending_event_id = NULL, next_attempt_at = NULL, failing_since = NULL,
				lease_until = now() + $7::interval
				WHERE org_id = $1 AND id = $2 AND lease_owner = $3 AND pending_delivery_id = $4`,
				key.org, key.id, d.cfg.Owner, deliveryID, strconv.FormatUint(e.Cursor.TransactionID, 10), e.Cursor.Position, d.ttl())
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errStateChanged
			}
			return nil
		})
		if err != nil {
			if !errors.Is(err, errStateChanged) {
				d.cfg.Logger.Error("webhooks: recording a delivery", "subscription", key.id, "err", err)
			}
			return false
		}
		st.cursor, st.pendingID, st.pendingEventID, st.failingSince = e.Cursor, nil, nil, nil
		return true
	}

	since := now
	if st.failingSince != nil {
		since = *st.failingSince
	}
	if now.Sub(since) >= d.cfg.DisableAfter {
		msg := fmt.Sprintf("%s; the subscription was disabled after failing for %s", j.err, d.cfg.DisableAfter)
		d.disable(wctx, key, deliveryID, status, latency, msg)
		return false
	}
	err := pgx.BeginFunc(wctx, d.cfg.Pool, func(tx pgx.Tx) error {
		var attempts int
		if err := tx.QueryRow(wctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = $4, last_error = $5, latency_ms = $6
			WHERE org_id = $1 AND subscription_id = $2 AND id = $3 RETURNING attempts`,
			key.org, key.id, deliveryID, status, j.err, latency).Scan(&attempts); err != nil {
			return err
		}
		next := now.Add(d.backoff(attempts))
		if _, err := tx.Exec(wctx, `UPDATE webhook_deliveries SET next_attempt_at = $4
			WHERE org_id = $1 AND subscription_id = $2 AND id = $3`, key.org, key.id, deliveryID, next); err != nil {
			return err
		}
		_, err := tx.Exec(wctx, `UPDATE webhook_subscriptions SET next_attempt_at = $5, failing_since = $6
			WHERE org_id = $1 AND id = $2 AND lease_owner = $3 AND pending_delivery_id = $4`,
			key.org, key.id, d.cfg.Owner, deliveryID, next, since)
		return err
	})
	if err != nil {
		d.cfg.Logger.Error("webhooks: recording a failed delivery", "subscription", key.id, "err", err)
	}
	return false
}

// disable gives up the delivery and turns the subscription off (PATCH
// active=true or a replay turns it on again; the event is then sent
// again).
func (d *Dispatcher) disable(ctx context.Context, key subKey, deliveryID uuid.UUID, status *int, latency int, msg string) {
	err := pgx.BeginFunc(ctx, d.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
			last_status_code = $4, last_error = $5, latency_ms = $6, next_attempt_at = NULL
			WHERE org_id = $1 AND subscription_id = $2 AND id = $3`, key.org, key.id, deliveryID, status, msg, latency); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_subscriptions SET active = false, pending_delivery_id = NULL, pending_event_id = NULL,
			next_attempt_at = NULL, failing_since = NULL, version = version + 1, updated_at = now()
			WHERE org_id = $1 AND id = $2 AND lease_owner = $3 AND pending_delivery_id = $4`, key.org, key.id, d.cfg.Owner, deliveryID)
		return err
	})
	if err != nil {
		d.cfg.Logger.Error("webhooks: disabling a subscription", "subscription", key.id, "err", err)
		return
	}
	d.cfg.Logger.Warn("webhooks: subscription disabled after a day of failures", "org", key.org, "subscription", key.id)
}

// giveUp marks a delivery that can never succeed failed and moves the
// cursor past its event.
func (d *Dispatcher) giveUp(ctx context.Context, key subKey, st *state, e feed.Event, deliveryID uuid.UUID, msg string) bool {
	wctx, cancel := writeContext(ctx)
	defer cancel()
	err := pgx.BeginFunc(wctx, d.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(wctx, `UPDATE webhook_deliveries SET status = 'failed', last_error = $4, next_attempt_at = NULL
			WHERE org_id = $1 AND subscription_id = $2 AND id = $3`, key.org, key.id, deliveryID, msg); err != nil {
			return err
		}
		tag, err := tx.Exec(wctx, `UPDATE webhook_subscriptions SET cursor_xid = $5::text::xid8, cursor_position = $6,
			pending_delivery_id = NULL, pending_event_id = NULL
			WHERE org_id = $1 AND id = $2 AND lease_owner = $3 AND pending_delivery_id = $4`,
			key.org, key.id, d.cfg.Owner, deliveryID, strconv.FormatUint(e.Cursor.TransactionID, 10), e.Cursor.Position)
		if err == nil && tag.RowsAffected() == 0 {
			err = errStateChanged
		}
		return err
	})
	if err != nil {
		return false
	}
	st.cursor, st.pendingID, st.pendingEventID = e.Cursor, nil, nil
	return true
}

// backoff is the wait before the next attempt after attempts failures:
// exponential, capped, with jitter.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.RetryBase << min(max(attempts-1, 0), 30)
	if b <= 0 || b > d.cfg.MaxBackoff {
		b = d.cfg.MaxBackoff
	}
	return b/2 + rand.N(b/2+1)
}
