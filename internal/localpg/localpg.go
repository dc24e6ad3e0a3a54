// Package localpg runs a private PostgreSQL server from the PostgreSQL
// binaries installed on the machine, so that `crm serve` (with no
// DATABASE_URL) and the integration tests (with no Docker engine) get a
// real database on a fresh Debian machine without touching any system-wide
// cluster.
//
// The server listens on 127.0.0.1 only, with trust authentication, and keeps
// its unix socket in its own data directory, so it never clashes with a
// server installed by the distribution. It runs as a child process of the
// caller in its own process group: Ctrl-C in a terminal reaches the caller
// only (which then calls Stop), and if the caller dies without calling Stop
// the kernel sends the server SIGINT, PostgreSQL's fast shutdown.
//
// PostgreSQL refuses to run as root. When the caller is root, initdb and the
// server run as the `postgres` system user (created if missing), the data
// directory belongs to that user and every directory above it is made
// traversable by it.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"example.com/crm/internal/child"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrBinariesNotFound is returned by BinDir, and so by Start, when no
// directory holds initdb, pg_ctl and postgres. It is one sentence a person
// can act on, because it is what `crm serve` prints on a machine without
// PostgreSQL.
var ErrBinariesNotFound = errors.New("PostgreSQL server binaries not found: install them with `apt-get install postgresql` (or set DATABASE_URL)")

const (
	// superuser is the role initdb creates; URL connects as it. It is the
	// same on every machine (not the OS user's name) so URLs are predictable.
	superuser = "postgres"
	// DefaultDatabase is created by Start, so URL(DefaultDatabase) works
	// right after it; other databases are created through it.
	DefaultDatabase = "crm"
	// portFileName, inside the data directory, remembers the port of the
	// last run so that a restart keeps the same URL when the port is free.
	portFileName = "localpg.port"
	// logFileName, inside the data directory, receives the server's output.
	logFileName = "localpg.log"
	// osUser is the system account the server runs as when the caller is root.
	osUser = "postgres"
	// startTimeout bounds start-up, crash recovery of a reused cluster included.
	startTimeout = 2 * time.Minute
	// stopTimeout bounds a fast shutdown before the server is killed.
	stopTimeout = 60 * time.Second
	// maxSocketPath keeps the unix socket path under the kernel's 108-byte
	// limit (the lock file name is the longest: ".s.PGSQL.65535.lock").
	maxSocketPath = 100
)

// Options configures Start. The zero value is not valid: DataDir is required.
type Options struct {
	DataDir string                           // created with initdb if empty/missing; reused if it already holds a cluster
	Port    int                              // 0 = pick a free TCP port on 127.0.0.1 (the last run's port when still free)
	Fast    bool                             // fsync=off, synchronous_commit=off, full_page_writes=off (tests only)
	Logf    func(format string, args ...any) // progress lines; nil = silent
}

// Cluster is a running private PostgreSQL server. Stop it when done.
type Cluster struct {
	bin   string              // directory holding initdb, pg_ctl and postgres
	dir   string              // absolute data directory
	port  int                 // TCP port on 127.0.0.1
	runAs *syscall.Credential // postgres user when the caller is root; nil otherwise
	logf  func(format string, args ...any)

	attached bool           // the server was started by another process: never stopped here
	proc     *child.Process // nil when attached
	stopOnce sync.Once
	stopErr  error
}

// Start runs a PostgreSQL server on o.DataDir (creating the cluster if the
// directory is missing or empty), waits until it accepts connections and
// makes sure the DefaultDatabase exists. ctx bounds start-up only: the
// server runs until Stop (or the caller's death).
//
// A server already running on the data directory belongs to a live
// process (the server dies with the process that started it): it is
// shared, not stopped — `crm projections status` or `crm migrate` run
// beside `crm serve` use the server's PostgreSQL, and their Stop leaves
// it running.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	c, err := newCluster(o)
	if err != nil {
		return nil, fmt.Errorf("localpg.Start: %w", err)
	}
	if ok, err := c.attach(ctx); err != nil || ok {
		if err != nil {
			return nil, fmt.Errorf("localpg.Start(%q): %w", c.dir, err)
		}
		c.logf("localpg: using the PostgreSQL already running at %s (data %s)", c.URL(DefaultDatabase), c.dir)
		return c, nil
	}
	if err := c.prepare(ctx, o.Fast); err != nil {
		return nil, fmt.Errorf("localpg.Start(%q): %w", c.dir, err)
	}
	if err := c.launchOnFreePort(ctx, o.Port, o.Fast); err != nil {
		return nil, fmt.Errorf("localpg.Start(%q): %w", c.dir, err)
	}
	if err := c.createDatabase(ctx, DefaultDatabase); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("localpg.Start(%q): %w", c.dir, err)
	}
	c.logf("localpg: PostgreSQL ready at %s (data %s)", c.URL(DefaultDatabase), c.dir)
	return c, nil
}

// URL returns the connection URL of database on this server:
// postgres://postgres@127.0.0.1:PORT/DATABASE?sslmode=disable.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.port, url.PathEscape(database))
}

// Stop shuts the server down with `pg_ctl stop -m fast` (open sessions are
// disconnected, data is checkpointed) and waits for it to exit. It is safe
// to call more than once; later calls return the first call's result. A
// server this process attached to (started by another) is left running.
func (c *Cluster) Stop() error {
	if c.attached {
		return nil
	}
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

// Attached reports whether this server was started by another process
// (and so is left running by Stop).
func (c *Cluster) Attached() bool { return c.attached }

// attach reports whether a live server of this data directory answers;
// c then uses it (its port comes from postmaster.pid's fourth line).
func (c *Cluster) attach(ctx context.Context) (bool, error) {
	lines := readLines(filepath.Join(c.dir, "postmaster.pid"))
	pid, ok := readPID(filepath.Join(c.dir, "postmaster.pid"))
	if !ok || len(lines) < 4 || !c.isOurPostmaster(pid) {
		return false, nil
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil || port <= 0 {
		return false, nil
	}
	c.port = port
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for !c.ready() {
		select {
		case <-wctx.Done():
			return false, fmt.Errorf("a server (pid %d) runs on this data directory but does not answer on port %d", pid, port)
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.attached = true
	return true, c.createDatabase(ctx, DefaultDatabase)
}

// BinDir returns the directory holding initdb, pg_ctl and postgres: the one
// of pg_ctl on PATH, else the highest version under /usr/lib/postgresql
// (where Debian installs them, off PATH). It returns ErrBinariesNotFound
// when there is none.
func BinDir() (string, error) {
	return findBinDir(exec.LookPath, "/usr/lib/postgresql/*/bin")
}

// findBinDir is BinDir with its two sources injectable for tests.
func findBinDir(lookPath func(string) (string, error), pattern string) (string, error) {
	if p, err := lookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && hasServerBinaries(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if hasServerBinaries(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob(pattern)
	slices.SortFunc(dirs, func(a, b string) int { return slices.Compare(versionOf(b), versionOf(a)) }) // highest first; unparsable last
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	return "", ErrBinariesNotFound
}

// hasServerBinaries reports whether dir holds every program localpg runs.
func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionOf extracts [15] from /usr/lib/postgresql/15/bin (and [9 6] from
// .../9.6/bin), so versions compare numerically; nil if it is no version.
func versionOf(binDir string) []int {
	var v []int
	for _, part := range strings.Split(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

// newCluster resolves the binaries, the data directory and the OS user.
func newCluster(o Options) (*Cluster, error) {
	if o.DataDir == "" {
		return nil, errors.New("Options.DataDir is required")
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	runAs, err := serverCredential()
	if err != nil {
		return nil, err
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Cluster{bin: bin, dir: dir, runAs: runAs, logf: logf}, nil
}

// serverCredential returns the identity the server must run as: nil (the
// caller's own) unless the caller is root, in which case the `postgres`
// system user, created if missing.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(osUser)
	if errors.As(err, new(user.UnknownUserError)) {
		if err := createSystemUser(); err != nil {
			return nil, err
		}
		u, err = user.Lookup(osUser)
	}
	if err != nil {
		return nil, fmt.Errorf("look up user %q: %w", osUser, err)
	}
	return credentialOf(u)
}

// createSystemUser adds the `postgres` system account, as the Debian
// package would, for a root caller on a machine without one.
func createSystemUser() error {
	args := []string{"--system", "--home-dir", "/var/lib/postgresql", "--no-create-home", "--shell", "/usr/sbin/nologin"}
	if _, err := user.LookupGroup(osUser); err == nil {
		args = append(args, "--gid", osUser)
	} else {
		args = append(args, "--user-group")
	}
	out, err := exec.Command("useradd", append(args, osUser)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("useradd %s: %w: %s", osUser, err, bytes.TrimSpace(out))
	}
	return nil
}

// credentialOf turns a user entry into the credential the child processes
// switch to, supplementary groups included.
func credentialOf(u *user.User) (*syscall.Credential, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	ids, _ := u.GroupIds()
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil {
			cred.Groups = append(cred.Groups, uint32(g))
		}
	}
	return cred, nil
}

// prepare leaves c.dir holding a cluster that the server user owns and no
// running server.
func (c *Cluster) prepare(ctx context.Context, fast bool) error {
	if err := os.MkdirAll(filepath.Dir(c.dir), 0o755); err != nil {
		return err
	}
	if c.runAs != nil {
		if err := c.makeTraversable(filepath.Dir(c.dir)); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(c.dir, "PG_VERSION")); err == nil {
		if err := c.ownTree(); err != nil {
			return err
		}
		return c.stopLeftover(ctx)
	}
	return c.initdb(ctx, fast)
}

// makeTraversable adds the "others may search" bit to every directory from
// dir up to / that the server user could not otherwise enter: PostgreSQL
// needs to reach its data directory (t.TempDir and /root are 0700).
func (c *Cluster) makeTraversable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if !c.canSearch(st) {
			c.logf("localpg: chmod o+x %s so the %s user can reach its data directory", d, osUser)
			if err := os.Chmod(d, st.Mode().Perm()|0o001); err != nil {
				return err
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// canSearch reports whether the server user may enter the directory st.
func (c *Cluster) canSearch(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := st.Mode().Perm()
	switch {
	case sys.Uid == c.runAs.Uid:
		return perm&0o100 != 0
	case sys.Gid == c.runAs.Gid || slices.Contains(c.runAs.Groups, sys.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// ownTree hands an existing data directory to the server user if someone
// else owns it (for example after a run as another user).
func (c *Cluster) ownTree() error {
	if c.runAs == nil {
		return nil
	}
	st, err := os.Stat(c.dir)
	if err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == c.runAs.Uid {
		return nil
	}
	c.logf("localpg: giving %s to the %s user", c.dir, osUser)
	return filepath.WalkDir(c.dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(c.runAs.Uid), int(c.runAs.Gid))
	})
}

// initdb creates a new cluster in c.dir, which must be missing or empty.
func (c *Cluster) initdb(ctx context.Context, fast bool) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	if entries, err := os.ReadDir(c.dir); err != nil {
		return err
	} else if len(entries) > 0 {
		return fmt.Errorf("%s is neither empty nor a PostgreSQL data directory (no PG_VERSION); refusing to initdb over it", c.dir)
	}
	if err := c.chown(c.dir); err != nil {
		return err
	}
	c.logf("localpg: creating a PostgreSQL cluster in %s", c.dir)
	args := []string{"-D", c.dir, "-U", superuser, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"}
	if fast {
		args = append(args, "--no-sync")
	}
	if err := c.run(ctx, "initdb", args...); err != nil {
		return err
	}
	return c.writeFile("pg_hba.conf", hbaConf)
}

// hbaConf trusts local connections only: the unix socket lives in the data
// directory (mode 0700) and TCP listens on 127.0.0.1.
const hbaConf = `# Written by localpg: a private development/test server.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
`

// stopLeftover deals with a postmaster.pid left in a reused data directory:
// a live server on this directory (from a crashed earlier run) is stopped,
// and a file naming some other process is removed as stale.
func (c *Cluster) stopLeftover(ctx context.Context) error {
	pidFile := filepath.Join(c.dir, "postmaster.pid")
	pid, ok := readPID(pidFile)
	if !ok {
		return nil
	}
	if !c.isOurPostmaster(pid) {
		c.logf("localpg: removing stale %s (pid %d is not our server)", pidFile, pid)
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	c.logf("localpg: stopping a server (pid %d) left running on %s by an earlier run", pid, c.dir)
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	return c.run(ctx, "pg_ctl", "stop", "-D", c.dir, "-m", "fast", "-w", "-t", strconv.Itoa(int(stopTimeout/time.Second)))
}

// readPID returns the process id on the first line of a postmaster.pid.
func readPID(path string) (int, bool) {
	lines := readLines(path)
	if len(lines) == 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	return pid, err == nil && pid > 0
}

// readLines returns the lines of a small file, nil if it cannot be read.
func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Split(string(b), "\n")
}

// isOurPostmaster reports whether pid is a live postgres process serving
// this data directory (its command line names the directory).
func (c *Cluster) isOurPostmaster(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && slices.Contains(strings.Split(string(cmdline), "\x00"), c.dir)
}

// launchOnFreePort starts the server on the requested port, else on the
// remembered one when free, else on a fresh free port. A port picked here
// can be taken by someone else before the server binds it; then it tries
// again with another one.
func (c *Cluster) launchOnFreePort(ctx context.Context, requested int, fast bool) error {
	port, pinned := requested, requested != 0
	if !pinned {
		port = c.rememberedPort()
	}
	for attempt := 1; ; attempt++ {
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			port = p
		}
		err := c.launch(ctx, port, fast)
		if err == nil {
			return c.writeFile(portFileName, strconv.Itoa(port)+"\n")
		}
		if pinned || attempt == 3 || portFree(port) || ctx.Err() != nil {
			return err
		}
		c.logf("localpg: port %d was taken meanwhile; trying another", port)
		port = 0
	}
}

// rememberedPort returns the port of the last run if it is free now, else 0.
func (c *Cluster) rememberedPort() int {
	lines := readLines(filepath.Join(c.dir, portFileName))
	if len(lines) == 0 {
		return 0
	}
	p, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || p <= 0 || p > 65535 || !portFree(p) {
		return 0
	}
	return p
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether port can be bound on 127.0.0.1 right now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// launch starts the server process on port and waits until it is ready.
func (c *Cluster) launch(ctx context.Context, port int, fast bool) error {
	logPath := filepath.Join(c.dir, logFileName)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor
	if err := c.chown(logPath); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), c.serverArgs(port, fast)...)
	cmd.Dir, cmd.Env = "/", serverEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs, Setpgid: true, Pdeathsig: syscall.SIGINT}
	proc, err := child.Start(cmd)
	if err != nil {
		return err
	}
	c.proc, c.port = proc, port
	c.logf("localpg: starting PostgreSQL on 127.0.0.1:%d (pid %d)", port, c.proc.Pid)
	if err := c.waitReady(ctx); err != nil {
		c.proc.Kill()
		return err
	}
	return nil
}

// serverArgs are the server settings; on the command line they override
// the cluster's configuration files, so a reused cluster gets them too.
func (c *Cluster) serverArgs(port int, fast bool) []string {
	settings := []string{
		"listen_addresses=127.0.0.1",
		"port=" + strconv.Itoa(port),
		"unix_socket_directories=" + c.socketDir(),
		"max_connections=200",
	}
	if fast {
		settings = append(settings, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	} else {
		settings = append(settings, "shared_buffers=256MB", "max_wal_size=1GB")
	}
	args := []string{"-D", c.dir}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	return args
}

// socketDir keeps the unix socket inside the data directory, away from the
// system server's /var/run/postgresql, unless that path is too long for a
// socket or holds characters the setting cannot carry; then /tmp.
func (c *Cluster) socketDir() string {
	if len(c.dir)+len("/.s.PGSQL.65535.lock") > maxSocketPath || strings.ContainsAny(c.dir, ",\" \t") {
		return os.TempDir()
	}
	return c.dir
}

// serverEnv is the caller's environment without libpq variables, which
// could point the PostgreSQL tools at another server, and with
// MallocTunables unless the caller sets GLIBC_TUNABLES itself.
func serverEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GLIBC_TUNABLES=") }) {
		env = append(env, "GLIBC_TUNABLES="+MallocTunables)
	}
	return append(env, "LC_MESSAGES=C")
}

// MallocTunables keeps glibc's malloc in every PostgreSQL process from
// handing memory back to the kernel after each statement and taking it
// back for the next: memory freed at the top of the heap stays until
// 16 MiB of it is free (trim_threshold, 128 KiB by default), and blocks
// below 16 MiB come from the heap, not from a mmap of their own
// (mmap_threshold). Each shrink of the heap is a munmap, whose TLB
// flush interrupts the other cores, and each regrowth page-faults; on a
// virtual machine both are dear. Measured with perf on a projectors'
// backend during W2 at 500 commands/s (docs/performance-history.md):
// brk 19 % of its CPU and TLB-flush interrupts 12 %, both gone with
// these settings, and W2's lag p50 at that rate about halved. A backend
// keeps at most 16 MiB it no longer uses. docker-compose.yml sets the
// same.
const MallocTunables = "glibc.malloc.trim_threshold=16777216:glibc.malloc.mmap_threshold=16777216"

// waitReady polls postmaster.pid until the server we started reports
// "ready", failing early (with the log's tail) if it exits.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.ready() {
			return nil
		}
		select {
		case <-c.proc.Exited():
			return fmt.Errorf("postgres exited during start-up; end of %s:\n%s", logFileName, c.logTail(15))
		case <-ctx.Done():
			return fmt.Errorf("waiting for postgres to accept connections: %w; end of %s:\n%s", ctx.Err(), logFileName, c.logTail(15))
		case <-tick.C:
		}
	}
}

// ready reports whether postmaster.pid is our process's and says "ready"
// (line 8, PostgreSQL's own start-up status, the one pg_ctl -w reads).
func (c *Cluster) ready() bool {
	lines := readLines(filepath.Join(c.dir, "postmaster.pid"))
	if len(lines) < 8 {
		return false
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	want := 0
	if c.proc != nil {
		want = c.proc.Pid
	}
	return (want == 0 || pid == want) && strings.TrimSpace(lines[7]) == "ready"
}

// logTail returns the last n lines of the server log, for error messages.
func (c *Cluster) logTail(n int) string { return child.LogTail(filepath.Join(c.dir, logFileName), n) }

// createDatabase creates database name unless it exists.
func (c *Cluster) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil || exists {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created meanwhile
		return nil
	}
	return err
}

// stop is Stop's single run: pg_ctl's fast shutdown, then SIGINT, then kill.
func (c *Cluster) stop() error {
	select {
	case <-c.proc.Exited():
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := c.run(ctx, "pg_ctl", "stop", "-D", c.dir, "-m", "fast", "-w", "-t", strconv.Itoa(int(stopTimeout/time.Second)))
	if err != nil {
		_ = c.proc.Signal(syscall.SIGINT)
	}
	if !c.proc.AwaitOrKill(stopTimeout) {
		return fmt.Errorf("localpg.Stop(%q): server did not shut down; killed it: %v", c.dir, err)
	}
	c.logf("localpg: PostgreSQL on port %d stopped", c.port)
	return nil
}

// run runs one of the PostgreSQL programs as the server user.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir, cmd.Env = "/", serverEnv()
	if c.runAs != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// writeFile writes a file in the data directory, owned by the server user.
func (c *Cluster) writeFile(name, content string) error {
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		return err
	}
	return c.chown(p)
}

// chown gives path to the server user when the caller is root.
func (c *Cluster) chown(path string) error {
	if c.runAs == nil {
		return nil
	}
	return os.Chown(path, int(c.runAs.Uid), int(c.runAs.Gid))
}
