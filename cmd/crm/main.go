// Command crm is the CRM server and its operator tools:
//
//	crm serve                         HTTP API and projectors in one process
//	crm migrate                       apply pending migrations and exit
//	crm projections status            each projector's position, backlog and lag
//	crm seed [-scale 0.01]            demo data (bulk-loaded; see internal/seed)
//	crm version                       print the version
//
// Configuration comes from the environment (see config.go and README).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"example.com/crm/internal/app"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crm:", err)
		os.Exit(1)
	}
}

const usage = `usage: crm <command>

commands:
  serve                  run the HTTP API and the projectors
  migrate                apply pending database migrations
  projections status     show each projector's position, backlog and lag
  seed [-scale 0.01]     load demo data (bulk; the projectors build the read models)
  version                print the version`

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	if args[0] == "version" {
		fmt.Fprintln(out, version)
		return nil
	}
	if err := app.LoadDotEnv(".env"); err != nil {
		return fmt.Errorf(".env: %w", err)
	}
	cfg, err := app.LoadConfig(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, os.Stderr)
	slog.SetDefault(log)

	switch args[0] {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		return withDatabase(ctx, cfg, log, func(dsn string) error {
			n, err := migrateUp(ctx, dsn)
			if err == nil {
				fmt.Fprintf(out, "applied %d migrations\n", n)
			}
			return err
		})
	case "seed":
		return seedCommand(ctx, cfg, log, args[1:], out)
	case "projections":
		if len(args) < 2 || args[1] != "status" {
			return errors.New(usage)
		}
		return withDatabase(ctx, cfg, log, func(dsn string) error { return projectionsStatus(ctx, dsn, out) })
	}
	return errors.New(usage)
}

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
