package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"example.com/crm/internal/localpg"
)

// limitsDB is the database the pgbench limits run in, apart from the crm
// database so its statistics (W6) stay the server's own.
const limitsDB = "limits"

// postmasterPID reads the server's pid from its data directory.
func postmasterPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
}

// pgTool runs a PostgreSQL client program (pgbench, psql) and returns its
// combined output.
func pgTool(ctx context.Context, name string, args ...string) (string, error) {
	bin, err := localpg.BinDir()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, truncate(string(out), 500))
	}
	return string(out), nil
}

// eventsTableDDL is the events table of migrations/00001_event_store.sql,
// under another name, for the durable-insert limit.
const eventsTableDDL = `
DROP TABLE IF EXISTS limit_events;
CREATE TABLE limit_events (
    position        bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL,
    tenant_id       uuid        NOT NULL,
    stream_type     text        NOT NULL,
    stream_id       uuid        NOT NULL,
    version         integer     NOT NULL CHECK (version >= 1),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL DEFAULT 1,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, position),
    UNIQUE (event_id),
    UNIQUE (tenant_id, stream_id, version)
);
CREATE INDEX ON limit_events (tenant_id, transaction_id, position);`

// insertScript inserts one event row of about 400 bytes per transaction.
func insertScript() string {
	payload := `{"deal_id": "0193a3c4-0000-7000-8000-000000000001", "contact_id": "0193a3c4-0000-7000-8000-000000000002", ` +
		`"owner_id": "0193a3c4-0000-7000-8000-000000000003", "title": "Benchmark deal with a realistic title", ` +
		`"amount": "12345.67", "currency": "USD", "status": "new", "stage": "qualification"}`
	meta := `{"tenant_id": "0193a3c4-0000-7000-8000-000000000004", "actor_id": "0193a3c4-0000-7000-8000-000000000003", "role": "owner"}`
	return "INSERT INTO limit_events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, metadata, occurred_at) " +
		"VALUES (gen_random_uuid(), '0193a3c4-0000-7000-8000-000000000004', 'deal', gen_random_uuid(), 1, 'deal.created', '" +
		payload + "', '" + meta + "', now());\n"
}

var tpsRE = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs pgbench with args for dur and returns its tps.
func pgbench(ctx context.Context, url string, clients int, dur time.Duration, args ...string) (float64, error) {
	a := append([]string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2)),
		"-T", strconv.Itoa(max(1, int(dur.Seconds())))}, args...)
	out, err := pgTool(ctx, "pgbench", append(a, url)...)
	if err != nil {
		return 0, err
	}
	m := tpsRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench: no tps in output: %s", truncate(out, 500))
	}
	return strconv.ParseFloat(m[1], 64)
}

// pgStats is the crm database's commit count and the WAL position.
type pgStats struct {
	commits int64
	walLSN  int64
	at      time.Time
}

func readPGStats(ctx context.Context, conn *pgx.Conn) (pgStats, error) {
	s := pgStats{at: time.Now()}
	err := conn.QueryRow(ctx, `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
		pg_current_wal_lsn() - '0/0'::pg_lsn`).Scan(&s.commits, &s.walLSN)
	return s, err
}

// procCPU returns the CPU seconds (user + system) of pid; with children,
// also those of its reaped children (cutime + cstime).
func procCPU(pid int, children bool) (float64, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // f[0] is field 3 (state)
	ppid, _ := strconv.Atoi(f[1])
	ticks := 0.0
	n := 2
	if children {
		n = 4
	}
	for i := 0; i < n; i++ {
		v, _ := strconv.ParseFloat(f[11+i], 64) // fields 14..17: utime stime cutime cstime
		ticks += v
	}
	return ticks / clockTicks, ppid, nil
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100.0

// clusterCPU returns the CPU seconds of the postmaster, its live children
// and its already exited children (a backend that exits is reaped by the
// postmaster, whose cutime/cstime then carry it; a live one is counted
// directly, so nothing is counted twice).
func clusterCPU(postmaster int) float64 {
	total, _, err := procCPU(postmaster, true)
	if err != nil {
		return 0
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		cpu, ppid, err := procCPU(pid, false)
		if err == nil && ppid == postmaster {
			total += cpu
		}
	}
	return total
}

// vmHWM returns the peak resident set size of pid in MB.
func vmHWM(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
