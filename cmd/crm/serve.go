package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/app"
	"example.com/crm/internal/localpg"
	"example.com/crm/migrations"
	"example.com/crm/projections"
)

// withDatabase runs fn with a database URL: DATABASE_URL when set, else a
// private PostgreSQL started from the machine's binaries under DataDir,
// reused across runs and stopped when fn returns.
func withDatabase(ctx context.Context, cfg app.Config, log *slog.Logger, fn func(dsn string) error) error {
	if cfg.DatabaseURL != "" {
		return fn(cfg.DatabaseURL)
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "postgres"))
	if err != nil {
		return err
	}
	log.Info("DATABASE_URL is unset: running a private PostgreSQL", "data_dir", dir)
	cluster, err := localpg.Start(ctx, localpg.Options{
		DataDir: dir,
		Logf:    func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			log.Error("stopping the private PostgreSQL", "err", err)
		}
	}()
	log.Info("private PostgreSQL is up", "data_dir", dir, "url", cluster.URL("crm"))
	return fn(cluster.URL("crm"))
}

func migrateUp(ctx context.Context, dsn string) (int, error) {
	return migrations.Up(ctx, dsn)
}

// serve runs the API and the projectors until ctx ends.
func serve(ctx context.Context, cfg app.Config, log *slog.Logger) error {
	log.Info("starting crm", "version", version, "config", cfg)
	return withDatabase(ctx, cfg, log, func(dsn string) error {
		started := time.Now()
		n, err := migrateUp(ctx, dsn)
		if err != nil {
			return err
		}
		log.Info("migrations applied", "count", n)
		a, err := app.New(ctx, cfg, dsn, version, log)
		if err != nil {
			return err
		}
		defer a.Close()
		return a.Run(ctx, started)
	})
}

func projectionsStatus(ctx context.Context, dsn string, out io.Writer) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	st, err := projections.ReadStatus(ctx, pool, app.ProjectorNames())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTOR\tPOSITION\tBACKLOG\tLAG")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3fs\n", s.Name, s.Position, s.Backlog, s.LagSeconds)
	}
	return tw.Flush()
}
