package app_test

import (
	"strings"
	"testing"
	"time"

	"example.com/crm/internal/app"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Production refuses to start without a real SECRET_KEY (API.md §5);
// development runs with a built-in key so that `make run` needs no set-up.
func TestConfigSecretKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		refused bool
	}{
		{"production without a key", map[string]string{"ENVIRONMENT": "production"}, true},
		{"production with a 31-byte key", map[string]string{"ENVIRONMENT": "production", "SECRET_KEY": strings.Repeat("k", 31)}, true},
		{"production with a 32-byte key", map[string]string{"ENVIRONMENT": "production", "SECRET_KEY": strings.Repeat("k", 32)}, false},
		{"development without a key", map[string]string{}, false},
		{"development with a short key", map[string]string{"SECRET_KEY": "short"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := app.LoadConfig(env(tc.vars))
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "SECRET_KEY") {
					t.Fatalf("err = %v, want a SECRET_KEY error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SecretKey == "" {
				t.Fatal("no secret key")
			}
		})
	}
}

func TestConfigAuthSettings(t *testing.T) {
	t.Parallel()
	cfg, err := app.LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessTokenTTL != 15*time.Minute || cfg.RefreshTokenTTL != 30*24*time.Hour || cfg.AuthRateLimit != 20 {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = app.LoadConfig(env(map[string]string{"ACCESS_TOKEN_TTL": "60", "REFRESH_TOKEN_TTL": "1h", "AUTH_RATE_LIMIT": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessTokenTTL != time.Minute || cfg.RefreshTokenTTL != time.Hour || cfg.AuthRateLimit != 0 {
		t.Fatalf("set: %+v", cfg)
	}
	for _, bad := range []map[string]string{{"AUTH_RATE_LIMIT": "-1"}, {"AUTH_RATE_LIMIT": "many"}, {"ACCESS_TOKEN_TTL": "0"}} {
		if _, err := app.LoadConfig(env(bad)); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
	// The key never shows in the logged configuration.
	cfg, _ = app.LoadConfig(env(map[string]string{"SECRET_KEY": "super-secret-value-of-some-length"}))
	if strings.Contains(cfg.LogValue().String(), "super-secret") {
		t.Fatal("the secret key is logged")
	}
}

// Profiles expose the process's memory and code: PPROF_ADDR serves them
// on a loopback address only.
func TestConfigPprofOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"127.0.0.1:6060", "localhost:6060", "[::1]:6060", "127.0.0.1:0"} {
		cfg, err := app.LoadConfig(env(map[string]string{"PPROF_ADDR": ok}))
		if err != nil || cfg.PprofAddr != ok {
			t.Fatalf("PPROF_ADDR=%s: %q, %v", ok, cfg.PprofAddr, err)
		}
	}
	for _, bad := range []string{":6060", "0.0.0.0:6060", "10.0.0.1:6060", "example.com:6060", "127.0.0.1"} {
		if _, err := app.LoadConfig(env(map[string]string{"PPROF_ADDR": bad})); err == nil {
			t.Fatalf("PPROF_ADDR=%s accepted", bad)
		}
	}
	cfg, err := app.LoadConfig(env(nil))
	if err != nil || cfg.PprofAddr != "" {
		t.Fatalf("default: %q, %v; want off", cfg.PprofAddr, err)
	}
}

func TestConfigDBPools(t *testing.T) {
	t.Parallel()
	cfg, err := app.LoadConfig(env(nil))
	if err != nil || cfg.DBMaxConns != app.DefaultDBMaxConns() || cfg.DBMaxConns < 8 ||
		cfg.DBReadConns != app.DefaultDBReadConns() || cfg.DBReadConns < 4 {
		t.Fatalf("defaults: %d and %d, %v; want 4 per core (at least 8) and 2 per core (at least 4)", cfg.DBMaxConns, cfg.DBReadConns, err)
	}
	cfg, err = app.LoadConfig(env(map[string]string{"DB_MAX_CONNS": "20", "DB_READ_CONNS": "6"}))
	if err != nil || cfg.DBMaxConns != 20 || cfg.DBReadConns != 6 {
		t.Fatalf("set: %d and %d, %v", cfg.DBMaxConns, cfg.DBReadConns, err)
	}
	for _, name := range []string{"DB_MAX_CONNS", "DB_READ_CONNS"} {
		for _, bad := range []string{"1", "0", "-3", "many"} {
			if _, err := app.LoadConfig(env(map[string]string{name: bad})); err == nil {
				t.Fatalf("%s=%s accepted", name, bad)
			}
		}
	}
}
