package pgpool_test

import (
	"testing"
	"time"

	"example.com/crm/internal/pgpool"
)

// A pool's connections, opened together, are not all replaced together:
// each lives pgx's lifetime plus a jitter of up to a quarter of it,
// unless the DSN says otherwise.
func TestAPoolsConnectionsDoNotAllExpireAtOnce(t *testing.T) {
	cfg, err := pgpool.Config("postgres://crm@127.0.0.1:5432/crm")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnLifetime <= 0 || cfg.MaxConnLifetimeJitter != cfg.MaxConnLifetime/4 {
		t.Errorf("lifetime %s, jitter %s: want a jitter of a quarter of the lifetime", cfg.MaxConnLifetime, cfg.MaxConnLifetimeJitter)
	}
	cfg, err = pgpool.Config("postgres://crm@127.0.0.1:5432/crm?pool_max_conn_lifetime=2h&pool_max_conn_lifetime_jitter=1m")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnLifetime != 2*time.Hour || cfg.MaxConnLifetimeJitter != time.Minute {
		t.Errorf("lifetime %s, jitter %s: want the DSN's 2h and 1m", cfg.MaxConnLifetime, cfg.MaxConnLifetimeJitter)
	}
}
