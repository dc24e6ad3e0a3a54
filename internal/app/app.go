// Package app wires the server: configuration, the pool, the event store,
// the projectors, the command and query sides and the HTTP routes. cmd/crm
// runs it; end-to-end tests start it on a throwaway database.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"example.com/crm/audit"
	"example.com/crm/audit/pgsnapshots"
	"example.com/crm/auth"
	"example.com/crm/commands"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/feed"
	"example.com/crm/httpapi"
	"example.com/crm/httpapi/openapi"
	"example.com/crm/internal/pgpool"
	"example.com/crm/migrations"
	"example.com/crm/passwords"
	"example.com/crm/projections"
	identityproj "example.com/crm/projections/identity"
	"example.com/crm/projections/sales"
	"example.com/crm/ratelimit"
	"example.com/crm/readapi"
	identityread "example.com/crm/readapi/identity"
	"example.com/crm/readapi/pgread"
	"example.com/crm/readapi/rediscache"
	"example.com/crm/tokens"
	"example.com/crm/tokens/pgtokens"
	"example.com/crm/webhooks"
)

// App is the wired server: one pool, one event store, the projectors and
// the HTTP API. Tests and main drive it through Run and Close.
type App struct {
	version  string
	cfg      Config
	log      *slog.Logger
	pool     *pgxpool.Pool
	projPool *pgxpool.Pool
	readPool *pgxpool.Pool // the read-model queries'
	redis    *redis.Client
	reg      *events.Registry
	hub      *projections.Hub
	progress *projections.Progress
	notifier *projections.Notifier
	store    *pgstore.Store
	runner   *projections.Runner
	waiter   *projections.Waiter
	metrics  *prometheus.Registry
	handler  http.Handler
	router   *mux.Router
	stop     context.CancelFunc
	wg       sync.WaitGroup

	commands *commands.Application
	queries  *pgread.Store
	identity *identityread.Queries
	sessions *auth.Service
	issuer   *tokens.Issuer
	limiter  *ratelimit.Limiter
	// mounts add routes to the API before the handler is built (WithRoutes).
	mounts []func(api *httpapi.API)
	// passwordCost is the bcrypt cost (WithPasswordCost), passwords.Cost
	// unless a test lowers it.
	passwordCost int

	// analytics answers the analytics routes (cached in Redis when set).
	analytics readapi.Analytics
	// noProjectors runs the API alone (WithoutProjectors).
	noProjectors bool
	// dispatcher delivers webhooks wherever the projectors run (never
	// during a rebuild, which does not start an App); webhookOpts adjust
	// its configuration (WithWebhooks).
	dispatcher  *webhooks.Dispatcher
	webhookOpts []func(*webhooks.Config)
	// tracer, when set, traces the main pool (WithQueryTracer).
	tracer pgx.QueryTracer
}

// WithWebhooks adjusts the webhook dispatcher's configuration (tests use
// it for a clock, shorter back-off or a lower disabling threshold).
func WithWebhooks(adjust func(*webhooks.Config)) Option {
	return func(a *App) { a.webhookOpts = append(a.webhookOpts, adjust) }
}

// WithoutProjectors runs the HTTP API without the projectors (`crm serve
// --projectors=false`): API processes then scale apart from the
// projector workers, which run elsewhere (`crm serve --api=false`).
func WithoutProjectors() Option {
	return func(a *App) { a.noProjectors = true }
}

// WithQueryTracer traces the statements of the main pool (the API's and
// the commands'): tests count the round trips a request costs.
func WithQueryTracer(t pgx.QueryTracer) Option {
	return func(a *App) { a.tracer = t }
}

// Option adjusts an App while New wires it.
type Option func(*App)

// WithRoutes mounts more routes on the API before the handler is built:
// tests use it for stub routes behind the authentication and tenancy
// middleware.
func WithRoutes(mount func(api *httpapi.API)) Option {
	return func(a *App) { a.mounts = append(a.mounts, mount) }
}

// Projectors lists every projector, in one place, so that serve, status,
// rebuild and verify agree: those whose read models the API reads.
// (streamstats, a count of events per stream that nothing reads, is the
// engine's test projector; running it cost a write per batch and a table
// per rebuild: migrations/00100. The analytics counters are the deals
// projector's: migrations/00110.)
func Projectors() []projections.Projector { return sales.Projectors() }

// ProjectorNames lists every projector by name.
func ProjectorNames() []string {
	var names []string
	for _, p := range Projectors() {
		names = append(names, p.Name)
	}
	return names
}

// New wires an App on the database at dsn (migrations must be applied).
func New(ctx context.Context, cfg Config, dsn, version string, log *slog.Logger, opts ...Option) (*App, error) {
	pcfg, err := pgpool.Config(dsn)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = int32(cmp.Or(cfg.DBMaxConns, DefaultDBMaxConns()))
	a := &App{version: version, cfg: cfg, log: log, reg: events.Domain(), hub: projections.NewHub(),
		progress: projections.NewProgress(), metrics: prometheus.NewRegistry()}
	for _, o := range opts {
		o(a)
	}
	if a.tracer != nil {
		pcfg.ConnConfig.Tracer = a.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	a.pool = pool
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			pool.Close()
			return nil, err
		}
		a.redis = redis.NewClient(opt)
	}
	a.notifier = projections.NewNotifier(pool, log)
	// The identity tables are written inside every append transaction:
	// they enforce unique e-mails and answer the tenancy check.
	sm, err := newStoreMetrics(a.metrics)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.store = pgstore.New(pool, a.reg, pgstore.Hooks{
		Committed: func(xid uint64) { a.hub.Committed(xid); a.notifier.Committed(xid) },
		Ended:     a.hub.Ended,
		Stored: func(evs []events.Event) {
			sm.stored(evs)
			if a.waiter != nil {
				a.waiter.Appended(evs)
			}
		},
	}, identityproj.New())
	if err := a.wireIdentity(cfg); err != nil {
		a.Close()
		return nil, err
	}
	// Projectors get their own small pool whose transactions commit
	// without waiting for the WAL flush: a read model and its checkpoint
	// commit together, so a crash loses both and the events are simply
	// projected again. Commits stay visible at once (read-your-writes
	// holds); only their durability is deferred by a few milliseconds.
	if err := projections.CheckLogOrder(ctx, pool); err != nil {
		a.Close()
		return nil, err
	}
	// The read path runs as the reader role under row-level security
	// (readapi/pgread, migrations/00060): without that role it could
	// not answer at all, so refuse to start and say why.
	if err := pgread.CheckReader(ctx, pool); err != nil {
		a.Close()
		return nil, err
	}
	if !a.noProjectors {
		if a.projPool, err = projectorPool(ctx, dsn, len(Projectors())); err != nil {
			a.Close()
			return nil, err
		}
		onBatch, err := newBatchMetrics(a.metrics)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.runner, err = projections.NewRunner(projections.Config{
			Pool: a.projPool, Registry: a.reg, Hub: a.hub, Progress: a.progress,
			Projectors: Projectors(), Logger: log, OnBatch: onBatch,
		})
		if err != nil {
			a.Close()
			return nil, err
		}
		wcfg := webhooks.Config{
			Pool: pool, Reader: feed.Reader{Pool: pool, Registry: a.reg, HoldBack: -1},
			AllowPrivate: cfg.WebhookAllowPrivate, Wake: a.hub.Subscribe, Logger: log,
		}
		for _, adjust := range a.webhookOpts {
			adjust(&wcfg)
		}
		if a.dispatcher, err = webhooks.New(wcfg); err != nil {
			a.Close()
			return nil, err
		}
	}
	// The read-model queries have a pool of their own, capped lower than
	// the main one (Config.DBReadConns).
	rcfg := pcfg.Copy()
	rcfg.MaxConns = int32(cmp.Or(cfg.DBReadConns, DefaultDBReadConns()))
	if a.readPool, err = pgxpool.NewWithConfig(ctx, rcfg); err != nil {
		a.Close()
		return nil, err
	}
	a.waiter = projections.NewWaiter(pool, a.progress, cfg.ConsistencyTimeout)
	a.queries = pgread.New(a.readPool, a.waiter)
	if a.analytics, err = rediscache.NewAnalytics(pgread.NewAnalytics(a.readPool, a.waiter), rediscache.Options{
		Redis: a.redis, Waiter: a.waiter, Metrics: a.metrics, Logger: log,
	}); err != nil {
		a.Close()
		return nil, err
	}
	a.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newProjectionCollector(pool, ProjectorNames()))
	a.handler, err = a.routes()
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) routes() (http.Handler, error) {
	// SkipClean: a path with "//", "." or ".." is not a route (404
	// problem), where mux would answer a bare 301 to its cleaned form.
	r := mux.NewRouter().SkipClean(true)
	a.router = r
	r.NotFoundHandler = httpapi.NotFound(r)
	r.MethodNotAllowedHandler = httpapi.MethodNotAllowed(r)
	r.Use(httpapi.RecordRoute)
	ops := httpapi.Ops{Version: a.version, Ready: a.readiness}
	r.Handle("/health", httpapi.Accepts(ops.Health)).Methods(http.MethodGet)
	r.Handle("/ready", httpapi.Accepts(ops.ReadyHandler)).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.Handle(httpapi.IndexPath, httpapi.Accepts(ops.Index)).Methods(http.MethodGet)
	r.Handle(httpapi.BasePath, httpapi.Accepts(ops.Index)).Methods(http.MethodGet)
	r.Handle(httpapi.ErrorsPath, httpapi.Accepts(httpapi.ErrorsPage)).Methods(http.MethodGet) // before openapi's /docs/ prefix

	api := httpapi.NewAPI(r, httpapi.Identity{
		Commands: a.commands, Queries: a.identity, Sessions: a.sessions, Tokens: a.issuer,
		Limiter: a.limiter, Idempotency: a.store, Access: identityproj.NewAccess(a.pool),
	})
	httpapi.Sales{Commands: a.commands, Queries: a.queries, Audit: audit.Deals{Store: a.store, Snapshots: pgsnapshots.New(a.pool)}}.Mount(api.OrgScoped())
	httpapi.Analytics{Queries: a.analytics}.Mount(api.OrgScoped())
	httpapi.Events{Feed: feed.Reader{Pool: a.pool, Registry: a.reg, Hub: a.hub}}.Mount(api.OrgScoped())
	httpapi.Webhooks{AllowPrivate: a.cfg.WebhookAllowPrivate, Store: webhooks.Store{Pool: a.pool, Changed: func() {
		if a.dispatcher != nil {
			a.dispatcher.Kick()
		}
	}}}.Mount(api.OrgScoped())
	openapi.Mount(r)
	for _, mount := range a.mounts {
		mount(api)
	}

	metrics, err := httpapi.NewMetrics(a.metrics)
	if err != nil {
		return nil, err
	}
	return httpapi.Chain(r,
		httpapi.StripTrailingSlash,
		httpapi.HeadAsGet,
		httpapi.RequestID,
		httpapi.Logger(a.log),
		httpapi.AccessLog(a.log),
		httpapi.Recover(a.log),
		metrics.Middleware,
		httpapi.CORS(a.cfg.CORSOrigins),
		httpapi.BodyLimit(1<<20),
		httpapi.RequireJSON,
	), nil
}

// wireIdentity builds the command side and the identity services:
// password hashing, access and refresh tokens, logins and their rate
// limit.
func (a *App) wireIdentity(cfg Config) error {
	if a.passwordCost == 0 {
		a.passwordCost = passwords.Cost
	}
	hasher, err := passwords.NewWithCost(a.passwordCost)
	if err != nil {
		return err
	}
	a.identity = identityread.New(a.pool)
	observe, err := newCommandMetrics(a.metrics)
	if err != nil {
		return err
	}
	a.commands = commands.New(commands.Deps{
		Store: a.store, Directory: a.identity, Users: a.identity, Passwords: hasher, Observe: observe,
	})
	a.issuer = tokens.NewIssuer([]byte(cfg.SecretKey), cfg.AccessTokenTTL)
	a.sessions = auth.New(a.identity, hasher, tokens.NewService(a.issuer, pgtokens.New(a.pool), cfg.RefreshTokenTTL))
	a.limiter = ratelimit.New(cfg.AuthRateLimit, a.redis, a.log)
	return nil
}

// WithPasswordCost hashes passwords at another bcrypt cost than
// passwords.Cost. It exists for end-to-end tests only (under the race
// detector a cost-10 hash takes about a second); production never sets it.
func WithPasswordCost(cost int) Option {
	return func(a *App) { a.passwordCost = cost }
}

// readiness reports PostgreSQL, migrations, Redis and every projector.
func (a *App) readiness(ctx context.Context) httpapi.Readiness {
	rd := httpapi.Readiness{Postgres: "ok", Redis: "disabled", Migrations: "current"}
	if a.redis != nil {
		rd.Redis = "ok"
		if err := a.redis.Ping(ctx).Err(); err != nil {
			rd.Redis = "down"
		}
	}
	if err := a.pool.Ping(ctx); err != nil {
		// Neither the migrations nor the projections can be read.
		rd.Postgres, rd.Migrations = "down", "unknown"
		return rd
	}
	db := stdlib.OpenDBFromPool(a.pool)
	pending, err := migrations.Pending(ctx, db)
	db.Close()
	switch {
	case err != nil:
		rd.Migrations = "unknown"
	case pending:
		rd.Migrations = "pending"
	}
	st, err := projections.ReadStatus(ctx, a.pool, ProjectorNames())
	if err == nil {
		for _, s := range st {
			pr := httpapi.ProjectionReadiness{Name: s.Name, Position: s.Position, Backlog: s.Backlog,
				LagSeconds: s.LagSeconds, State: "running"}
			if len(s.Parked) > 0 {
				pr.State, pr.Parked = "stopped at a parked event", len(s.Parked)
			}
			rd.Projections = append(rd.Projections, pr)
		}
	}
	return rd
}

// Router is the route table behind Handler (for tests that check it
// against the OpenAPI document).
func (a *App) Router() *mux.Router { return a.router }

// Handler is the HTTP API (for tests that serve it themselves).
func (a *App) Handler() http.Handler { return a.handler }

// Start runs the projectors and the wake-up plumbing in the background
// until Close is called, returning once every projector is subscribed.
func (a *App) Start(ctx context.Context) error {
	// The projectors stop through Close (runner first, then the
	// plumbing), not by ctx: a cancelled context would cut their
	// transactions mid-statement.
	ctx, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	if err := a.servePprof(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	a.wg.Add(2)
	go func() { defer a.wg.Done(); a.notifier.Run(ctx) }()
	go func() { defer a.wg.Done(); projections.Listen(ctx, a.pool, a.hub, a.notifier, a.log) }()
	if a.runner == nil {
		return nil
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.runner.Run(ctx); err != nil {
			errc <- err
		}
	}()
	select {
	case <-a.runner.Running():
	case err := <-errc:
		return err
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.dispatcher.Run(ctx); err != nil {
			a.log.Error("webhook dispatcher stopped", "err", err)
		}
	}()
	<-a.dispatcher.Running()
	return nil
}

// servePprof serves net/http/pprof on PPROF_ADDR (a loopback address,
// checked by LoadConfig) until ctx ends; nothing when it is unset.
func (a *App) servePprof(ctx context.Context) error {
	if a.cfg.PprofAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.PprofAddr)
	if err != nil {
		return fmt.Errorf("PPROF_ADDR: listen on %s: %w", a.cfg.PprofAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.wg.Add(2)
	go func() { defer a.wg.Done(); _ = srv.Serve(ln) }()
	go func() { defer a.wg.Done(); <-ctx.Done(); _ = srv.Close() }()
	a.log.Info("pprof is served", "addr", ln.Addr().String())
	return nil
}

// RunProjectors runs the projectors alone (`crm serve --api=false`: a
// projector worker) until ctx ends.
func (a *App) RunProjectors(ctx context.Context, started time.Time) error {
	if a.runner == nil {
		return errors.New("nothing to run: the API and the projectors are both off")
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	a.log.Info("crm projector worker is running", "projectors", ProjectorNames(), "start_to_ready", time.Since(started).String())
	<-ctx.Done()
	return nil
}

// Run serves HTTP on the configured address until ctx ends. started is
// when the process began, for the start-to-ready log line.
func (a *App) Run(ctx context.Context, started time.Time) error {
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.HTTPAddr, err)
	}
	if err := a.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 1)
	srv := NewHTTPServer(a.cfg, a.handler)
	go func() {
		if err := srv.Serve(httpapi.ProblemListener(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	a.log.Info("crm is ready", "addr", ln.Addr().String(), "start_to_ready", time.Since(started).String())

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		a.log.Error("http shutdown", "err", serr)
	}
	return err
}

// NewHTTPServer is the server Run starts for h, with cfg's timeouts (slow
// or idle clients cannot hold connections for long).
func NewHTTPServer(cfg Config, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
	}
}

// Close stops the projectors and releases the pool and Redis.
func (a *App) Close() {
	// Webhook deliveries first (those under way are cut off and sent
	// again later), then the projectors, while their connections are
	// still wanted: a cancelled context would cut their transactions
	// mid-statement.
	if a.dispatcher != nil {
		_ = a.dispatcher.Close()
	}
	if a.runner != nil {
		_ = a.runner.Close()
	}
	if a.stop != nil {
		a.stop()
	}
	a.wg.Wait()
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.readPool != nil {
		a.readPool.Close()
	}
	if a.projPool != nil {
		a.projPool.Close()
	}
	a.pool.Close()
}

// projectorPool opens the projectors' connections: one per projector and a
// spare, with synchronous_commit off, and every statement on its generic
// plan: the projectors run the same few statements thousands of times a
// second, and PostgreSQL, finding custom plans cheaper on paper for the
// array parameters and the poll's LIMIT, re-planned about half of their
// executions (7 % of its time in a W1 run, pg_stat_statements). The
// poll's generic plan is checked to be the same bounded index scan
// (projections.TestPollIsAnIndexRangeScanOnABigBacklog).
func projectorPool(ctx context.Context, dsn string, projectors int) (*pgxpool.Pool, error) {
	cfg, err := pgpool.Config(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(projectors + 2)
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	cfg.ConnConfig.RuntimeParams["application_name"] = "crm-projectors"
	return pgxpool.NewWithConfig(ctx, cfg)
}
