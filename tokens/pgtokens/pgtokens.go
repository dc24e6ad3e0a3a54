// Package pgtokens keeps refresh tokens in PostgreSQL (the refresh_tokens
// table of migration 00003): the tokens.Store of the server.
package pgtokens

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/tokens"
)

// Store is a tokens.Store over a pool.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

var _ tokens.Store = (*Store)(nil)

// Save implements tokens.Store.
func (s *Store) Save(ctx context.Context, r tokens.Refresh) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO refresh_tokens (hash, user_id, family_id, expires_at) VALUES ($1, $2, $3, $4)`,
		r.Hash, r.UserID, r.FamilyID, r.ExpiresAt.UTC())
	if err != nil {
		return fmt.Errorf("pgtokens.Save: %w", err)
	}
	return nil
}

// Rotate implements tokens.Store. A token of a user that no longer exists
// (no row in users) is invalid, like an expired one: a session cannot
// outlive its user. Marking the token used is a guarded
// UPDATE, so of two concurrent uses of one token exactly one wins; the
// loser sees a used token and revokes the family, as a thief would.
func (s *Store) Rotate(ctx context.Context, used []byte, next tokens.Refresh) (user uuid.UUID, err error) {
	defer func() {
		if err != nil && !errors.Is(err, tokens.ErrRefreshInvalid) && !errors.Is(err, tokens.ErrRefreshReused) {
			err = fmt.Errorf("pgtokens.Rotate: %w", err)
		}
	}()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return uuid.Nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	var family uuid.UUID
	err = tx.QueryRow(ctx, `
		UPDATE refresh_tokens SET used_at = now()
		WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
		  AND EXISTS (SELECT 1 FROM users u WHERE u.id = refresh_tokens.user_id)
		RETURNING user_id, family_id`, used).Scan(&user, &family)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = tx.Rollback(ctx)
		return uuid.Nil, s.refuse(ctx, used)
	}
	if err != nil {
		return uuid.Nil, err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO refresh_tokens (hash, user_id, family_id, expires_at) VALUES ($1, $2, $3, $4)`,
		next.Hash, user, family, next.ExpiresAt.UTC()); err != nil {
		return uuid.Nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return uuid.Nil, err
	}
	return user, nil
}

// refuse explains why a token could not be rotated, revoking its family
// when it had been used before.
func (s *Store) refuse(ctx context.Context, hash []byte) error {
	var family uuid.UUID
	var usedAt *time.Time
	err := s.pool.QueryRow(ctx, `SELECT family_id, used_at FROM refresh_tokens WHERE hash = $1`, hash).Scan(&family, &usedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return tokens.ErrRefreshInvalid
	}
	if err != nil {
		return err
	}
	if usedAt == nil {
		return tokens.ErrRefreshInvalid // expired or revoked
	}
	if _, err := s.pool.Exec(ctx, `
		UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, family); err != nil {
		return err
	}
	return tokens.ErrRefreshReused
}

// Purge deletes tokens that expired more than a day ago and returns how
// many. Expired tokens are refused anyway; a day of grace keeps a reuse
// just after expiry detectable.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'`)
	if err != nil {
		return 0, fmt.Errorf("pgtokens.Purge: %w", err)
	}
	return tag.RowsAffected(), nil
}
