// Package testenv is the harness every integration test package uses to
// reach a real PostgreSQL and a real Redis: the project tests against the
// real thing, never a mock of the database.
//
// Each test binary gets at most one PostgreSQL and one Redis server,
// started lazily by the first test that asks:
//
//   - CRM_TEST_DATABASE_URL / CRM_TEST_REDIS_URL, when set, name existing
//     servers to use instead (nothing is started; databases are still
//     created and dropped on them);
//   - otherwise testcontainers-go (postgres:15, redis:7) when a Docker
//     engine answers within two seconds;
//   - otherwise private servers run from the machine's binaries
//     (internal/localpg with Fast settings, internal/localredis), in a
//     temporary directory removed at the end.
//
// Test packages route their TestMain through Main so the servers are
// stopped when the tests end:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"example.com/crm/internal/localpg"
	"example.com/crm/internal/localredis"
	"example.com/crm/migrations"
)

const (
	// envDatabaseURL names an existing PostgreSQL server to use; the role
	// needs CREATEDB. Its database is the one connected to for admin work.
	envDatabaseURL = "CRM_TEST_DATABASE_URL"
	// envRedisURL names an existing Redis server to use.
	envRedisURL = "CRM_TEST_REDIS_URL"
	// startTimeout bounds starting a server (an image pull included).
	startTimeout = 5 * time.Minute
	// dockerProbeTimeout bounds the question "is there a Docker engine?".
	dockerProbeTimeout = 2 * time.Second
	// redisDatabases is how many logical databases a Redis server has by default.
	redisDatabases = 16
)

var (
	// atExit holds what Main undoes once the tests have run, newest first.
	atExitMu sync.Mutex
	atExit   []func()

	dockerOnce     sync.Once
	dockerProbeErr error

	pgOnce sync.Once
	pg     *pgServer
	pgErr  error

	redisOnce sync.Once
	redisBase *url.URL
	redisErr  error
	redisNext atomic.Uint32
)

// Main wraps testing.M: it starts nothing eagerly, runs the tests, stops
// the servers they caused to start (dropping what it created on external
// ones) and exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	shutdown()
	os.Exit(code)
}

// Postgres returns the URL of a fresh database, private to this test, with
// every migration applied. It is a clone of a template database migrated
// once per test binary, so it costs a CREATE DATABASE, not a migration
// run; it is dropped (WITH (FORCE)) when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = startPostgres() })
	if pgErr != nil {
		t.Fatalf("testenv.Postgres: %v", pgErr)
	}
	name, err := pg.clone(t.Context())
	if err != nil {
		t.Fatalf("testenv.Postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := pg.drop(name); err != nil {
			t.Errorf("testenv.Postgres: %v", err)
		}
	})
	return pg.url(name)
}

// Redis returns a Redis URL for this test. Isolation is by logical
// database: successive calls get indexes 0..15 round robin, so up to 16
// tests running at once each have their own, and more share. Tests must
// therefore still use keys of their own (a fresh organization id) and must
// never FLUSHDB or FLUSHALL; testenv flushes nothing either.
func Redis(t testing.TB) string {
	t.Helper()
	redisOnce.Do(func() { redisBase, redisErr = startRedis() })
	if redisErr != nil {
		t.Fatalf("testenv.Redis: %v", redisErr)
	}
	u := *redisBase
	u.Path = fmt.Sprintf("/%d", (redisNext.Add(1)-1)%redisDatabases)
	return u.String()
}

// onExit registers f to run when Main finishes, before what was
// registered earlier (so a template is dropped before its server stops).
func onExit(f func()) {
	atExitMu.Lock()
	defer atExitMu.Unlock()
	atExit = append(atExit, f)
}

// shutdown runs the registered exit functions, newest first.
func shutdown() {
	atExitMu.Lock()
	fs := slices.Clone(atExit)
	atExit = nil
	atExitMu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}

// dockerAvailable reports, once per binary, whether a Docker engine
// answers; the probe gives up after dockerProbeTimeout.
func dockerAvailable() error {
	dockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), dockerProbeTimeout)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			p, err := testcontainers.NewDockerProvider()
			if err != nil {
				done <- err
				return
			}
			done <- p.Health(ctx) // Health also closes the provider
		}()
		select {
		case dockerProbeErr = <-done:
		case <-ctx.Done():
			dockerProbeErr = fmt.Errorf("no answer from a Docker engine: %w", ctx.Err())
		}
	})
	return dockerProbeErr
}

// randomName returns prefix followed by 16 random hex digits.
func randomName(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// pgServer is the binary's PostgreSQL server, as seen by the harness.
type pgServer struct {
	base     *url.URL      // admin URL; clones differ only in the path
	admin    *pgxpool.Pool // for CREATE/DROP DATABASE
	template string        // migrated once, cloned per test
	cloneMu  sync.Mutex    // PostgreSQL refuses concurrent clones of one template
}

// startPostgres finds or starts the server and prepares the template.
func startPostgres() (*pgServer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	adminURL, err := postgresServer(ctx)
	if err != nil {
		return nil, err
	}
	return newPGServer(ctx, adminURL)
}

// postgresServer returns the admin URL of the server to use, starting one
// unless CRM_TEST_DATABASE_URL names it.
func postgresServer(ctx context.Context) (string, error) {
	if u := os.Getenv(envDatabaseURL); u != "" {
		log.Printf("testenv: PostgreSQL from %s", envDatabaseURL)
		return u, nil
	}
	dockerErr := dockerAvailable()
	if dockerErr == nil {
		u, err := postgresContainer(ctx)
		if err == nil {
			log.Printf("testenv: PostgreSQL in a postgres:15 container (testcontainers)")
			return u, nil
		}
		dockerErr = fmt.Errorf("postgres:15 container: %w", err)
	}
	u, err := localPostgres(ctx)
	if err != nil {
		return "", fmt.Errorf("no Docker (%v) and no local server: %w", dockerErr, err)
	}
	log.Printf("testenv: PostgreSQL local server at %s (Docker unavailable: %v)", u, dockerErr)
	return u, nil
}

// postgresContainer runs postgres:15 tuned like localpg's Fast mode.
func postgresContainer(ctx context.Context) (string, error) {
	c, err := testcontainers.Run(ctx, "postgres:15",
		testcontainers.WithEnv(map[string]string{"POSTGRES_PASSWORD": "postgres"}),
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "max_connections=200"),
		testcontainers.WithWaitStrategy(wait.ForAll(
			// The entrypoint restarts the server once after initdb.
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
			wait.ForListeningPort("5432/tcp"),
		).WithDeadline(startTimeout)),
	)
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return "", err
	}
	onExit(func() { _ = testcontainers.TerminateContainer(c) })
	hostPort, err := c.PortEndpoint(ctx, "5432/tcp", "")
	if err != nil {
		return "", err
	}
	return "postgres://postgres:postgres@" + hostPort + "/postgres?sslmode=disable", nil
}

// localPostgres runs a Fast localpg cluster in a temporary directory.
func localPostgres(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "crm-testpg-")
	if err != nil {
		return "", err
	}
	c, err := localpg.Start(ctx, localpg.Options{DataDir: filepath.Join(dir, "pgdata"), Fast: true})
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	onExit(func() {
		if err := c.Stop(); err != nil {
			log.Printf("testenv: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return c.URL("postgres"), nil
}

// newPGServer connects to the server and builds the migrated template.
func newPGServer(ctx context.Context, adminURL string) (*pgServer, error) {
	base, err := url.Parse(adminURL)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s must be a postgres:// URL", envDatabaseURL)
	}
	admin, err := pgxpool.New(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	s := &pgServer{base: base, admin: admin, template: randomName("crm_tpl_")}
	onExit(admin.Close)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(s.template)); err != nil {
		return nil, fmt.Errorf("create template database: %w", err)
	}
	onExit(func() { _ = s.drop(s.template) })
	if _, err := migrations.Up(ctx, s.url(s.template)); err != nil {
		return nil, err
	}
	return s, nil
}

// clone creates a new database from the template and returns its name.
func (s *pgServer) clone(ctx context.Context) (string, error) {
	name := randomName("crm_test_")
	s.cloneMu.Lock()
	defer s.cloneMu.Unlock()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(s.template)); err != nil {
		return "", fmt.Errorf("clone the template database: %w", err)
	}
	return name, nil
}

// drop removes a database, disconnecting whatever still uses it.
func (s *pgServer) drop(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// url returns the URL of database name on the server.
func (s *pgServer) url(name string) string {
	u := *s.base
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// ident quotes a database name for SQL.
func ident(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

// startRedis finds or starts the binary's Redis server and returns its URL.
func startRedis() (*url.URL, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	raw, err := redisServer(ctx)
	if err != nil {
		return nil, err
	}
	return url.Parse(raw)
}

// redisServer returns the URL of the server to use, starting one unless
// CRM_TEST_REDIS_URL names it.
func redisServer(ctx context.Context) (string, error) {
	if u := os.Getenv(envRedisURL); u != "" {
		log.Printf("testenv: Redis from %s", envRedisURL)
		return u, nil
	}
	dockerErr := dockerAvailable()
	if dockerErr == nil {
		u, err := redisContainer(ctx)
		if err == nil {
			log.Printf("testenv: Redis in a redis:7 container (testcontainers)")
			return u, nil
		}
		dockerErr = fmt.Errorf("redis:7 container: %w", err)
	}
	s, err := localredis.Start(ctx, localredis.Options{})
	if err != nil {
		return "", fmt.Errorf("no Docker (%v) and no local server: %w", dockerErr, err)
	}
	onExit(func() {
		if err := s.Stop(); err != nil {
			log.Printf("testenv: %v", err)
		}
	})
	log.Printf("testenv: Redis local server at %s (Docker unavailable: %v)", s.URL(), dockerErr)
	return s.URL(), nil
}

// redisContainer runs redis:7 without persistence.
func redisContainer(ctx context.Context) (string, error) {
	c, err := testcontainers.Run(ctx, "redis:7",
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithCmd("redis-server", "--save", "", "--appendonly", "no"),
		testcontainers.WithWaitStrategy(wait.ForAll(
			wait.ForLog("Ready to accept connections"),
			wait.ForListeningPort("6379/tcp"),
		).WithDeadline(startTimeout)),
	)
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return "", err
	}
	onExit(func() { _ = testcontainers.TerminateContainer(c) })
	hostPort, err := c.PortEndpoint(ctx, "6379/tcp", "")
	if err != nil {
		return "", err
	}
	return "redis://" + hostPort + "/0", nil
}
