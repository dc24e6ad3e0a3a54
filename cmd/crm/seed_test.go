package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/app"
	"example.com/crm/internal/testenv"
)

// `crm seed --orgs 2 --deals 30` creates two organizations, each with a
// user per role, and the deals asked for with stage histories (skips,
// rollbacks, won and lost, more than one currency), tasks and comments;
// it prints every user and the password, and draws a progress bar.
func TestSeedCommandCreatesOrgsUsersAndDeals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	var out, progress bytes.Buffer
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := seedCommand(ctx, app.Config{DatabaseURL: dsn, HTTPAddr: ":8000"}, log,
		[]string{"--orgs", "2", "--deals", "30", "--password", "seed-command-test"}, &out, &progress)
	if err != nil {
		t.Fatalf("crm seed: %v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "password of every seeded user: seed-command-test") {
		t.Errorf("the password is not printed:\n%s", text)
	}
	for _, role := range []string{"owner", "admin", "manager", "member"} {
		if n := len(regexp.MustCompile(`(?m)^  `+role+`: +\S+@`).FindAllString(text, -1)); n != 2 {
			t.Errorf("%d %s users printed, want 2:\n%s", n, role, text)
		}
	}
	if !strings.Contains(text, "curl -s -X POST http://127.0.0.1:8000/api/v1/auth/login") || !strings.Contains(text, "X-Organization-Id: ") {
		t.Errorf("no login hint:\n%s", text)
	}
	if !strings.Contains(progress.String(), "events") || !strings.Contains(progress.String(), "[") {
		t.Errorf("no progress bar drawn: %q", progress.String())
	}

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	orgs := regexp.MustCompile(`(?m)^organization (\S+): \d+ contacts, 30 deals`).FindAllStringSubmatch(text, -1)
	if len(orgs) != 2 {
		t.Fatalf("want 2 organizations with 30 deals printed:\n%s", text)
	}
	for _, m := range orgs {
		org := m[1]
		var roles []string
		if err := pool.QueryRow(ctx, `SELECT array_agg(role::text ORDER BY role::text) FROM memberships WHERE org_id = $1`, org).Scan(&roles); err != nil {
			t.Fatal(err)
		}
		if strings.Join(roles, ",") != "admin,manager,member,owner" {
			t.Errorf("org %s members %v, want one per role", org, roles)
		}
		count := func(q string) int {
			t.Helper()
			var n int
			if err := pool.QueryRow(ctx, q, org).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}
		checks := []struct {
			what, q string
			min     int
		}{
			{"deals", `SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'deal.created'`, 30},
			{"won deals", `SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'deal.status_changed' AND payload->>'new' = 'won'`, 1},
			{"lost deals", `SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'deal.status_changed' AND payload->>'new' = 'lost'`, 1},
			{"stage rollbacks", `SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'deal.stage_changed'
				AND array_position(ARRAY['qualification','proposal','negotiation','closed'], payload->>'new')
				  < array_position(ARRAY['qualification','proposal','negotiation','closed'], payload->>'old')`, 1},
			{"stage skips", `SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'deal.stage_changed'
				AND array_position(ARRAY['qualification','proposal','negotiation','closed'], payload->>'new')
				  > array_position(ARRAY['qualification','proposal','negotiation','closed'], payload->>'old') + 1`, 1},
			{"currencies", `SELECT count(DISTINCT payload->>'currency') FROM events WHERE tenant_id = $1 AND event_type = 'deal.created'`, 2},
			{"tasks", `SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'task.created'`, 60},
			{"comments", `SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'deal.commented'`, 30},
		}
		for _, c := range checks {
			if n := count(c.q); n < c.min {
				t.Errorf("org %s: %d %s, want at least %d", org, n, c.what, c.min)
			}
		}
	}
}

func TestSeedOptions(t *testing.T) {
	t.Parallel()
	o, err := seedOptions([]string{"-scale", "0.5"})
	if err != nil || o.Deals != 50_000 || o.Orgs != 0 || o.SmallOrgDivisor != 10 {
		t.Errorf("-scale 0.5: %+v, %v", o, err)
	}
	o, err = seedOptions([]string{"--orgs", "3", "--deals", "1000"})
	if err != nil || o.Orgs != 3 || o.Deals != 1000 || o.Contacts != 333 || o.Tasks != 2000 || o.Comments != 1000 || o.MinEvents != 0 {
		t.Errorf("--orgs 3 --deals 1000: %+v, %v", o, err)
	}
	if _, err := seedOptions([]string{"--orgs", "0"}); err == nil {
		t.Error("--orgs 0: want an error")
	}
}
