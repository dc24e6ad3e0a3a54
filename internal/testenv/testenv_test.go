package testenv

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// databases collects what the parallel tests below saw, to compare them.
var databases sync.Map // database name -> test name

// checkFreshMigratedDatabase is the body the parallel tests share: the
// database is migrated, is not the one another test got, and is empty.
func checkFreshMigratedDatabase(t *testing.T) {
	t.Parallel()
	dsn := Postgres(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())

	var name string
	var events int
	err = conn.QueryRow(t.Context(), "SELECT current_database(), (SELECT count(*) FROM events)").Scan(&name, &events)
	if err != nil {
		t.Fatalf("the events table is missing: %v", err)
	}
	if other, dup := databases.LoadOrStore(name, t.Name()); dup {
		t.Errorf("database %s handed to both %s and %s", name, other, t.Name())
	}
	if events != 0 {
		t.Errorf("a fresh database holds %d events", events)
	}
	// Writes stay in this test's database.
	if _, err := conn.Exec(t.Context(), "CREATE TABLE scratch (id int)"); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresGivesEachTestItsOwnMigratedDatabaseA(t *testing.T) {
	checkFreshMigratedDatabase(t)
}

func TestPostgresGivesEachTestItsOwnMigratedDatabaseB(t *testing.T) {
	checkFreshMigratedDatabase(t)
}

func TestPostgresDropsTheDatabaseAtCleanup(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("user", func(t *testing.T) {
		u, err := url.Parse(Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		name = strings.TrimPrefix(u.Path, "/")
	})
	var exists bool
	err := pg.admin.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s survived its test", name)
	}
}

func TestRedisAnswersPingOnItsOwnDatabase(t *testing.T) {
	t.Parallel()
	first, second := Redis(t), Redis(t)
	if first == second {
		t.Errorf("two calls got the same URL %s", first)
	}
	for _, raw := range []string{first, second} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := redisCommand(t, u.Host, "SELECT "+strings.TrimPrefix(u.Path, "/"), "PING"); got != "+PONG" {
			t.Errorf("PING on %s = %q", raw, got)
		}
	}
}

// redisCommand sends inline commands and returns the last reply line.
func redisCommand(t *testing.T, addr string, cmds ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(conn)
	var line string
	for _, c := range cmds {
		if _, err := conn.Write([]byte(c + "\r\n")); err != nil {
			t.Fatal(err)
		}
		if line, err = r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	return strings.TrimSpace(line)
}
