package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/internal/app"
	"example.com/crm/internal/localpg"
	"example.com/crm/internal/pgpool"
	"example.com/crm/migrations"
	"example.com/crm/projections"
)

// withDatabase runs fn with a database URL: DATABASE_URL when set, else a
// private PostgreSQL started from the machine's binaries under DataDir,
// reused across runs and stopped when fn returns.
func withDatabase(ctx context.Context, cfg app.Config, log *slog.Logger, fn func(dsn string) error) error {
	dsn, release, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer release()
	return fn(dsn)
}

// openDatabase returns the database URL and what to do when done with it;
// release reports what it did (for the shutdown line).
func openDatabase(ctx context.Context, cfg app.Config, log *slog.Logger) (dsn string, release func() string, err error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, func() string { return "PostgreSQL (DATABASE_URL) left as it was" }, nil
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "postgres"))
	if err != nil {
		return "", nil, err
	}
	log.Info("DATABASE_URL is unset: running a private PostgreSQL", "data_dir", dir)
	cluster, err := localpg.Start(ctx, localpg.Options{
		DataDir: dir,
		Logf:    func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return "", nil, err
	}
	log.Info("private PostgreSQL is up", "data_dir", dir, "url", cluster.URL("crm"))
	release = func() string {
		if cluster.Attached() {
			return "private PostgreSQL left running (another crm process started it)"
		}
		if err := cluster.Stop(); err != nil {
			log.Error("stopping the private PostgreSQL", "err", err)
			return "private PostgreSQL failed to stop: " + err.Error()
		}
		return "private PostgreSQL stopped"
	}
	return cluster.URL("crm"), release, nil
}

// waitForDatabase returns once PostgreSQL at dsn accepts a connection.
// While it cannot be reached (refused, unreachable, starting up, out of
// connection slots) it logs a warning and tries again with a back-off of
// up to maxDatabaseWait, until ctx ends: a server started while its
// database is down (a host reboot, compose starting both at once) waits
// for it instead of exiting and being restarted in a loop. A refusal
// that waiting cannot cure (authentication, unknown database, a bad URL)
// returns at once.
func waitForDatabase(ctx context.Context, dsn string, log *slog.Logger) error {
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(cctx, dsn)
		cancel()
		if err == nil {
			_ = conn.Close(ctx)
			if attempt > 1 {
				log.Info("PostgreSQL is reachable", "attempts", attempt)
			}
			return nil
		}
		if !databaseMayComeBack(err) || ctx.Err() != nil {
			return fmt.Errorf("connecting to PostgreSQL: %w", err)
		}
		log.Warn("waiting for PostgreSQL", "attempt", attempt, "retry_in", pause, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("connecting to PostgreSQL: %w", err)
		case <-time.After(pause):
		}
		pause = min(2*pause, maxDatabaseWait)
	}
}

// maxDatabaseWait is the longest pause between two attempts of
// waitForDatabase.
const maxDatabaseWait = 5 * time.Second

// databaseMayComeBack reports whether a failed connection is worth
// trying again: the server is not there or not ready yet. A server that
// answers and refuses (SQLSTATE class 28, authentication; 3D000, no such
// database) or a URL that does not parse will not change by waiting.
func databaseMayComeBack(err error) bool {
	var parse *pgconn.ParseConfigError
	if errors.As(err, &parse) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P03" || pgErr.Code == "53300" || strings.HasPrefix(pgErr.Code, "08")
	}
	return true
}

func migrateUp(ctx context.Context, dsn string) (int, error) {
	return migrations.Up(ctx, dsn)
}

// serveRoles says what one `crm serve` process runs.
type serveRoles struct {
	api, projectors bool
}

func parseServe(args []string) (serveRoles, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r := serveRoles{}
	fs.BoolVar(&r.api, "api", true, "serve the HTTP API")
	fs.BoolVar(&r.projectors, "projectors", true, "run the projectors (one process holds each at a time)")
	if err := fs.Parse(args); err != nil {
		return r, fmt.Errorf("serve: %w (flags: --api=true|false, --projectors=true|false)", err)
	}
	if fs.NArg() > 0 {
		return r, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if !r.api && !r.projectors {
		return r, errors.New("serve: --api=false and --projectors=false leave nothing to run")
	}
	return r, nil
}

// serve runs the API and/or the projectors until ctx ends, then drains
// them in order — HTTP server (in-flight requests finish), projectors
// (their current batch commits), PostgreSQL — and logs one line saying
// what was drained and how long it took.
func serve(ctx context.Context, cfg app.Config, log *slog.Logger, roles serveRoles) error {
	log.Info("starting crm", "version", version, "api", roles.api, "projectors", roles.projectors, "config", cfg)
	started := time.Now()
	var stopping atomic.Int64 // when ctx ended (unix nanoseconds)
	drainLogged, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drainLogged)
		select {
		case <-ctx.Done():
		case <-finished:
			if ctx.Err() == nil {
				return // stopped by an error, not asked to
			}
		}
		stopping.Store(time.Now().UnixNano())
		log.Info("shutting down: draining", "signal", context.Cause(ctx).Error())
	}()
	// The drain's start is logged before its end, however fast the drain:
	// once ctx ended, the line is written before serve returns, even when
	// the drain finished before the goroutine above woke up. (A
	// context.AfterFunc lost that race: its stop could win against the
	// cancellation that had already closed ctx.Done, and the line was
	// missing with the shutdown said to take 0s.)
	awaitDrainLog := sync.OnceFunc(func() {
		close(finished)
		<-drainLogged
	})
	defer awaitDrainLog()
	dsn, release, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	var drained []string
	err = func() error {
		if err := waitForDatabase(ctx, dsn, log); err != nil {
			return err
		}
		n, err := migrateUp(ctx, dsn)
		if err != nil {
			return err
		}
		log.Info("migrations applied", "count", n)
		var opts []app.Option
		if !roles.projectors {
			opts = append(opts, app.WithoutProjectors())
		}
		a, err := app.New(ctx, cfg, dsn, version, log, opts...)
		if err != nil {
			return err
		}
		if roles.api {
			err = a.Run(ctx, started)
			drained = append(drained, "HTTP server shut down")
		} else {
			err = a.RunProjectors(ctx, started)
		}
		a.Close()
		if roles.projectors {
			drained = append(drained, "projectors stopped")
		}
		return err
	}()
	drained = append(drained, release())
	awaitDrainLog()
	took := time.Duration(0)
	if at := stopping.Load(); at != 0 {
		took = time.Since(time.Unix(0, at))
	}
	if err != nil {
		log.Error("crm stopped", "err", err, "drained", strings.Join(drained, ", "), "shutdown", took)
		return err
	}
	log.Info("crm stopped", "drained", strings.Join(drained, ", "), "shutdown", took)
	return nil
}

func projectionsStatus(ctx context.Context, dsn string, out io.Writer) error {
	pool, err := pgpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	st, err := projections.ReadStatus(ctx, pool, app.ProjectorNames())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTOR\tSTATE\tPOSITION\tBACKLOG\tLAG\tOWNER")
	var parked []string
	for _, s := range st {
		state := "running"
		if len(s.Parked) > 0 {
			state = "STOPPED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.3fs\t%s\n", s.Name, state, s.Position, s.Backlog, s.LagSeconds, s.Owner)
		for _, p := range s.Parked {
			parked = append(parked, fmt.Sprintf("%s is stopped at event %s (%s, position %d) after %d attempts: %s",
				s.Name, p.EventID, p.EventType, p.Position, p.Attempts, p.Error))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range parked {
		fmt.Fprintln(out, p)
	}
	if len(parked) > 0 {
		fmt.Fprintln(out, "fix the projector and run `crm projections retry NAME`, or step over the event with `crm projections skip NAME`")
	}
	return nil
}

// selectProjectors resolves `NAME` or `--all`.
func selectProjectors(args []string) ([]projections.Projector, error) {
	all := app.Projectors()
	if len(args) != 1 {
		return nil, fmt.Errorf("name one projector or --all (projectors: %s)", strings.Join(app.ProjectorNames(), ", "))
	}
	if args[0] == "--all" {
		return all, nil
	}
	for _, p := range all {
		if p.Name == args[0] {
			return []projections.Projector{p}, nil
		}
	}
	return nil, fmt.Errorf("no projector %q (projectors: %s)", args[0], strings.Join(app.ProjectorNames(), ", "))
}

// rebuildProjections runs `crm projections rebuild|verify NAME|--all`,
// with a progress line on stderr.
func rebuildProjections(ctx context.Context, dsn, verb string, args []string, out, progress io.Writer) error {
	ps, err := selectProjectors(args)
	if err != nil {
		return err
	}
	pcfg, err := pgpool.Config(dsn)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 6 // the rebuild's own, the timeline's streaming COPY, three COPY and index workers, one spare
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	bar := newProgressBar(progress)
	opts := projections.RebuildOptions{Pool: pool, Registry: events.Domain(), Projectors: ps, Progress: bar.update}
	run := projections.Rebuild
	if verb == "verify" {
		run = projections.Verify
	}
	res, err := run(ctx, opts)
	bar.done()
	if err != nil {
		return err
	}
	rate := float64(res.Events) / max(res.Bulk.Seconds(), 1e-9)
	swapped := ""
	if verb == "rebuild" {
		swapped = fmt.Sprintf("; %d events applied while the swap held the live projectors", res.UnderLock)
	}
	fmt.Fprintf(out, "%s: %d events folded in %v (%.0f events/s in the bulk pass), %v in all%s\n",
		verb, res.Events, res.Bulk.Round(time.Millisecond), rate, res.Total.Round(time.Millisecond), swapped)
	if verb == "verify" {
		if len(res.Differences) > 0 {
			for _, d := range res.Differences {
				fmt.Fprintln(out, "  "+d)
			}
			return fmt.Errorf("verify: the live read models differ from a rebuild (%d differences shown)", len(res.Differences))
		}
		fmt.Fprintln(out, "verify: the live read models equal a rebuild from the event log")
	}
	return nil
}

// resolveParked runs `crm projections skip|retry NAME`.
func resolveParked(ctx context.Context, dsn, verb string, args []string, out io.Writer) error {
	ps, err := selectProjectors(args)
	if err != nil || len(ps) != 1 {
		return fmt.Errorf("%s: name one projector", verb)
	}
	pool, err := pgpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	f := projections.Skip
	if verb == "retry" {
		f = projections.Retry
	}
	ok, err := f(ctx, pool, ps[0].Name)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintf(out, "%s has no parked event\n", ps[0].Name)
		return nil
	}
	fmt.Fprintf(out, "%s: marked %s; the projector acts on it within a second\n", ps[0].Name, map[string]string{"skip": "skipped", "retry": "for retry"}[verb])
	return nil
}
