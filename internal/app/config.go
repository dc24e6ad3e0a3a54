package app

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the server, read from the environment (and
// a .env file, if present) in one place, validated at start and logged
// with secrets redacted. Nothing else reads the environment.
type Config struct {
	DatabaseURL        string        // unset: run a private PostgreSQL under DataDir
	DataDir            string        // CRM_DATA_DIR, default ./.crm
	RedisURL           string        // unset: no Redis
	SecretKey          string        // HS256 key for access tokens
	AccessTokenTTL     time.Duration // default 15m
	RefreshTokenTTL    time.Duration // default 720h
	CORSOrigins        []string
	Environment        string // development | production
	HTTPAddr           string // default :8000
	ConsistencyTimeout time.Duration
	AuthRateLimit      int // per minute; 0 disables
	LogLevel           slog.Level
	LogFormat          string // json | text
	// WebhookAllowPrivate lets webhooks use http URLs and deliver to
	// loopback and private addresses (tests, local development).
	WebhookAllowPrivate bool
	// DBMaxConns caps the API's main pool (DB_MAX_CONNS; default 4 per
	// core, at least 8): commands, identity, the feed, webhooks. It trades
	// command throughput for the read side's latency on a busy machine.
	// Commands mostly wait for their commit's WAL flush, so more of them
	// in flight keep the CPU busier (W1 at 32 clients on 2 cores: 913–1,069
	// commands/s with 8, 1,114–1,331 with 40); but then they take the CPU
	// the projectors need, and under a query mix the read models fell
	// seconds behind (W2 at half W1's best rate with 8 query clients: lag
	// p50 23 ms with 8, 33 ms with 16, 475 ms with 40).
	DBMaxConns int
	// DBReadConns caps the pool of the read-model queries (DB_READ_CONNS;
	// default 2 per core, at least 4). They are CPU-bound: more at once
	// than a couple per core only lengthen PostgreSQL's run queue, and the
	// projectors' backends (their own pool) then wait behind every query
	// (W2 under the query mix on 2 cores: lag p50 82 → 19 ms with 40 → 8;
	// with 8 → 4, p50 43–49 → 17–27 ms and p99 211–295 → 90–136 ms, while
	// the mix itself answered more queries). Queries beyond it wait in
	// the server, first come first served.
	DBReadConns int
	// PprofAddr, when set, serves net/http/pprof on this address (a
	// loopback one only: profiles expose the process's internals), for
	// profiling under load (crmbench -profile).
	PprofAddr string

	// HTTP server timeouts (net/http.Server), against slow or idle
	// clients holding connections (slowloris): the headers must arrive
	// within HTTPReadHeaderTimeout, the whole request within
	// HTTPReadTimeout; HTTPWriteTimeout bounds a request from its headers
	// to the end of its answer (it must exceed CONSISTENCY_TIMEOUT and
	// any long poll); an idle keep-alive connection is closed after
	// HTTPIdleTimeout.
	HTTPReadHeaderTimeout time.Duration // default 5s
	HTTPReadTimeout       time.Duration // default 30s
	HTTPWriteTimeout      time.Duration // default 60s
	HTTPIdleTimeout       time.Duration // default 60s
}

// DefaultDBMaxConns is DB_MAX_CONNS's default: 4 per core, at least 8.
func DefaultDBMaxConns() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// DefaultDBReadConns is DB_READ_CONNS's default: 2 per core, at least 4.
func DefaultDBReadConns() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// devSecret is used only outside production when SECRET_KEY is unset, so
// that `make run` works with no set-up; production refuses to start
// without a real key.
const devSecret = "development-only-secret-key-do-not-use-in-production"

// LoadConfig reads the environment through getenv.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL: getenv("DATABASE_URL"),
		DataDir:     or(getenv("CRM_DATA_DIR"), ".crm"),
		RedisURL:    getenv("REDIS_URL"),
		SecretKey:   getenv("SECRET_KEY"),
		Environment: or(getenv("ENVIRONMENT"), "development"),
		HTTPAddr:    or(getenv("HTTP_ADDR"), ":8000"),
		LogFormat:   or(getenv("LOG_FORMAT"), "json"),
		PprofAddr:   getenv("PPROF_ADDR"),
	}
	var errs []error
	dur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration (e.g. 15m, 2s, or seconds)", name, v))
		}
		return d
	}
	c.AccessTokenTTL = dur("ACCESS_TOKEN_TTL", 15*time.Minute)
	c.RefreshTokenTTL = dur("REFRESH_TOKEN_TTL", 30*24*time.Hour)
	c.ConsistencyTimeout = dur("CONSISTENCY_TIMEOUT", 2*time.Second)
	c.HTTPReadHeaderTimeout = dur("HTTP_READ_HEADER_TIMEOUT", 5*time.Second)
	c.HTTPReadTimeout = dur("HTTP_READ_TIMEOUT", 30*time.Second)
	c.HTTPWriteTimeout = dur("HTTP_WRITE_TIMEOUT", 60*time.Second)
	c.HTTPIdleTimeout = dur("HTTP_IDLE_TIMEOUT", 60*time.Second)
	if c.HTTPReadHeaderTimeout > c.HTTPReadTimeout {
		errs = append(errs, errors.New("HTTP_READ_HEADER_TIMEOUT: longer than HTTP_READ_TIMEOUT, which includes it"))
	}
	if c.HTTPWriteTimeout <= c.ConsistencyTimeout {
		errs = append(errs, errors.New("HTTP_WRITE_TIMEOUT: must exceed CONSISTENCY_TIMEOUT, or a waiting query is cut off"))
	}

	c.AuthRateLimit = 20
	if v := getenv("AUTH_RATE_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("AUTH_RATE_LIMIT: %q is not a whole number ≥ 0", v))
		}
		c.AuthRateLimit = n
	}
	conns := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			errs = append(errs, fmt.Errorf("%s: %q is not a whole number ≥ 2", name, v))
		}
		return n
	}
	c.DBMaxConns = conns("DB_MAX_CONNS", DefaultDBMaxConns())
	c.DBReadConns = conns("DB_READ_CONNS", DefaultDBReadConns())
	if v := getenv("WEBHOOK_ALLOW_PRIVATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOK_ALLOW_PRIVATE: %q is neither true nor false", v))
		}
		c.WebhookAllowPrivate = b
	}
	if c.PprofAddr != "" && !loopbackAddr(c.PprofAddr) {
		errs = append(errs, fmt.Errorf("PPROF_ADDR: %q is not a loopback address (e.g. 127.0.0.1:6060): profiles expose the process", c.PprofAddr))
	}
	origins, err := parseList(getenv("CORS_ORIGINS"))
	if err != nil {
		errs = append(errs, fmt.Errorf("CORS_ORIGINS: %w", err))
	}
	c.CORSOrigins = origins
	if err := c.LogLevel.UnmarshalText([]byte(or(getenv("LOG_LEVEL"), "info"))); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	switch c.Environment {
	case "development":
		if c.SecretKey == "" {
			c.SecretKey = devSecret
		}
	case "production":
		if len(c.SecretKey) < 32 {
			errs = append(errs, errors.New("SECRET_KEY: production needs a key of at least 32 bytes"))
		}
	default:
		errs = append(errs, fmt.Errorf("ENVIRONMENT: %q is neither development nor production", c.Environment))
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is neither json nor text", c.LogFormat))
	}
	return c, errors.Join(errs...)
}

// LogValue prints the configuration with secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.String("data_dir", c.DataDir),
		slog.String("redis_url", redactURL(c.RedisURL)),
		slog.String("secret_key", redactSecret(c.SecretKey)),
		slog.Duration("access_token_ttl", c.AccessTokenTTL),
		slog.Duration("refresh_token_ttl", c.RefreshTokenTTL),
		slog.Any("cors_origins", c.CORSOrigins),
		slog.String("environment", c.Environment),
		slog.String("http_addr", c.HTTPAddr),
		slog.Duration("consistency_timeout", c.ConsistencyTimeout),
		slog.Duration("http_read_header_timeout", c.HTTPReadHeaderTimeout),
		slog.Duration("http_read_timeout", c.HTTPReadTimeout),
		slog.Duration("http_write_timeout", c.HTTPWriteTimeout),
		slog.Duration("http_idle_timeout", c.HTTPIdleTimeout),
		slog.Int("auth_rate_limit", c.AuthRateLimit),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.Bool("webhook_allow_private", c.WebhookAllowPrivate),
		slog.Int("db_max_conns", c.DBMaxConns),
		slog.Int("db_read_conns", c.DBReadConns),
		slog.String("pprof_addr", c.PprofAddr),
	)
}

// loopbackAddr reports whether host:port names a loopback interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// parseDuration accepts Go durations ("15m") and plain seconds ("900").
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// parseList accepts a JSON list or a comma-separated list.
func parseList(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if strings.HasPrefix(v, "[") {
		var out []string
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, fmt.Errorf("not a JSON list of strings: %w", err)
		}
		return out, nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func redactURL(u string) string {
	if u == "" {
		return ""
	}
	// scheme://user:password@host → scheme://user:***@host
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	creds := u[scheme+3 : at]
	if i := strings.Index(creds, ":"); i >= 0 {
		creds = creds[:i] + ":***"
	}
	return u[:scheme+3] + creds + u[at:]
}

func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("*** (%d bytes)", len(s))
}

// LoadDotEnv sets variables from a .env file that are not already set.
// A missing file is fine.
func LoadDotEnv(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"'`)
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
	return sc.Err()
}
