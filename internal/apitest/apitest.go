// Package apitest starts the whole server (real PostgreSQL, optional real
// Redis, every projector) behind an httptest server, and gives tests a
// small client for JSON requests. End-to-end tests of every route use it.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"example.com/crm/httpapi"
	"example.com/crm/internal/app"
	"example.com/crm/internal/testenv"
)

// SecretKey is the SECRET_KEY of every server Start runs, for tests that
// forge tokens.
const SecretKey = "test-secret-key-that-is-long-enough-123"

// Server is a running API on a fresh database.
type Server struct {
	URL string
	// DatabaseURL is the database the server uses.
	DatabaseURL string
	App         *app.App
	t           testing.TB
}

// Options tune the server under test.
type Options struct {
	// Redis, when true, gives the server a real Redis.
	Redis bool
	// Env overrides configuration variables (as the environment would).
	Env map[string]string
	// Routes, when set, mounts more routes on the API before it serves
	// (stub routes behind the authentication and tenancy middleware).
	Routes func(api *httpapi.API)
	// DatabaseURL, when set, serves from that database (e.g. another
	// Server's, to act as a second server process) instead of a fresh one.
	DatabaseURL string
	// AppOptions are passed to app.New (e.g. app.WithWebhooks).
	AppOptions []app.Option
}

// Start runs a server for the test and stops it at cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	env := map[string]string{
		"SECRET_KEY":      SecretKey,
		"AUTH_RATE_LIMIT": "0",
		"LOG_LEVEL":       "warn",
		// Generous: 2 CPUs running many servers under -race can be slow to
		// project; a test about PROJECTION_BEHIND sets its own.
		"CONSISTENCY_TIMEOUT": "10s",
	}
	if o.Redis {
		env["REDIS_URL"] = testenv.Redis(t)
	}
	for k, v := range o.Env {
		env[k] = v
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx := context.Background()
	// bcrypt at its minimum cost: real hashing, without a second per
	// registration under the race detector (production uses
	// passwords.Cost, tested in package passwords).
	opts := []app.Option{app.WithPasswordCost(bcrypt.MinCost)}
	if o.Routes != nil {
		opts = append(opts, app.WithRoutes(o.Routes))
	}
	opts = append(opts, o.AppOptions...)
	dsn := o.DatabaseURL
	if dsn == "" {
		dsn = testenv.Postgres(t)
	}
	a, err := app.New(ctx, cfg, dsn, "test", log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		hs.Close()
		a.Close()
	})
	return &Server{URL: hs.URL, App: a, DatabaseURL: dsn, t: t}
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map (or fails the test).
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// Decode decodes the body into v (or fails the test).
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode body: %v\n%s", err, r.Body)
	}
}

// Code returns the problem+json "code" of an error response, or "".
func (r *Response) Code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Code
}

// Request is one call: Body is marshalled to JSON unless it is a string
// (sent as is) or nil.
type Request struct {
	Method string
	Path   string
	Body   any
	Token  string
	Org    string
	Header map[string]string
}

// Do sends req and reads the whole answer.
func (s *Server) Do(req Request) *Response {
	s.t.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		body = bytes.NewReader(buf)
	}
	hr, err := http.NewRequest(req.Method, s.URL+req.Path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	if req.Org != "" {
		hr.Header.Set("X-Organization-Id", req.Org)
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(hr)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// With returns a view of s whose failures are reported to t (for subtests
// and goroutines of the test that started the server: a failure must be
// reported to the test that is running).
func (s *Server) With(t testing.TB) *Server {
	c := *s
	c.t = t
	return &c
}
