package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
)

// Config wires a Runner.
type Config struct {
	// Pool runs the projectors' reads and transactions (a pool with
	// synchronous_commit off is fine: a read model and its checkpoint
	// commit together, so a crash loses both and re-projects).
	Pool       *pgxpool.Pool
	Registry   *events.Registry
	Hub        *Hub
	Progress   *Progress
	Projectors []Projector
	// BatchSize is the most events one poll reads and one transaction
	// applies. Default 500.
	BatchSize int
	// ParallelBelow: a batch of fewer events than this is applied in
	// ParallelGroups transactions at once (lower latency for live
	// traffic); a larger one in a single transaction for every projector
	// (less work per event when catching up). Default 100; 1 never runs
	// them in parallel.
	ParallelBelow int
	// ParallelGroups is how many transactions apply a small batch at
	// once, the projectors dealt out to them by work. Default 1: every
	// projector in one transaction, one round trip. A live batch is
	// mostly fixed cost (BEGIN, the checkpoints, COMMIT, a backend woken
	// up), and the projectors run as often as batches come back, so a
	// second transaction per batch was paid on every event at moderate
	// load: W2 on a scale-1 cluster, 2 cores (2026-12-02, ninth session,
	// three runs each), the projectors' PostgreSQL backends 0.34–0.37 →
	// 0.21–0.26 of a core at 500 commands/s and 0.36–0.43 → 0.16–0.25 at
	// 250/s, where the lag went from p50 3.8–7.4 to 2.3–2.7 ms.
	ParallelGroups int
	// FallbackPoll bounds how long an idle projector sleeps when no
	// wake-up arrives. Default 1 s.
	FallbackPoll time.Duration
	// ResendInterval is the first pause before a failed event is retried
	// (it doubles per attempt). Default 50 ms.
	ResendInterval time.Duration
	// MaxAttempts is how often one event is tried before it is parked.
	// Default 5.
	MaxAttempts int
	// LeaseInterval is how often a process that does not hold a
	// projector's lease tries to take it (the fail-over time). Default 2 s.
	LeaseInterval time.Duration
	// Owner names this process in checkpoints and status. Default
	// hostname:pid.
	Owner  string
	Logger *slog.Logger
	// OnBatch, when set, is told about every batch applied (metrics).
	OnBatch func(BatchStats)
	// ColdStart leaves the projectors' row caches empty when this
	// process takes their leases, instead of filling them with the rows
	// the log's newest events touched (Warmer): for tests of a projector
	// that reads its rows.
	ColdStart bool
}

// BatchStats describes one batch the projectors applied.
type BatchStats struct {
	// Events is the number of events in the batch (its widest part).
	Events int
	// Apply is how long the transaction applying it took, from taking a
	// connection to its commit.
	Apply time.Duration
	// Delays holds, for each of those events, the time from its append's
	// start (recorded_at: the append transaction's now(), by the
	// database's clock) to the batch's commit: the projection delay,
	// append included, and the part of it spent waiting to be read.
	Delays []time.Duration
	// ReadDelays: for each event, from its append's start to the log
	// read that returned it (the wait for older transactions to end,
	// for a wake-up, and for the previous batch).
	ReadDelays []time.Duration
	// Queued is the time from the log read to the start of the apply.
	Queued time.Duration
	// ReadRows: some projector read rows of its tables before writing
	// them (rows its row cache did not hold, of streams begun before the
	// batch), a round trip more than a batch whose rows were all known.
	ReadRows bool
}

func (c *Config) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.ParallelBelow == 0 {
		c.ParallelBelow = 100
	}
	if c.ParallelGroups == 0 {
		c.ParallelGroups = 1
	}
	if c.FallbackPoll == 0 {
		c.FallbackPoll = time.Second
	}
	if c.ResendInterval == 0 {
		c.ResendInterval = 50 * time.Millisecond
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.LeaseInterval == 0 {
		c.LeaseInterval = 2 * time.Second
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s:%d", host, os.Getpid())
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
		if p.Name == "" || p.Model == nil {
			err = errors.Join(err, fmt.Errorf("projections: projector %q needs a name and a model", p.Name))
		}
		if seen[p.Name] {
			err = errors.Join(err, fmt.Errorf("projections: projector %q declared twice", p.Name))
		}
		seen[p.Name] = true
	}
	return err
}

// Runner runs the projectors in one Watermill router: one subscriber
// (the engine, reading the log once for every projector at the same
// place) and one handler applying each batch to every projector's read
// model in one transaction. A projector takes part only while this
// process holds its lease.
type Runner struct {
	cfg     Config
	router  *message.Router
	leases  *leaser
	log     *logCache
	engine  *engine
	closeMu sync.Once
	closing *atomic.Bool
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// NewRunner builds the router.
func NewRunner(cfg Config) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := NewRouterLogger(cfg.Logger)
	closing := logger.closing
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(middleware.Recoverer)
	names := make([]string, len(cfg.Projectors))
	for i, p := range cfg.Projectors {
		names[i] = p.Name
	}
	r := &Runner{cfg: cfg, router: router, closing: closing,
		leases: newLeaser(cfg.Pool, names, cfg.LeaseInterval, cfg.Logger),
		log:    newLogCache(cfg.Pool, cfg.Registry, 8)}
	r.engine = newEngine(r)
	router.AddConsumerHandler("projectors", "events", r.engine, r.handler)
	return r, nil
}

// Run processes events until ctx ends or Close is called.
func (r *Runner) Run(ctx context.Context) error {
	ctx, r.stop = context.WithCancel(ctx)
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.leases.run(ctx) }()
	return r.router.Run(ctx)
}

// Running is closed once every projector is subscribed.
func (r *Runner) Running() chan struct{} { return r.router.Running() }

// Close stops every projector, waiting for in-flight batches, and gives
// up the leases.
func (r *Runner) Close() error {
	var err error
	r.closeMu.Do(func() {
		r.closing.Store(true)
		r.engine.shutdown()
		err = r.router.Close()
		if r.stop != nil {
			r.stop()
		}
		r.wg.Wait()
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

// Held lists the projectors whose lease this process holds.
func (r *Runner) Held() []string { return r.leases.heldNames() }

// RouterLogger is the logger of a Watermill router that runs a consumer
// of the log (the projectors, webhook delivery): watermill's info lines
// at debug (it is chatty there), and its errors as errors while the
// router runs but as debug lines once Closing was called (closing
// cancels the work in flight by design: a projector's batch rolls back
// and is applied again at the next start, a delivery is sent again).
type RouterLogger struct {
	watermill.LoggerAdapter
	closing *atomic.Bool
}

// NewRouterLogger returns a RouterLogger writing to log.
func NewRouterLogger(log *slog.Logger) RouterLogger {
	return RouterLogger{LoggerAdapter: watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	}), closing: &atomic.Bool{}}
}

// Closing tells the logger that its router is being closed.
func (l RouterLogger) Closing() { l.closing.Store(true) }

// Error implements watermill.LoggerAdapter.
func (l RouterLogger) Error(msg string, err error, fields watermill.LogFields) {
	if l.closing.Load() {
		l.LoggerAdapter.Debug(msg, fields.Add(watermill.LogFields{"err": err}))
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

// With implements watermill.LoggerAdapter.
func (l RouterLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return RouterLogger{LoggerAdapter: l.LoggerAdapter.With(fields), closing: l.closing}
}
