// Command crmbench is the benchmark program of BENCHMARKS.md (`make bench`,
// `make bench-smoke`): it starts its own durable PostgreSQL in a temporary
// directory, measures the physical limits with pgbench, seeds the W3/W4 data
// set, runs W1–W7 against `crm serve` as a subprocess, prints a table and
// writes docs/benchmarks.md and docs/benchmarks.json.
//
//	crmbench                          full run (scale 1: 100k deals, ≥ 1M events)
//	crmbench -scale 0.2 -duration 5s  a reduced run
//	crmbench -only LIMITS,W1          some phases only
//	crmbench -smoke                   the tiny end-to-end check of make test
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"example.com/crm/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crmbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("crmbench", flag.ContinueOnError)
	scale := fs.Float64("scale", 1, "data set scale (1 = 100k deals, 30k contacts, 200k tasks, ≥ 1M events)")
	dur := fs.Duration("duration", 10*time.Second, "length of each measured phase")
	limitDur := fs.Duration("limit-duration", 10*time.Second, "length of each pgbench run")
	burst := fs.Duration("burst", 10*time.Second, "W1 burst before the W2 drain")
	idle := fs.Duration("idle", 60*time.Second, "W6 idle period")
	w2Rate := fs.Float64("w2-rate", 0, "W2 command rate (default half of W1's best rate; set it to compare builds at the same load)")
	lagPoll := fs.Bool("lag-poll", false, "W2: poll with Consistency: eventual reads every millisecond until the change shows, instead of one read-your-writes read per sample")
	pgScale := fs.Int("pgbench-scale", 10, "pgbench -i -s for the indexed-read limit (10 = 1M rows)")
	only := fs.String("only", "", "comma-separated phases to run: LIMITS,W1,W2,W3,W4,W5,W6,W7 (default all)")
	smoke := fs.Bool("smoke", false, "tiny run: small scale, 1–2 s phases; writes into -out-dir (default a temp dir)")
	outDir := fs.String("out-dir", "", "where benchmarks.md/.json go (default docs/ of the module; a temp dir with -smoke)")
	workDir := fs.String("work-dir", "", "where the cluster and logs go (default a new temp dir, removed afterwards unless -keep)")
	keep := fs.Bool("keep", false, "keep the work dir")
	redisURL := fs.String("redis-url", "", "REDIS_URL for the server (default none)")
	note := fs.String("note", "not stated (say what else ran: crmbench -note \"quiet machine\", or make bench BENCH_FLAGS=-note=...)", "what else ran on the machine (it goes into the report: a figure means little without it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *smoke {
		*scale, *dur, *limitDur, *burst, *idle, *pgScale = 0.001, time.Second, time.Second, time.Second, 2*time.Second, 1
	}
	mod, err := moduleDir()
	if err != nil {
		return err
	}
	wd := *workDir
	if wd == "" {
		if wd, err = os.MkdirTemp("", "crmbench-"); err != nil {
			return err
		}
		if !*keep {
			defer os.RemoveAll(wd)
		}
	}
	od := *outDir
	if od == "" {
		od = filepath.Join(mod, "docs")
		if *smoke {
			od = filepath.Join(wd, "out")
		}
	}
	if err := os.MkdirAll(od, 0o755); err != nil {
		return err
	}
	cfg := bench.Config{
		ModuleDir: mod, WorkDir: wd, Scale: *scale, Duration: *dur, LimitDuration: *limitDur, Burst: *burst, Idle: *idle, W2Rate: *w2Rate, LagPoll: *lagPoll,
		PgbenchScale: *pgScale, RedisURL: *redisURL, MachineNote: *note,
		MDPath: filepath.Join(od, "benchmarks.md"), JSONPath: filepath.Join(od, "benchmarks.json"),
		Out: os.Stdout, Log: os.Stderr, Only: map[string]bool{},
	}
	for _, p := range strings.Split(*only, ",") {
		if p = strings.ToUpper(strings.TrimSpace(p)); p != "" {
			cfg.Only[p] = true
		}
	}
	if _, err := bench.Run(ctx, cfg); err != nil {
		return err
	}
	if *smoke {
		return bench.CheckJSON(cfg.JSONPath)
	}
	return nil
}

// moduleDir finds the directory holding go.mod, from the working directory up.
func moduleDir() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", errors.New("run crmbench from inside the repository (no go.mod found)")
		}
		d = filepath.Dir(d)
	}
}
