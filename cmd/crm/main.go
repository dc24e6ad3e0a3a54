// Command crm is the CRM server and its operator tools:
//
//	crm serve [--api=false] [--projectors=false]
//	                                  HTTP API and projectors (or either alone)
//	crm migrate                       apply pending migrations and exit
//	crm projections status            each projector's position, backlog, lag and parked events
//	crm projections rebuild NAME|--all
//	crm projections verify NAME|--all
//	crm projections skip|retry NAME   step over, or try again, a parked poison event
//	crm seed --orgs N --deals N       demo data: a user per role per organization, deals, tasks, comments
//	crm seed [-scale 0.01]            the benchmark's data set (bulk-loaded; see internal/seed)
//	crm health                        exit 0 when the server on HTTP_ADDR answers /health with 200
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
  serve [--api=false] [--projectors=false]
                          run the HTTP API and the projectors (or either alone)
  migrate                 apply pending database migrations
  projections status      show each projector's position, backlog, lag and parked events
  projections rebuild NAME|--all
                          rebuild read models from the event log, swapped in without downtime
  projections verify NAME|--all
                          compare the live read models with a rebuild, row for row
  projections skip NAME   step over the poison event a projector is stopped at
  projections retry NAME  try that event again (after deploying a fix)
  seed --orgs N --deals N load demo data: per organization a user per role, contacts, deals with
                          stage histories, tasks, comments (bulk; the projectors build the read models)
  seed [-scale 0.01]      load the benchmark's data set at a scale (1 = 100k deals, ≥ 1M events)
  health                  GET /health on HTTP_ADDR; exit 0 when the server answers 200 (container healthcheck)
  version                 print the version`

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
	case "health":
		return healthCommand(ctx, cfg.HTTPAddr, out)
	case "serve":
		roles, err := parseServe(args[1:])
		if err != nil {
			return err
		}
		return serve(ctx, cfg, log, roles)
	case "migrate":
		return withDatabase(ctx, cfg, log, func(dsn string) error {
			n, err := migrateUp(ctx, dsn)
			if err == nil {
				fmt.Fprintf(out, "applied %d migrations\n", n)
			}
			return err
		})
	case "seed":
		return seedCommand(ctx, cfg, log, args[1:], out, os.Stderr)
	case "projections":
		if len(args) < 2 {
			return errors.New(usage)
		}
		verb, rest := args[1], args[2:]
		switch verb {
		case "status":
			return withDatabase(ctx, cfg, log, func(dsn string) error { return projectionsStatus(ctx, dsn, out) })
		case "rebuild", "verify":
			if _, err := selectProjectors(rest); err != nil {
				return err
			}
			return withDatabase(ctx, cfg, log, func(dsn string) error {
				return rebuildProjections(ctx, dsn, verb, rest, out, os.Stderr)
			})
		case "skip", "retry":
			return withDatabase(ctx, cfg, log, func(dsn string) error { return resolveParked(ctx, dsn, verb, rest, out) })
		}
		return errors.New(usage)
	}
	return errors.New(usage)
}

// newLogger is the process's logger: cfg's level and format, with every
// time.Duration written as a Go duration string ("1.5s", "230µs") rather
// than slog's default integer nanoseconds, so a reader sees units.
func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel, ReplaceAttr: durationsAsStrings}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// durationsAsStrings is the handlers' ReplaceAttr: a duration becomes its
// String() form. slog calls it for attributes inside groups too (the
// configuration's timeouts, the access log's duration).
func durationsAsStrings(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
