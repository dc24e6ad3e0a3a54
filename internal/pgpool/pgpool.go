// Package pgpool opens the server's PostgreSQL connection pools: the one
// place for what every connection of the application needs.
package pgpool

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config parses dsn into a pool configuration whose connections encode
// and scan google/uuid values as binary uuids (registerUUID). Without it
// pgx goes through uuid.UUID's driver.Valuer and sql.Scanner, that is
// through a 36-character string each way, for every id of every
// statement (about a tenth of the server's CPU in a profile of the
// command mix).
//
// Connections are replaced after pgx's MaxConnLifetime (an hour) with a
// jitter of a quarter of it (unless the DSN sets
// pool_max_conn_lifetime_jitter): a pool opens its connections in the
// same second of the first load, and without a jitter they all expired
// in the same minute, every hour. A new backend's first statements cost
// 10–80 ms each (parse, plan, catalog caches: PostgreSQL's log over the
// first 0.3 s of W2 on a server just started), so a whole pool replaced
// at once put a few hundred milliseconds on the requests of that moment;
// spread out, one connection at a time pays it.
func Config(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.MaxConnLifetimeJitter == 0 {
		cfg.MaxConnLifetimeJitter = cfg.MaxConnLifetime / 4
	}
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		registerUUID(conn.TypeMap())
		if after != nil {
			return after(ctx, conn)
		}
		return nil
	}
	return cfg, nil
}

// New opens a pool on dsn configured by Config.
func New(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := Config(dsn)
	if err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}
