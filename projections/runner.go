package projections

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
)

// Config wires a Runner.
type Config struct {
	Pool       *pgxpool.Pool
	Registry   *events.Registry
	Hub        *Hub
	Progress   *Progress
	Projectors []Projector
	// BatchSize is how many events one poll reads (and one transaction
	// commits with its checkpoint). Default 100.
	BatchSize int
	// FallbackPoll bounds how long an idle projector sleeps when no
	// wake-up arrives (e.g. an append by a process that cannot notify).
	// Default 1 s.
	FallbackPoll time.Duration
	// ResendInterval is the pause before a failed event is retried.
	// Default 50 ms.
	ResendInterval time.Duration
	Logger         *slog.Logger
}

func (c *Config) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	if c.FallbackPoll == 0 {
		c.FallbackPoll = time.Second
	}
	if c.ResendInterval == 0 {
		c.ResendInterval = 50 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Hub == nil {
		c.Hub = NewHub()
	}
	if c.Progress == nil {
		c.Progress = NewProgress()
	}
}

// Validate reports every missing piece at once.
func (c Config) Validate() error {
	var err error
	if c.Pool == nil {
		err = errors.Join(err, errors.New("projections: missing Pool"))
	}
	if c.Registry == nil {
		err = errors.Join(err, errors.New("projections: missing Registry"))
	}
	if len(c.Projectors) == 0 {
		err = errors.Join(err, errors.New("projections: no projectors"))
	}
	seen := map[string]bool{}
	for _, p := range c.Projectors {
		if p.Name == "" || len(p.Handlers) == 0 {
			err = errors.Join(err, fmt.Errorf("projections: projector %q needs a name and handlers", p.Name))
		}
		if seen[p.Name] {
			err = errors.Join(err, fmt.Errorf("projections: projector %q declared twice", p.Name))
		}
		seen[p.Name] = true
	}
	return err
}

// Runner runs every projector in one watermill Router.
type Runner struct {
	cfg     Config
	router  *message.Router
	mu      sync.Mutex // guards wakers: subscribers are made on the router's goroutine
	wakers  []*waker
	closeMu sync.Once
	closing *atomic.Bool
}

// NewRunner builds the router, one EventGroupProcessor group per projector.
func NewRunner(cfg Config) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	closing := &atomic.Bool{}
	logger := shutdownQuietLogger{LoggerAdapter: watermill.NewSlogLoggerWithLevelMapping(cfg.Logger, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug, // watermill is chatty at info
	}), closing: closing}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, router: router, closing: closing}
	beginner := observedBeginner{Beginner: wsql.BeginnerFromPgx(cfg.Pool), progress: cfg.Progress}

	proc, err := cqrs.NewEventGroupProcessorWithConfig(router, cqrs.EventGroupProcessorConfig{
		GenerateSubscribeTopic: func(cqrs.EventGroupProcessorGenerateSubscribeTopicParams) (string, error) {
			return topic, nil
		},
		SubscriberConstructor: func(p cqrs.EventGroupProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return r.newSubscriber(beginner, p.EventGroupName, logger)
		},
		OnHandle:          withSavepoint,
		AckOnUnknownEvent: true,
		Marshaler:         marshaler{reg: cfg.Registry},
		Logger:            logger,
	})
	if err != nil {
		return nil, err
	}
	for _, p := range cfg.Projectors {
		if err := proc.AddHandlersGroup(p.Name, p.Handlers...); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Runner) newSubscriber(db wsql.Beginner, group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	seen := &atomic.Uint64{}
	w := newWaker(r.cfg.Hub, seen, r.cfg.FallbackPoll)
	r.mu.Lock()
	r.wakers = append(r.wakers, w)
	r.mu.Unlock()
	ackDeadline := 30 * time.Second
	sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{
		ConsumerGroup:  group,
		AckDeadline:    &ackDeadline,
		PollInterval:   r.cfg.FallbackPoll,
		ResendInterval: r.cfg.ResendInterval,
		RetryInterval:  200 * time.Millisecond,
		BackoffManager: w,
		SchemaAdapter:  eventLogSchema{batchSize: r.cfg.BatchSize, seenXID: seen},
		OffsetsAdapter: offsetsAdapter(),
	}, logger)
	if err != nil {
		return nil, err
	}
	return &wakingSubscriber{Subscriber: sub, waker: w}, nil
}

// Run processes events until ctx ends or Close is called.
func (r *Runner) Run(ctx context.Context) error { return r.router.Run(ctx) }

// Running is closed once every projector is subscribed.
func (r *Runner) Running() chan struct{} { return r.router.Running() }

// Close stops every projector, waiting for in-flight batches.
func (r *Runner) Close() error {
	var err error
	r.closeMu.Do(func() {
		r.closing.Store(true)
		r.mu.Lock()
		for _, w := range r.wakers {
			w.close()
		}
		r.mu.Unlock()
		err = r.router.Close()
	})
	return err
}

// Names lists the projectors the runner runs.
func (r *Runner) Names() []string {
	names := make([]string, len(r.cfg.Projectors))
	for i, p := range r.cfg.Projectors {
		names[i] = p.Name
	}
	return names
}

// wakingSubscriber unblocks its waker before closing, so Close does not
// wait for a fallback poll.
type wakingSubscriber struct {
	*wsql.Subscriber
	waker *waker
}

func (s *wakingSubscriber) Close() error {
	s.waker.close()
	return s.Subscriber.Close()
}

// withSavepoint runs one handler under a savepoint of the subscriber's
// transaction: a failure rolls back only this event's writes and leaves
// the transaction usable for the redelivery and the checkpoint.
//
// It holds the transaction's lock while it runs (see observedTx), so that
// a subscriber closing meanwhile rolls back only after the handler is
// done with the connection.
func withSavepoint(p cqrs.EventGroupProcessorOnHandleParams) error {
	ctx := p.Message.Context()
	if wtx, ok := wsql.TxFromContext(ctx); ok {
		if ot, ok := wtx.(*observedTx); ok {
			ot.mu.Lock()
			defer ot.mu.Unlock()
		}
	}
	tx, err := pgxTx(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SAVEPOINT projector_event"); err != nil {
		return fmt.Errorf("projections: savepoint: %w", err)
	}
	if herr := p.Handler.Handle(ctx, p.Event); herr != nil {
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT projector_event"); err != nil {
			return errors.Join(herr, fmt.Errorf("projections: rollback to savepoint: %w", err))
		}
		return fmt.Errorf("projector %s on %s: %w", p.GroupName, p.EventName, herr)
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT projector_event"); err != nil {
		return fmt.Errorf("projections: release savepoint: %w", err)
	}
	return nil
}

// observedBeginner tells Progress whenever a projector transaction
// commits, so read-your-writes waiters re-check at once.
type observedBeginner struct {
	wsql.Beginner
	progress *Progress
}

func (b observedBeginner) BeginTx(ctx context.Context, o *stdsql.TxOptions) (wsql.Tx, error) {
	tx, err := b.Beginner.BeginTx(ctx, o)
	if err != nil {
		return tx, err
	}
	return &observedTx{Tx: tx, progress: b.progress}, nil
}

// observedTx is the subscriber's transaction. Its lock serializes the
// handler's use of the connection (withSavepoint) with the subscriber's
// own statements, commit and rollback: when the router closes,
// watermill-sql's subscriber stops waiting for the in-flight message's
// ack and goes on at once (acks the earlier messages of the batch, then
// commits or rolls back) while the handler may still be executing on the
// same pgx connection, which is not safe for concurrent use (a data race,
// and pgx panics). Handlers reach the pgx transaction directly
// (pgxTx), never through these methods, so the lock is not re-entered.
type observedTx struct {
	wsql.Tx
	progress *Progress
	mu       sync.Mutex
}

// ExecContext waits for a running handler, then executes.
func (t *observedTx) ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext waits for a running handler, then queries. (The
// subscriber reads every row before it hands out a message.)
func (t *observedTx) QueryContext(ctx context.Context, query string, args ...any) (wsql.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Tx.QueryContext(ctx, query, args...)
}

// Rollback waits for a running handler, then rolls back.
func (t *observedTx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Tx.Rollback()
}

func (t *observedTx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.Tx.Commit()
	if err == nil {
		t.progress.Advance()
	}
	return err
}

// shutdownQuietLogger logs watermill's errors as errors while the runner
// runs, and as debug lines once it is closing: closing cancels the polls in
// flight, and their "could not commit" errors then say nothing wrong (the
// transaction rolls back and the batch is processed again next start).
type shutdownQuietLogger struct {
	watermill.LoggerAdapter
	closing *atomic.Bool
}

func (l shutdownQuietLogger) Error(msg string, err error, fields watermill.LogFields) {
	if l.closing.Load() {
		l.LoggerAdapter.Debug(msg, fields.Add(watermill.LogFields{"err": err}))
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l shutdownQuietLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return shutdownQuietLogger{LoggerAdapter: l.LoggerAdapter.With(fields), closing: l.closing}
}
