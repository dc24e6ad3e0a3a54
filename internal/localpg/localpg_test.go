package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startFast starts a Fast cluster in dir (a fresh temp dir when empty) and
// stops it at cleanup, skipping the test on a machine without PostgreSQL.
func startFast(t *testing.T, dir string) *Cluster {
	t.Helper()
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "pgdata")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{DataDir: dir, Fast: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// query runs sql on database db of c and returns the single text result.
func query(t *testing.T, c *Cluster, db, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var out string
	if err := conn.QueryRow(t.Context(), sql).Scan(&out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func TestStartServesCrmDatabaseOnLoopback(t *testing.T) {
	t.Parallel()
	c := startFast(t, "")

	if got := query(t, c, "crm", "SELECT current_database()"); got != "crm" {
		t.Errorf("current_database() = %q, want crm", got)
	}
	for setting, want := range map[string]string{
		"listen_addresses": "127.0.0.1", "max_connections": "200",
		"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
		"unix_socket_directories": c.dir, "server_encoding": "UTF8",
	} {
		if got := query(t, c, "crm", "SHOW "+setting); got != want {
			t.Errorf("SHOW %s = %q, want %q", setting, got, want)
		}
	}
	wantURL := "postgres://postgres@127.0.0.1:" + strconv.Itoa(c.port) + "/other%20db?sslmode=disable"
	if got := c.URL("other db"); got != wantURL {
		t.Errorf("URL = %q, want %q", got, wantURL)
	}
}

func TestDefaultModeIsDurableAndTunedForASmallMachine(t *testing.T) {
	t.Parallel()
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	c, err := Start(t.Context(), Options{DataDir: filepath.Join(t.TempDir(), "pgdata")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for setting, want := range map[string]string{
		"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "wal_level": "replica",
		"shared_buffers": "256MB", "max_wal_size": "1GB", "max_connections": "200", "lc_collate": "C.UTF-8",
	} {
		if got := query(t, c, "crm", "SHOW "+setting); got != want {
			t.Errorf("SHOW %s = %q, want %q", setting, got, want)
		}
	}
}

func TestDataDirBelongsToServerUserWhenRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only meaningful as root")
	}
	c := startFast(t, "")
	st, err := os.Stat(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; uid == 0 || uid != c.runAs.Uid {
		t.Errorf("data dir owned by uid %d, want the %s user (%d)", uid, osUser, c.runAs.Uid)
	}
	if got := query(t, c, "crm", "SELECT current_user"); got != superuser {
		t.Errorf("current_user = %q, want %q", got, superuser)
	}
}

func TestRestartReusesClusterDataAndPort(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pgdata")
	first := startFast(t, dir)
	conn, err := pgx.Connect(t.Context(), first.URL("crm"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(t.Context(), "CREATE TABLE kept AS SELECT 'still here'::text AS v")
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	second := startFast(t, dir)
	if second.port != first.port {
		t.Errorf("port = %d after restart, want the remembered %d", second.port, first.port)
	}
	if got := query(t, second, "crm", "SELECT v FROM kept"); got != "still here" {
		t.Errorf("row after restart = %q", got)
	}
}

// A second process on the same data directory (`crm projections status`
// beside `crm serve`) shares the running server and, stopping, leaves it
// running for its owner.
func TestStartSharesAServerRunningOnTheSameDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pgdata")
	first := startFast(t, dir)

	second := startFast(t, dir)
	if second.port != first.port {
		t.Fatalf("second uses port %d, the running server listens on %d", second.port, first.port)
	}
	if got := query(t, second, "crm", "SELECT 'shared'"); got != "shared" {
		t.Errorf("shared server answered %q", got)
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.proc.Exited():
		t.Fatal("stopping the second user stopped the owner's server")
	case <-time.After(500 * time.Millisecond):
	}
	if got := query(t, first, "crm", "SELECT 'still up'"); got != "still up" {
		t.Errorf("owner's server answered %q", got)
	}
}

func TestStartRemovesStalePidFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pgdata")
	c := startFast(t, dir)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// A live process that is not our postmaster, as after a reboot that
	// handed the old pid to something else.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	stale := strconv.Itoa(sleeper.Process.Pid) + "\n" + dir + "\n0\n5432\n\n\n0 0\nready   \n"
	if err := c.writeFile("postmaster.pid", stale); err != nil {
		t.Fatal(err)
	}

	again := startFast(t, dir)
	if got := query(t, again, "crm", "SELECT 'up'"); got != "up" {
		t.Errorf("server answered %q", got)
	}
}

func TestStartRefusesNonEmptyForeignDir(t *testing.T) {
	t.Parallel()
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), Options{DataDir: dir}); err == nil {
		t.Fatal("Start succeeded on a non-empty directory without PG_VERSION")
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.txt")); err != nil {
		t.Errorf("the directory's content was touched: %v", err)
	}
}

func TestFindBinDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "16", "latest"} {
		makeFakeBinaries(t, filepath.Join(root, v, "bin"), v != "16")
	}
	noPath := func(string) (string, error) { return "", exec.ErrNotFound }
	pattern := filepath.Join(root, "*", "bin")

	// 16 lacks postgres, so the highest complete version is 15 (not 9.6).
	got, err := findBinDir(noPath, pattern)
	if want := filepath.Join(root, "15", "bin"); err != nil || got != want {
		t.Errorf("findBinDir = %q, %v; want %q", got, err, want)
	}

	onPath := func(string) (string, error) { return filepath.Join(root, "latest", "bin", "pg_ctl"), nil }
	if got, _ := findBinDir(onPath, pattern); got != filepath.Join(root, "latest", "bin") {
		t.Errorf("PATH not preferred: got %q", got)
	}

	_, err = findBinDir(noPath, filepath.Join(t.TempDir(), "*", "bin"))
	if !errors.Is(err, ErrBinariesNotFound) {
		t.Fatalf("err = %v, want ErrBinariesNotFound", err)
	}
	const want = "PostgreSQL server binaries not found: install them with `apt-get install postgresql` (or set DATABASE_URL)"
	if err.Error() != want {
		t.Errorf("message = %q", err)
	}
}

// makeFakeBinaries puts executable stand-ins for the server programs in dir.
func makeFakeBinaries(t *testing.T, dir string, withPostgres bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"initdb", "pg_ctl"}
	if withPostgres {
		names = append(names, "postgres")
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartRequiresDataDir(t *testing.T) {
	t.Parallel()
	if _, err := Start(t.Context(), Options{}); err == nil {
		t.Fatal("Start succeeded without a DataDir")
	}
}

// TestMain lets the test binary double as the "owner" process of
// TestServerStopsWhenOwnerDies.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LOCALPG_TEST_OWNER_DIR"); dir != "" {
		runOwner(dir)
		return
	}
	os.Exit(m.Run())
}

// runOwner starts a cluster, reports its pid on stdout and waits to be killed.
func runOwner(dir string) {
	c, err := Start(context.Background(), Options{DataDir: dir, Fast: true})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString(strconv.Itoa(c.proc.Pid) + "\n")
	select {}
}

func TestServerStopsWhenOwnerDies(t *testing.T) {
	t.Parallel()
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	dir := filepath.Join(t.TempDir(), "pgdata")
	owner := exec.Command(os.Args[0], "-test.run=^$")
	owner.Env = append(os.Environ(), "LOCALPG_TEST_OWNER_DIR="+dir)
	out, err := owner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		_ = owner.Process.Kill()
		t.Fatalf("owner did not report a server: %v", err)
	}
	_ = owner.Process.Kill() // SIGKILL: no chance to call Stop
	_ = owner.Wait()

	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGQUIT)
			t.Fatalf("server pid %d outlived its owner", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid still there after shutdown: %v", err)
	}
}

// alive reports whether pid runs (a zombie nobody has reaped yet does not).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestBackendsRunWithTheMallocTunables(t *testing.T) {
	t.Parallel()
	c := startFast(t, "")
	pid := query(t, c, "crm", "SELECT pg_backend_pid()::text")
	environ, err := os.ReadFile("/proc/" + pid + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	// glibc cuts the variable at its first ':' in place as it parses it,
	// so the process shows the first tunable only.
	first, _, _ := strings.Cut(MallocTunables, ":")
	if !slices.ContainsFunc(strings.Split(string(environ), "\x00"), func(kv string) bool {
		return strings.HasPrefix(kv, "GLIBC_TUNABLES="+first)
	}) {
		t.Errorf("backend %s runs without GLIBC_TUNABLES=%s", pid, MallocTunables)
	}
}

func TestCallersOwnGlibcTunablesWin(t *testing.T) {
	t.Setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
	var got []string
	for _, kv := range serverEnv() {
		if strings.HasPrefix(kv, "GLIBC_TUNABLES=") {
			got = append(got, kv)
		}
	}
	if want := []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2"}; !slices.Equal(got, want) {
		t.Errorf("server environment has %q, want %q", got, want)
	}
}

func TestComposeGivesItsPostgreSQLTheSameTunables(t *testing.T) {
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if want := "GLIBC_TUNABLES: " + MallocTunables + "\n"; !strings.Contains(string(compose), want) {
		t.Errorf("docker-compose.yml lacks %q", want)
	}
}
