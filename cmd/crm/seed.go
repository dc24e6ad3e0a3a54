package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"example.com/crm/internal/app"
	"example.com/crm/internal/pgpool"
	"example.com/crm/internal/seed"
)

// seedOptions reads `crm seed`'s flags. With --orgs or --deals it sizes a
// demo data set (per organization: the deals, about a third as many
// contacts, two tasks and a comment per deal, unless given); otherwise
// -scale picks the benchmark's data set (1 = 100k deals, ≥ 1M events).
func seedOptions(args []string) (seed.Options, error) {
	fs := flag.NewFlagSet("crm seed", flag.ContinueOnError)
	scale := fs.Float64("scale", 0.01, "the benchmark's data set at this scale (1 = 100k deals, 30k contacts, 200k tasks, ≥ 1M events)")
	orgs := fs.Int("orgs", 1, "organizations, each with an owner, an admin, a manager and a member")
	deals := fs.Int("deals", 1000, "deals per organization")
	contacts := fs.Int("contacts", 0, "contacts per organization (default: deals/3)")
	tasks := fs.Int("tasks", -1, "tasks per organization (default: 2 per deal)")
	comments := fs.Int("comments", -1, "comments per organization (default: 1 per deal)")
	password := fs.String("password", "demo-password", "password of every seeded user (8–128 characters)")
	if err := fs.Parse(args); err != nil {
		return seed.Options{}, err
	}
	if fs.NArg() > 0 {
		return seed.Options{}, fmt.Errorf("seed: unexpected argument %q", fs.Arg(0))
	}
	demo := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "orgs", "deals", "contacts", "tasks", "comments":
			demo = true
		}
	})
	var o seed.Options
	if demo {
		if *orgs < 1 || *deals < 1 {
			return o, fmt.Errorf("seed: --orgs and --deals must be at least 1")
		}
		o = seed.Options{Orgs: *orgs, Deals: *deals, Contacts: *contacts, Tasks: *tasks, Comments: *comments}
		if o.Contacts <= 0 {
			o.Contacts = max(1, *deals/3)
		}
		if o.Tasks < 0 {
			o.Tasks = 2 * *deals
		}
		if o.Comments < 0 {
			o.Comments = *deals
		}
	} else {
		o = seed.Scaled(*scale)
	}
	o.Password = *password
	return o, nil
}

// seedCommand fills the database with demo data (`crm seed --orgs 3
// --deals 1000`, or the benchmark's `crm seed -scale 0.01`): users and
// organizations through the real commands, the sales events decided by
// the aggregates and bulk-loaded (internal/seed), with a progress bar on
// stderr. The running server's projectors build the read models
// afterwards.
func seedCommand(ctx context.Context, cfg app.Config, log *slog.Logger, args []string, out, progress io.Writer) error {
	o, err := seedOptions(args)
	if err != nil {
		return err
	}
	return withDatabase(ctx, cfg, log, func(dsn string) error {
		if _, err := migrateUp(ctx, dsn); err != nil {
			return err
		}
		pool, err := pgpool.New(ctx, dsn)
		if err != nil {
			return err
		}
		defer pool.Close()
		bar := newProgressBar(progress)
		o.Progress = func(p seed.Progress) { bar.update(p.Phase, int64(p.Done), int64(p.Total)) }
		res, err := seed.Run(ctx, pool, o)
		bar.done()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "seeded %d events; the projectors build the read models (`crm projections status` shows them catch up)\n", res.Events)
		for _, org := range res.Orgs {
			fmt.Fprintf(out, "organization %s: %d contacts, %d deals, %d tasks\n", org.ID, org.Contacts, org.Deals, org.Tasks)
			fmt.Fprintf(out, "  %-8s %s\n", org.Owner.Role+":", org.Owner.Email)
			for _, m := range org.Members {
				fmt.Fprintf(out, "  %-8s %s\n", m.Role+":", m.Email)
			}
		}
		fmt.Fprintf(out, "password of every seeded user: %s\n", res.Password)
		if base, err := healthURL(cfg.HTTPAddr); err == nil && len(res.Orgs) > 0 {
			base = strings.TrimSuffix(base, "/health")
			fmt.Fprintf(out, "try it (with crm serve running):\n  curl -s -X POST %s/api/v1/auth/login -H 'Content-Type: application/json' -d '{\"email\":\"%s\",\"password\":\"%s\"}'\n",
				base, res.Orgs[0].Owner.Email, res.Password)
			fmt.Fprintf(out, "  then send Authorization: Bearer <access_token> and X-Organization-Id: %s\n", res.Orgs[0].ID)
		}
		return nil
	})
}
