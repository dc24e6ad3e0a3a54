// Package bench is the benchmark program of BENCHMARKS.md: on its own
// private, durable PostgreSQL it measures the physical limits (pgbench
// durable inserts, indexed reads, a sequential scan of the events) and the
// workloads W1–W7 against the real `crm serve` run as a subprocess, and
// writes the table, docs/benchmarks.md and docs/benchmarks.json.
//
// Load only ever goes to 127.0.0.1, and every loop is bounded in count and
// time. There are no timing assertions anywhere: a shortfall is a row in the
// table, not a failure of the program.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/localpg"
	"example.com/crm/internal/seed"
	"example.com/crm/migrations"
)

// Config sizes one run.
type Config struct {
	ModuleDir string // the repository root (go build ./cmd/crm runs there)
	WorkDir   string // the cluster, the binary and the logs
	Scale     float64
	// Duration of each measured phase (each W1 client count, each W3
	// query, W2 alone and loaded, W5).
	Duration time.Duration
	// LimitDuration of each pgbench run.
	LimitDuration time.Duration
	// Burst is the W1 burst before the W2 drain (10 s in BENCHMARKS.md).
	Burst time.Duration
	// Idle is W6's quiet period (60 s in BENCHMARKS.md).
	Idle time.Duration
	// W2Rate, when set, is W2's command rate instead of half of W1's
	// best (to compare two builds at the same load).
	W2Rate float64
	// LagPoll makes W2 poll with eventual reads until the change shows,
	// instead of one read-your-writes read per sample (the default).
	LagPoll bool
	// PgbenchScale is pgbench -i -s (10 = 1M rows).
	PgbenchScale int
	// Only, when non-empty, selects phases: LIMITS, W1 … W7.
	Only     map[string]bool
	RedisURL string
	// MDPath and JSONPath are where the report goes ("" = not written).
	MDPath, JSONPath string
	// MachineNote says what else ran on the machine.
	MachineNote string
	Out, Log    io.Writer
}

func (c Config) want(phase string) bool { return len(c.Only) == 0 || c.Only[phase] }

type runner struct {
	cfg      Config
	rep      *Report
	cluster  *localpg.Cluster
	dataDir  string
	pmPID    int
	dsn      string
	pool     *pgxpool.Pool
	srv      *Server
	client   *Client
	caps     Capabilities
	actors   []*actor
	data     *seed.Result
	big      *Session // the seeded organization's owner
	limits   map[string]float64
	w1Best   float64
	cpuPerOp map[bool]float64 // projectors on → CPU seconds per command
	deadline time.Time
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Run performs one benchmark run and returns its report (also written to
// cfg.MDPath / cfg.JSONPath when set). A workload that fails is reported
// n/a with its error; Run fails only when the stage itself cannot be set
// up (no PostgreSQL, the server does not build or start).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	r := &runner{cfg: cfg, rep: NewReport(), limits: map[string]float64{}, cpuPerOp: map[bool]float64{}}
	r.rep.Machine = describeMachine(ctx)
	r.rep.Machine.Note = cfg.MachineNote
	r.rep.Settings = fmt.Sprintf("scale %g, %s per phase, pgbench %s at -s %d, burst %s, idle %s",
		cfg.Scale, cfg.Duration, cfg.LimitDuration, cfg.PgbenchScale, cfg.Burst, cfg.Idle)
	defer r.close()
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"LIMITS", r.limitsPhase},
		{"SEED", r.seedPhase},
		{"W1", r.w1},
		{"W2", r.w2},
		{"W3", r.w3},
		{"W5", r.w5},
		{"W4", r.w4},
		{"W7", r.w7},
		{"W6", r.w6},
	}
	for _, p := range phases {
		if p.name == "SEED" {
			if !cfg.want("W3") && !cfg.want("W4") && !cfg.want("W5") && !cfg.want("W2") {
				continue
			}
		} else if !cfg.want(p.name) {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.logf("phase %s", p.name)
		start := time.Now()
		if err := p.fn(ctx); err != nil {
			r.logf("phase %s failed: %v", p.name, err)
			r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("%s: failed: %v", p.name, err))
		}
		if errs := takeErrors(); len(errs) > 0 {
			r.logf("phase %s: first unexpected answers: %s", p.name, strings.Join(errs[:min(len(errs), 5)], " | "))
			r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("%s: unexpected answers, e.g. %s", p.name, truncate(errs[0], 200)))
		}
		r.srv.SampleRSS()
		r.logf("phase %s done in %s", p.name, time.Since(start).Round(100*time.Millisecond))
	}
	r.buildRows()
	if cfg.Out != nil {
		fmt.Fprintln(cfg.Out)
		r.rep.Table(cfg.Out)
	}
	if cfg.MDPath != "" {
		if err := r.rep.WriteFiles(cfg.MDPath, cfg.JSONPath); err != nil {
			return r.rep, err
		}
		r.logf("wrote %s and %s", cfg.MDPath, cfg.JSONPath)
	}
	return r.rep, nil
}

func (r *runner) setUp(ctx context.Context) error {
	r.dataDir = filepath.Join(r.cfg.WorkDir, "pg")
	r.logf("starting a private durable PostgreSQL (fsync on) in %s", r.dataDir)
	c, err := localpg.Start(ctx, localpg.Options{DataDir: r.dataDir})
	if err != nil {
		return err
	}
	r.cluster = c
	if r.pmPID, err = postmasterPID(r.dataDir); err != nil {
		return err
	}
	r.dsn = c.URL(localpg.DefaultDatabase)
	if _, err := migrations.Up(ctx, r.dsn); err != nil {
		return err
	}
	pcfg, err := pgxpool.ParseConfig(r.dsn)
	if err != nil {
		return err
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = "crmbench" // not the API's (cpuMark)
	if r.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return err
	}
	var pgv string
	if err := r.pool.QueryRow(ctx, "SHOW server_version").Scan(&pgv); err == nil {
		r.rep.Machine.Postgres = pgv
	}
	r.logf("building cmd/crm")
	bin, err := buildCRM(ctx, r.cfg.ModuleDir, r.cfg.WorkDir)
	if err != nil {
		return err
	}
	r.caps = detectCapabilities(ctx, bin)
	r.logf("crm capabilities: serve --projectors=false %v, projections rebuild %v, projections verify %v",
		r.caps.NoProjectors, r.caps.Rebuild, r.caps.Verify)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	r.srv = &Server{Bin: bin, DSN: r.dsn, Addr: addr, LogPath: filepath.Join(r.cfg.WorkDir, "crm.log"), Redis: r.cfg.RedisURL}
	r.client = newClient("http://" + addr)
	if !r.cfg.want("LIMITS") || len(r.cfg.Only) > 0 {
		// the server is started by the first phase that needs it
	}
	return nil
}

// ensureServer starts the server (all projectors) if it is not running.
func (r *runner) ensureServer(ctx context.Context) error {
	if r.srv.Pid() != 0 {
		return nil
	}
	d, err := r.srv.Start(ctx)
	if err == nil {
		r.logf("crm serve ready in %s (pid %d, log %s)", d.Round(time.Millisecond), r.srv.Pid(), r.srv.LogPath)
	}
	return err
}

func (r *runner) close() {
	if r.srv != nil {
		_ = r.srv.Stop()
	}
	if r.pool != nil {
		r.pool.Close()
	}
	if r.cluster != nil {
		_ = r.cluster.Stop()
	}
}

// describeMachine reads nproc, the CPU model and the Go version.
func describeMachine(ctx context.Context) Machine {
	m := Machine{NProc: runtime.NumCPU(), CPU: "unknown", Go: runtime.Version(), Postgres: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				m.CPU = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 3 {
			m.Go = f[2]
		}
	}
	return m
}

// limitsPhase measures the physical limits with pgbench on a separate
// database of the same cluster, before the server runs.
func (r *runner) limitsPhase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, r.cluster.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+limitsDB)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+limitsDB); err != nil {
		return err
	}
	url := r.cluster.URL(limitsDB)
	lconn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer lconn.Close(ctx)
	if _, err := lconn.Exec(ctx, eventsTableDDL); err != nil {
		return err
	}
	script := filepath.Join(r.cfg.WorkDir, "insert.sql")
	if err := os.WriteFile(script, []byte(insertScript()), 0o644); err != nil {
		return err
	}
	for _, c := range []int{1, 8, 32} {
		tps, err := pgbench(ctx, url, c, r.cfg.LimitDuration, "-f", script)
		if err != nil {
			return err
		}
		r.limits[fmt.Sprintf("insert_%d", c)] = tps
		r.logf("  limit: durable single-row inserts at %d clients: %.0f tps", c, tps)
	}
	r.logf("  pgbench -i -s %d (indexed-read table)", r.cfg.PgbenchScale)
	if _, err := pgTool(ctx, "pgbench", "-i", "-q", "-s", fmt.Sprint(r.cfg.PgbenchScale), url); err != nil {
		return err
	}
	for _, c := range []int{1, 8} {
		tps, err := pgbench(ctx, url, c, r.cfg.LimitDuration, "-S")
		if err != nil {
			return err
		}
		r.limits[fmt.Sprintf("read_%d", c)] = tps
		r.logf("  limit: indexed single-row reads at %d clients: %.0f tps", c, tps)
	}
	return nil
}

// seqReadLimit measures COPY (SELECT payload FROM events) TO '/dev/null'.
func (r *runner) seqReadLimit(ctx context.Context) {
	var n int64
	if err := r.pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n == 0 {
		return
	}
	best := time.Duration(0)
	for range 2 {
		t := time.Now()
		if _, err := r.pool.Exec(ctx, "COPY (SELECT payload FROM events) TO '/dev/null'"); err != nil {
			r.logf("  sequential read: %v", err)
			return
		}
		if d := time.Since(t); best == 0 || d < best {
			best = d
		}
	}
	r.limits["seq_read"] = float64(n) / best.Seconds()
	r.limits["events_total"] = float64(n)
	r.logf("  limit: sequential event read %.0f events/s (%d events in %s)", r.limits["seq_read"], n, best.Round(time.Millisecond))
}

// vacuum settles a load as pgbench -i does: VACUUM (ANALYZE) of every
// table, one at a time with a line for each slow one, so that the
// workloads measure the system and not autovacuum catching up with a
// million fresh rows meanwhile (a W4 rebuild right after the seed took
// 28 s; the same rebuild again, 17 s). after says what was loaded.
func (r *runner) vacuum(ctx context.Context, after string) error {
	rows, err := r.pool.Query(ctx, `SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY pg_relation_size(c.oid) DESC`)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	start := time.Now()
	for i, t := range tables {
		began := time.Now()
		if _, err := r.pool.Exec(ctx, "VACUUM (ANALYZE) "+t); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
		if d := time.Since(began); d > time.Second {
			r.logf("  vacuum: %s in %s (%d/%d tables)", t, d.Round(100*time.Millisecond), i+1, len(tables))
		}
	}
	r.logf("  vacuum: %d tables in %s (VACUUM (ANALYZE) after %s, as pgbench -i does)", len(tables), time.Since(start).Round(100*time.Millisecond), after)
	return nil
}

// seedPhase loads the W3/W4 data set and waits for the projectors.
func (r *runner) seedPhase(ctx context.Context) error {
	if err := r.ensureServer(ctx); err != nil {
		return err
	}
	o := seed.Scaled(r.cfg.Scale)
	last := time.Time{}
	o.Progress = func(p seed.Progress) {
		if p.Phase != "events" {
			return
		}
		if time.Since(last) < 3*time.Second && p.Done < p.Total {
			return
		}
		last = time.Now()
		rate := float64(p.Done) / p.Elapsed.Seconds()
		eta := time.Duration(float64(p.Total-p.Done) / max(rate, 1) * float64(time.Second)).Round(time.Second)
		r.logf("  seed: %d/%d events, %.0f events/s, ETA %s", p.Done, p.Total, rate, eta)
	}
	saved := filepath.Join(r.cfg.WorkDir, seedFileName)
	res, reused, err := r.seededBefore(ctx, saved)
	if err != nil {
		return err
	}
	if reused {
		r.logf("  seed: using the data set a previous run seeded in this work dir (%d events; delete %s to seed afresh)", res.Events, saved)
		r.rep.Notes = append(r.rep.Notes, "SEED: the data set of a previous run in the same -work-dir, not a fresh one")
	} else {
		r.logf("  seed: %d contacts, %d deals, %d tasks, ≥ %d events, a %d-event deal, a second org at 1/%d",
			o.Contacts, o.Deals, o.Tasks, o.MinEvents, o.BigDealEvents, o.SmallOrgDivisor)
		t := time.Now()
		if res, err = seed.Run(ctx, r.pool, o); err != nil {
			return err
		}
		r.rep.Extra["seed_s"] = time.Since(t).Seconds()
		r.logf("  seed: loaded %d events in %s; waiting for the projectors", res.Events, time.Since(t).Round(time.Second))
		if err := saveSeed(saved, r.cfg.Scale, res); err != nil {
			return err
		}
	}
	r.data = &res
	r.rep.Extra["seed_events"] = res.Events
	d, err := r.srv.waitProjections(ctx, 60*time.Minute, r.backlogs, r.logf)
	if err != nil {
		return err
	}
	if !reused {
		r.rep.Extra["seed_projection_s"] = d.Seconds()
		r.rep.Extra["seed_projection_events_per_s"] = float64(res.Events) / d.Seconds()
		r.logf("  projectors caught up in %s (%.0f events/s through the live pipeline)", d.Round(time.Second), float64(res.Events)/d.Seconds())
	}
	began := time.Now()
	if err := r.vacuum(ctx, "the load"); err != nil {
		return err
	}
	r.rep.Extra["seed_vacuum_s"] = time.Since(began).Seconds()
	r.seqReadLimit(ctx)
	r.big, err = r.client.login(ctx, res.Main.Owner.Email, res.Password, res.Main.ID.String())
	return err
}

// seededBefore returns the data set a previous run seeded into this
// database at this scale (saved beside the cluster), if its main
// organization is still there.
func (r *runner) seededBefore(ctx context.Context, saved string) (seed.Result, bool, error) {
	res, found, err := loadSeed(saved, r.cfg.Scale)
	if err != nil || !found {
		return res, false, err
	}
	var there bool
	if err := r.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)`, res.Main.ID).Scan(&there); err != nil {
		return res, false, err
	}
	return res, there, nil
}

// buildRows lays the figures out beside their limits.
func (r *runner) buildRows() {
	f := r.rep.Figures
	lim := func(key, unit string) string {
		v, ok := r.limits[key]
		if !ok {
			return "n/a"
		}
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	extra := func(key string) *float64 {
		if v, ok := r.rep.Extra[key].(float64); ok {
			return &v
		}
		return nil
	}
	rows := []Row{}
	for _, c := range []int{1, 8, 32} {
		rows = append(rows, Row{Workload: "W1", Figure: fmt.Sprintf("commands/s at %d", c), Value: extra(fmt.Sprintf("w1_rate_%d", c)), Unit: "/s",
			Limit: lim(fmt.Sprintf("insert_%d", c), "tps durable inserts")})
		rows = append(rows, Row{Workload: "W1", Figure: fmt.Sprintf("p50 / p99 at %d", c), Value: extra(fmt.Sprintf("w1_p99_ms_%d", c)), Unit: "ms (p99)",
			Note: fmt.Sprintf("p50 %s", fmtValue(extra(fmt.Sprintf("w1_p50_ms_%d", c)), "ms"))})
	}
	rows = append(rows,
		Row{Workload: "W1", Figure: "ratio at 32", Key: "w1_ratio_32", Value: f["w1_ratio_32"], Limit: lim("insert_32", "tps")},
		Row{Workload: "W1", Figure: "p99 at 8", Key: "w1_p99_ms_8", Value: f["w1_p99_ms_8"], Unit: "ms"},
		Row{Workload: "W1", Figure: "CPU per command, projectors on / off", Key: "w1_cpu_ratio", Value: f["w1_cpu_ratio"],
			Note: fmt.Sprintf("on %s and %s (before and after), off %s; the projectors' own PostgreSQL backends %s", fmtValue(extra("w1_cpu_ms_per_cmd"), "ms"),
				fmtValue(extra("w1_cpu_ms_per_cmd_after"), "ms"), fmtValue(extra("w1_cpu_ms_per_cmd_noproj"), "ms"),
				fmtValue(extra("w1_cpu_ms_per_cmd_projector_backends"), "ms")) + r.walNote() + r.na("w1_cpu_ratio")},
		Row{Workload: "W2", Figure: "lag p50 (deal read model)", Key: "w2_p50_ms", Value: f["w2_p50_ms"], Unit: "ms", Note: r.na("w2_p50_ms")},
		Row{Workload: "W2", Figure: "lag p99 (deal read model)", Key: "w2_p99_ms", Value: f["w2_p99_ms"], Unit: "ms",
			Note: fmt.Sprintf("analytics p50 %s / p99 %s", fmtValue(extra("w2_analytics_p50_ms"), "ms"), fmtValue(extra("w2_analytics_p99_ms"), "ms")) + r.floor("w2") + r.busy("w2")},
		Row{Workload: "W2", Figure: "lag p50 / p99 alone at half the W2 rate (no bar: how the lag follows the load)", Value: extra("w2_quarter_p99_ms"), Unit: "ms (p99)",
			Note: fmt.Sprintf("at %s commands/s: p50 %s", fmtValue(extra("w2_quarter_rate"), ""), fmtValue(extra("w2_quarter_p50_ms"), "ms")) + r.floor("w2_quarter") + r.busy("w2_quarter")},
		Row{Workload: "W2", Figure: "lag p99 under the W3 mix", Key: "w2_loaded_p99_ms", Value: f["w2_loaded_p99_ms"], Unit: "ms",
			Note: fmt.Sprintf("p50 %s; analytics p99 %s", fmtValue(extra("w2_loaded_p50_ms"), "ms"), fmtValue(extra("w2_loaded_analytics_p99_ms"), "ms")) + r.floor("w2_loaded") + r.busy("w2_loaded")},
		Row{Workload: "W2", Figure: "503s seen", Key: "w2_503", Value: f["w2_503"]},
		Row{Workload: "W2", Figure: "drain after a 32-client burst", Key: "w2_drain_ms", Value: f["w2_drain_ms"], Unit: "ms", Note: r.na("w2_drain_ms")},
	)
	for _, q := range w3Queries {
		rows = append(rows, Row{Workload: "W3", Figure: q.name + " p99", Value: extra("w3_" + q.key + "_p99_ms"), Unit: "ms",
			Note: fmt.Sprintf("%s req/s, p50 %s; GET /health meanwhile p50 %s, p99 %s", fmtValue(extra("w3_"+q.key+"_rate"), ""), fmtValue(extra("w3_"+q.key+"_p50_ms"), "ms"),
				fmtValue(extra("w3_"+q.key+"_http_floor_p50_ms"), "ms"), fmtValue(extra("w3_"+q.key+"_http_floor_p99_ms"), "ms"))})
	}
	rows = append(rows,
		Row{Workload: "W3", Figure: "worst query p99", Key: "w3_p99_ms_max", Value: f["w3_p99_ms_max"], Unit: "ms", Note: r.na("w3_p99_ms_max")},
		Row{Workload: "W3", Figure: "GET /deals rate / indexed reads at 8", Key: "w3_deals_ratio_8", Value: f["w3_deals_ratio_8"], Limit: lim("read_8", "tps indexed reads")},
		Row{Workload: "W3", Figure: "analytics p99 (worst of summary, funnel)", Key: "w3_analytics_p99_ms", Value: f["w3_analytics_p99_ms"], Unit: "ms"},
		Row{Workload: "W4", Figure: "rebuild events/s", Key: "w4_events_per_s", Value: f["w4_events_per_s"], Unit: "/s", Limit: lim("seq_read", "events/s sequential read"), Note: r.na("w4_events_per_s")},
		Row{Workload: "W4", Figure: "rebuild / sequential read", Key: "w4_ratio", Value: f["w4_ratio"], Note: r.na("w4_ratio")},
		Row{Workload: "W5", Figure: "GET /deals/{id}?version=1000 p99", Key: "w5_p99_ms", Value: f["w5_p99_ms"], Unit: "ms",
			Note: fmt.Sprintf("p50 %s", fmtValue(extra("w5_p50_ms"), "ms"))},
		Row{Workload: "W6", Figure: "idle commits/s", Key: "w6_commits_per_s", Value: f["w6_commits_per_s"], Unit: "/s",
			Note: fmt.Sprintf("WAL %s", fmtValue(extra("w6_wal_bytes_per_s"), "B/s"))},
		Row{Workload: "W7", Figure: "peak RSS during W1–W4", Key: "w7_rss_mb", Value: f["w7_rss_mb"], Unit: "MB"},
		Row{Workload: "W7", Figure: "start to /ready (existing DB)", Key: "w7_ready_s", Value: f["w7_ready_s"], Unit: "s"},
	)
	r.rep.Rows = rows
	lims := map[string]float64{}
	for k, v := range r.limits {
		lims[k] = v
	}
	r.rep.Extra["limits"] = lims
}

// na returns the reason a figure was not measured, if it was not.
func (r *runner) na(key string) string {
	if r.rep.Figures[key] != nil {
		return ""
	}
	if why, ok := r.rep.Extra["na_"+key].(string); ok {
		return " n/a: " + why
	}
	return ""
}

// busy says how busy the machine was during the phase recorded under
// key (machineDuring), if it was recorded.
// floor says the floors W2 sampled beside its lag (see lagProbe): the
// time an eventual read, and GET /health, took under the same load.
func (r *runner) floor(key string) string {
	v := func(k string) (float64, bool) { x, ok := r.rep.Extra[key+k].(float64); return x, ok }
	rp50, ok1 := v("_floor_p50_ms")
	rp99, ok2 := v("_floor_p99_ms")
	hp50, ok3 := v("_http_floor_p50_ms")
	hp99, ok4 := v("_http_floor_p99_ms")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return ""
	}
	return fmt.Sprintf("; meanwhile an eventual read p50 %s, p99 %s, GET /health p50 %s, p99 %s",
		fmtValue(&rp50, "ms"), fmtValue(&rp99, "ms"), fmtValue(&hp50, "ms"), fmtValue(&hp99, "ms"))
}

func (r *runner) busy(key string) string {
	b, ok1 := r.rep.Extra[key+"_machine_busy_cores"].(float64)
	self, ok2 := r.rep.Extra[key+"_crmbench_cores"].(float64)
	cores, ok3 := r.rep.Extra["machine_cores"].(int)
	if !ok1 || !ok2 || !ok3 || cores == 0 {
		return ""
	}
	return "; " + machineLoad{busy: b, self: self, cores: cores}.String()
}

// walNote compares the WAL a command wrote with and without projectors
// (the work they cost the database, which the host's speed does not
// move), if both were measured.
func (r *runner) walNote() string {
	with, ok1 := r.rep.Extra["w1_wal_bytes_per_cmd"].(float64)
	without, ok2 := r.rep.Extra["w1_wal_noproj_bytes_per_cmd"].(float64)
	rw, ok3 := r.rep.Extra["w1_wal_records_per_cmd"].(float64)
	rwo, ok4 := r.rep.Extra["w1_wal_noproj_records_per_cmd"].(float64)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return ""
	}
	return fmt.Sprintf("; WAL a command %.0f bytes in %.1f records on, %.0f in %.1f off", with, rw, without, rwo)
}
