// Package migrations holds the database schema as numbered SQL files,
// embedded in the binary and applied with goose.
//
// Files are never edited once they have landed: a change is a new file.
// Up is safe to call from several processes at once: goose takes a
// PostgreSQL advisory lock for the duration.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for goose
)

//go:embed *.sql
var files embed.FS

func provider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(files, ".")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
}

// Up applies every pending migration to the database at dsn, under an
// advisory lock, and returns how many it applied.
func Up(ctx context.Context, dsn string) (applied int, err error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, fmt.Errorf("migrations.Up: %w", err)
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return 0, fmt.Errorf("migrations.Up: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations.Up: %w", err)
	}
	return len(res), nil
}

// UpTo applies the pending migrations up to and including version (tests
// of a migration run the ones before it, write the data it finds, then
// Up).
func UpTo(ctx context.Context, dsn string, version int64) error {
	return withProvider(dsn, func(p *goose.Provider) error { _, err := p.UpTo(ctx, version); return err })
}

// DownTo rolls the database back to version: every migration above it
// is undone, newest first.
func DownTo(ctx context.Context, dsn string, version int64) error {
	return withProvider(dsn, func(p *goose.Provider) error { _, err := p.DownTo(ctx, version); return err })
}

func withProvider(dsn string, f func(*goose.Provider) error) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if err := f(p); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// Pending reports whether the database at dsn lacks any migration this
// binary knows (used by /ready).
func Pending(ctx context.Context, db *sql.DB) (bool, error) {
	p, err := provider(db)
	if err != nil {
		return false, err
	}
	return p.HasPending(ctx)
}
