package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/app"
	"example.com/crm/internal/seed"
)

// seedCommand fills the database with demo data (`crm seed -scale 0.01`):
// users and organizations through the real commands, the sales events
// decided by the aggregates and bulk-loaded (internal/seed). The running
// server's projectors build the read models afterwards.
func seedCommand(ctx context.Context, cfg app.Config, log *slog.Logger, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("crm seed", flag.ContinueOnError)
	scale := fs.Float64("scale", 0.01, "1 = 100k deals, 30k contacts, 200k tasks, ≥ 1M events")
	password := fs.String("password", "demo-password", "password of every seeded user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return withDatabase(ctx, cfg, log, func(dsn string) error {
		if _, err := migrateUp(ctx, dsn); err != nil {
			return err
		}
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return err
		}
		defer pool.Close()
		o := seed.Scaled(*scale)
		o.Password = *password
		o.Progress = func(p seed.Progress) {
			fmt.Fprintf(out, "seed: %d/%d events (%.0f/s)\n", p.Done, p.Total, float64(p.Done)/p.Elapsed.Seconds())
		}
		res, err := seed.Run(ctx, pool, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "seeded %d events\n", res.Events)
		fmt.Fprintf(out, "organization %s: owner %s, %d contacts, %d deals, %d tasks\n", res.Main.ID, res.Main.Owner.Email, res.Main.Contacts, res.Main.Deals, res.Main.Tasks)
		for _, m := range res.Main.Members {
			fmt.Fprintf(out, "  %s: %s\n", m.Role, m.Email)
		}
		if res.Small != nil {
			fmt.Fprintf(out, "organization %s: owner %s\n", res.Small.ID, res.Small.Owner.Email)
		}
		fmt.Fprintf(out, "password of every seeded user: %s\n", res.Password)
		return nil
	})
}
