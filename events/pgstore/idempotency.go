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

// RecordIdempotency stores rec in tx, the transaction of a change made
// outside the event log (webhook subscriptions), as Append stores it
// with events: a key whose record has expired is taken over; a live one
// fails with events.ErrIdempotencyKeyUsed (the request raced another
// with the same key, whose answer the caller replays). rec's Position
// is kept as given (0 for a change that appended no event).
func RecordIdempotency(ctx context.Context, tx pgx.Tx, rec *events.IdempotencyRecord) error {
	headers, err := json.Marshal(rec.Headers)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO idempotency_keys (user_id, key, request_hash, status, headers, body, position)
		VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7)
		ON CONFLICT (user_id, key) DO UPDATE
		SET request_hash = excluded.request_hash, status = excluded.status, headers = excluded.headers,
		    body = excluded.body, position = excluded.position, created_at = now()
		WHERE idempotency_keys.created_at < now() - $8::interval`,
		rec.UserID, rec.Key, rec.RequestHash, rec.Status, string(headers), rec.Body, rec.Position, ttl())
	if err != nil {
		return fmt.Errorf("pgstore.RecordIdempotency: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return events.ErrIdempotencyKeyUsed
	}
	return nil
}

// PurgeIdempotency deletes expired records and returns how many.
func (s *Store) PurgeIdempotency(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval`, ttl())
	return tag.RowsAffected(), err
}

func ttl() string { return fmt.Sprintf("%d seconds", int(IdempotencyTTL.Seconds())) }
