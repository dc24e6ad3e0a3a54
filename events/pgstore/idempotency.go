package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
)

// IdempotencyTTL is how long a recorded response is replayed.
const IdempotencyTTL = 24 * time.Hour

// Idempotency returns the live record of (user, key), or nil.
func (s *Store) Idempotency(ctx context.Context, userID uuid.UUID, key string) (*events.IdempotencyRecord, error) {
	r := events.IdempotencyRecord{UserID: userID, Key: key}
	var headers []byte
	err := s.pool.QueryRow(ctx, `
		SELECT request_hash, status, headers, body, position FROM idempotency_keys
		WHERE user_id = $1 AND key = $2 AND created_at >= now() - $3::interval`,
		userID, key, ttl()).
		Scan(&r.RequestHash, &r.Status, &headers, &r.Body, &r.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore.Idempotency: %w", err)
	}
	if err := json.Unmarshal(headers, &r.Headers); err != nil {
		return nil, fmt.Errorf("pgstore.Idempotency: %w", err)
	}
	return &r, nil
}

// PurgeIdempotency deletes expired records and returns how many.
func (s *Store) PurgeIdempotency(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval`, ttl())
	return tag.RowsAffected(), err
}

func ttl() string { return fmt.Sprintf("%d seconds", int(IdempotencyTTL.Seconds())) }
