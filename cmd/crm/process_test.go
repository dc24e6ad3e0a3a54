package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"example.com/crm/internal/localpg"
	"example.com/crm/internal/localredis"
	"example.com/crm/internal/testenv"
)

// The outage and crash tests need `crm serve` as a process of its own
// (one they can SIGKILL, one whose exit they can notice). The test binary
// is that process: started with childServeEnv set, TestMain runs the
// command `crm serve` — main's own run, configured from the environment —
// instead of the tests. No second build is needed, and the server runs
// under the race detector when the tests do.

// childServeEnv, set to "1", makes the test binary act as `crm serve`.
const childServeEnv = "CRM_TEST_CHILD_SERVE"

// reliabilityRoundsEnv sets how many outage or kill cycles each
// reliability test runs (default defaultReliabilityRounds); a soak sets
// it higher: CRM_RELIABILITY_ROUNDS=50 go test -run Outage\|SIGKILL ./cmd/crm.
const reliabilityRoundsEnv = "CRM_RELIABILITY_ROUNDS"

const defaultReliabilityRounds = 2

// TestMain runs the tests, or `crm serve` in a child (see childServeEnv).
func TestMain(m *testing.M) {
	if os.Getenv(childServeEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, []string{"serve"}, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "crm:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testenv.Main(m)
}

// reliabilityRounds is the number of cycles a reliability test runs.
func reliabilityRounds(t *testing.T) int {
	t.Helper()
	s := os.Getenv(reliabilityRoundsEnv)
	if s == "" {
		return defaultReliabilityRounds
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", reliabilityRoundsEnv, s)
	}
	return n
}

// crmProcess is one `crm serve` child process.
type crmProcess struct {
	t      testing.TB
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{} // closed once the process has been reaped
	err    error         // its exit status, once exited is closed
	// URL is the API's base, http://127.0.0.1:PORT.
	URL string
}

// startCRM runs `crm serve` with env (and nothing else from the
// environment but PATH and HOME; env must set HTTP_ADDR to a free
// address) and waits until it answers /health.
// The process is killed at cleanup if it still runs.
func startCRM(t testing.TB, env map[string]string) *crmProcess {
	t.Helper()
	p := spawnCRM(t, env)
	p.waitHealthy(2 * time.Minute)
	return p
}

// spawnCRM starts `crm serve` as startCRM does, without waiting for it.
func spawnCRM(t testing.TB, env map[string]string) *crmProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Dir = t.TempDir() // no .env there
	cmd.Env = []string{childServeEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_FORMAT=text"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &crmProcess{t: t, cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			var internal []string
			for _, l := range strings.Split(p.logs.String(), "\n") {
				if strings.Contains(l, `msg="internal error"`) && len(internal) < 10 {
					internal = append(internal, l)
				}
			}
			t.Logf("crm (pid %d) log: internal errors:\n%s\nlast lines:\n%s", cmd.Process.Pid, strings.Join(internal, "\n"), tail(p.logs.String(), 20))
		}
	})
	addr := env["HTTP_ADDR"]
	if addr == "" {
		t.Fatal("spawnCRM needs an HTTP_ADDR with a port (freeAddr)")
	}
	p.URL = "http://" + addr
	return p
}

// waitHealthy waits until the process answers /health with 200, failing
// the test if it exits first or takes longer than patience.
func (p *crmProcess) waitHealthy(patience time.Duration) {
	t := p.t
	t.Helper()
	probe := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(patience)
	for {
		if res, err := probe.Get(p.URL + "/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("crm serve did not answer /health within %v:\n%s", patience, tail(p.logs.String(), 40))
		}
		select {
		case <-p.exited:
			t.Fatalf("crm serve exited during start-up (%v):\n%s", p.err, tail(p.logs.String(), 40))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Running reports whether the process has not exited.
func (p *crmProcess) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and reaps the process.
func (p *crmProcess) kill() {
	if p.Running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a 127.0.0.1 address no one listens on right now, so a
// restarted server can take the same one.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// privatePostgres is a PostgreSQL server of this test alone, which it
// may stop and start again (the shared test cluster must never be
// stopped). It is stopped at cleanup.
type privatePostgres struct {
	t       testing.TB
	dir     string
	port    int
	mu      sync.Mutex
	cluster *localpg.Cluster
}

func startPrivatePostgres(t testing.TB) *privatePostgres {
	t.Helper()
	pg := &privatePostgres{t: t, dir: filepath.Join(t.TempDir(), "pg")}
	pg.Start()
	u, err := url.Parse(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	pg.port, _ = strconv.Atoi(u.Port())
	t.Cleanup(func() { pg.Stop() })
	return pg
}

// URL is the DefaultDatabase's URL (the same across restarts).
func (pg *privatePostgres) URL() string {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return pg.cluster.URL(localpg.DefaultDatabase)
}

// Stop shuts the server down (pg_ctl stop -m fast: sessions are cut).
func (pg *privatePostgres) Stop() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.cluster != nil {
		if err := pg.cluster.Stop(); err != nil {
			pg.t.Errorf("stopping PostgreSQL: %v", err)
		}
	}
}

// Start starts it (again) on the same data directory and port.
func (pg *privatePostgres) Start() {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localpg.Start(ctx, localpg.Options{DataDir: pg.dir, Port: pg.port, Fast: true})
	if err != nil {
		pg.t.Fatal(err)
	}
	pg.mu.Lock()
	pg.cluster = c
	pg.mu.Unlock()
}

// privateRedis is a redis-server of this test alone, which it may stop
// and start again on the same port.
type privateRedis struct {
	t      testing.TB
	port   int
	mu     sync.Mutex
	server *localredis.Server
}

func startPrivateRedis(t testing.TB) *privateRedis {
	t.Helper()
	r := &privateRedis{t: t}
	r.Start()
	u, err := url.Parse(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	r.port, _ = strconv.Atoi(u.Port())
	t.Cleanup(func() { r.Stop() })
	return r
}

func (r *privateRedis) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.server.URL()
}

func (r *privateRedis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.server.Stop(); err != nil {
		r.t.Errorf("stopping redis: %v", err)
	}
}

func (r *privateRedis) Start() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := localredis.Start(ctx, localredis.Options{Port: r.port})
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.server = s
	r.mu.Unlock()
}

// client is a small JSON client of one server, safe for concurrent use.
type client struct {
	base  string
	http  *http.Client
	token string
	org   string
	email string // the user's, password registerPassword
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// reply is one answer.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map; nil when it is not a JSON object.
func (r *reply) JSON() map[string]any {
	var m map[string]any
	if json.Unmarshal(r.Body, &m) != nil {
		return nil
	}
	return m
}

// Code is the problem+json code of an error answer.
func (r *reply) Code() string {
	code, _ := r.JSON()["code"].(string)
	return code
}

// do sends one request; err is a transport failure (no answer).
func (c *client) do(method, path string, body any, header map[string]string) (*reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.org != "" {
		req.Header.Set("X-Organization-Id", c.org)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &reply{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// must sends a request that must be answered with want.
func (c *client) must(t testing.TB, want int, method, path string, body any) map[string]any {
	t.Helper()
	r, err := c.do(method, path, body, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.Status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	return r.JSON()
}

var registered atomic.Int64

// registerPassword is every registered user's password.
const registerPassword = "correct horse battery"

// register creates a user and their organization and returns a client
// acting as them in it.
func register(t testing.TB, base string) *client {
	t.Helper()
	c := newClient(base)
	n := registered.Add(1)
	c.email = fmt.Sprintf("outage%d-%d@example.com", n, time.Now().UnixNano())
	body := c.must(t, http.StatusCreated, http.MethodPost, "/api/v1/auth/register", map[string]any{
		"email": c.email, "password": registerPassword,
		"name": fmt.Sprintf("User %d", n), "organization_name": fmt.Sprintf("Org %d", n),
	})
	c.token, _ = body["access_token"].(string)
	org, _ := body["organization"].(map[string]any)
	c.org, _ = org["id"].(string)
	if c.token == "" || c.org == "" {
		t.Fatalf("register answered no token or organization: %v", body)
	}
	return c
}

// at returns a client of the same user against another server.
func (c *client) at(base string) *client {
	d := *c
	d.base = base
	d.http = newClient(base).http
	return &d
}

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func waitFor(t testing.TB, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, deadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isTransportError reports whether err is the client's failure to get an
// answer (connection refused or reset, the server gone).
func isTransportError(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}
