package webhooks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/feed"
	"example.com/crm/readapi"
)

// Record renders, for a change's outcome v, the answer a request's
// Idempotency-Key replays (commands.IdempotencyRecord); the change stores
// it in its own transaction, so that a key is taken exactly when the
// change is made. A nil Record, or a nil record, stores nothing.
type Record[T any] func(v T) (*events.IdempotencyRecord, error)

// recordIn stores record's rendering of v in tx.
func recordIn[T any](ctx context.Context, tx pgx.Tx, record Record[T], v T) error {
	if record == nil {
		return nil
	}
	rec, err := record(v)
	if err != nil || rec == nil {
		return err
	}
	return pgstore.RecordIdempotency(ctx, tx, rec)
}

// RotationWindow is how long the previous secret keeps signing after a
// rotation: deliveries carry both signatures meanwhile, so receivers can
// switch to the new secret at their own pace.
const RotationWindow = 24 * time.Hour

// Subscription is a webhook subscription as the API shows it (never with
// its secret).
type Subscription struct {
	ID         uuid.UUID `json:"id"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types"`
	Active     bool      `json:"active"`
	// Version moves with every change a client can see (see Update), and
	// is what If-Match is checked against.
	Version   int          `json:"version"`
	CreatedAt readapi.Time `json:"created_at"`
	UpdatedAt readapi.Time `json:"updated_at"`
}

// Created is a new subscription with its secret, shown once.
type Created struct {
	Subscription
	Secret string `json:"secret"`
}

// Delivery is one event's delivery to a subscription, with the outcome of
// its latest attempt. Status is pending while it is being tried,
// succeeded once the receiver answered 2xx, and failed when it was given
// up (the subscription was disabled after a day of failures, a replay
// superseded it, or the event was too large to send).
type Delivery struct {
	ID             uuid.UUID     `json:"id"`
	EventID        uuid.UUID     `json:"event_id"`
	EventType      string        `json:"event_type"`
	Status         string        `json:"status"`
	Attempts       int           `json:"attempts"`
	LastStatusCode *int          `json:"last_status_code"`
	LastError      *string       `json:"last_error"`
	LatencyMS      *int          `json:"latency_ms"`
	CreatedAt      readapi.Time  `json:"created_at"`
	DeliveredAt    *readapi.Time `json:"delivered_at"`
	NextAttemptAt  *readapi.Time `json:"next_attempt_at"`
}

// Input is a new subscription.
type Input struct {
	URL        string
	EventTypes []string // validated patterns (feed.ParseTypes)
	Active     bool
}

// Patch changes a subscription; nil fields stay.
type Patch struct {
	URL        *string
	EventTypes []string
	Active     *bool
}

// Store keeps subscriptions and their delivery log. Every method is
// scoped to one organization: another organization's subscription is
// NOT_FOUND.
type Store struct {
	Pool *pgxpool.Pool
	// Changed, when set, is called after a change the dispatcher should
	// see at once (a new, re-enabled or replayed subscription).
	Changed func()
}

func notFound(id uuid.UUID) error { return crm.Errorf(crm.CodeNotFound, "webhook %s not found", id) }

// checkVersion answers VERSION_MISMATCH when the client's If-Match
// (ifMatch; nil for none or *) names another version than the current.
func checkVersion(ifMatch *int, current int) error {
	if ifMatch != nil && *ifMatch != current {
		return crm.Errorf(crm.CodeVersionMismatch, "the webhook is at version %d, not %d", current, *ifMatch)
	}
	return nil
}

func (s Store) changed() {
	if s.Changed != nil {
		s.Changed()
	}
}

const subscriptionColumns = `id, url, event_types, active, version, created_at, updated_at`

func scanSubscription(row pgx.Row) (Subscription, error) {
	var v Subscription
	var created, updated time.Time
	if err := row.Scan(&v.ID, &v.URL, &v.EventTypes, &v.Active, &v.Version, &created, &updated); err != nil {
		return Subscription{}, err
	}
	v.CreatedAt, v.UpdatedAt = readapi.NewTime(created.UTC()), readapi.NewTime(updated.UTC())
	return v, nil
}

// Create stores a new subscription with a fresh secret. Its cursor starts
// at the organization's last event below the snapshot horizon: it
// receives the events committed from about now on, none skipped (a few
// committed just before may come too), and POST /webhooks/{id}/replay
// delivers older ones.
func (s Store) Create(ctx context.Context, org uuid.UUID, in Input, record Record[Created]) (Created, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Created{}, err
	}
	secret := NewSecret()
	var c Created
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		v, err := scanSubscription(tx.QueryRow(ctx, `
WITH last AS (
    SELECT transaction_id, position FROM events
    WHERE tenant_id = $1 AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY transaction_id DESC, position DESC LIMIT 1)
INSERT INTO webhook_subscriptions (org_id, id, url, event_types, active, secret, cursor_xid, cursor_position)
SELECT $1, $2, $3, $4, $5, $6, COALESCE((SELECT transaction_id FROM last), '0'::xid8), COALESCE((SELECT position FROM last), 0)
RETURNING `+subscriptionColumns, org, id, in.URL, in.EventTypes, in.Active, secret))
		if err != nil {
			return err
		}
		c = Created{Subscription: v, Secret: secret}
		return recordIn(ctx, tx, record, c)
	})
	if errors.Is(err, events.ErrIdempotencyKeyUsed) {
		return Created{}, err
	}
	if err != nil {
		return Created{}, fmt.Errorf("webhooks.Create: %w", err)
	}
	s.changed()
	return c, nil
}

// List returns a page of the organization's subscriptions, oldest first.
func (s Store) List(ctx context.Context, org uuid.UUID, page, pageSize int) (readapi.List[Subscription], error) {
	out := readapi.List[Subscription]{Items: []Subscription{}, Page: page, PageSize: pageSize}
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_subscriptions WHERE org_id = $1`, org).Scan(&out.Total); err != nil {
		return out, fmt.Errorf("webhooks.List: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions WHERE org_id = $1
		ORDER BY created_at, id LIMIT $2 OFFSET $3`, org, pageSize, int64(page-1)*int64(pageSize))
	if err != nil {
		return out, fmt.Errorf("webhooks.List: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scanSubscription(rows)
		if err != nil {
			return out, fmt.Errorf("webhooks.List: %w", err)
		}
		out.Items = append(out.Items, v)
	}
	return out, rows.Err()
}

// Get returns one subscription, or NOT_FOUND.
func (s Store) Get(ctx context.Context, org, id uuid.UUID) (Subscription, error) {
	v, err := scanSubscription(s.Pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions WHERE org_id = $1 AND id = $2`, org, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, notFound(id)
	}
	return v, err
}

// Update applies p when ifMatch (nil: any) names the current version:
// VERSION_MISMATCH otherwise. A patch that changes nothing leaves the
// subscription as it is, version and updated_at included; any other moves
// the version by one. Re-enabling a subscription (active false → true)
// clears its failure streak: it gets a fresh day before it is disabled
// again, and its next attempt is due at once.
func (s Store) Update(ctx context.Context, org, id uuid.UUID, p Patch, ifMatch *int) (Subscription, error) {
	var v Subscription
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		cur, err := scanSubscription(tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions
			WHERE org_id = $1 AND id = $2 FOR UPDATE`, org, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(id)
		}
		if err != nil {
			return err
		}
		if err := checkVersion(ifMatch, cur.Version); err != nil {
			return err
		}
		if !p.changes(cur) {
			v = cur
			return nil
		}
		v, err = scanSubscription(tx.QueryRow(ctx, `
UPDATE webhook_subscriptions SET
    url = COALESCE($3, url),
    event_types = COALESCE($4, event_types),
    failing_since = CASE WHEN $5::boolean AND NOT active THEN NULL ELSE failing_since END,
    next_attempt_at = CASE WHEN $5::boolean AND NOT active THEN NULL ELSE next_attempt_at END,
    active = COALESCE($5, active),
    version = version + 1,
    updated_at = now()
WHERE org_id = $1 AND id = $2
RETURNING `+subscriptionColumns, org, id, p.URL, p.EventTypes, p.Active))
		return err
	})
	var apiErr *crm.Error
	if errors.As(err, &apiErr) {
		return Subscription{}, err
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("webhooks.Update: %w", err)
	}
	s.changed()
	return v, nil
}

// changes reports whether p changes anything of cur.
func (p Patch) changes(cur Subscription) bool {
	return (p.URL != nil && *p.URL != cur.URL) ||
		(p.EventTypes != nil && !slices.Equal(p.EventTypes, cur.EventTypes)) ||
		(p.Active != nil && *p.Active != cur.Active)
}

// Delete removes a subscription and its delivery log when ifMatch (nil:
// any) names its current version: VERSION_MISMATCH otherwise.
func (s Store) Delete(ctx context.Context, org, id uuid.UUID, ifMatch *int) error {
	var current *int
	var deleted bool
	err := s.Pool.QueryRow(ctx, `
WITH cur AS (SELECT version FROM webhook_subscriptions WHERE org_id = $1 AND id = $2),
gone AS (DELETE FROM webhook_subscriptions WHERE org_id = $1 AND id = $2 AND ($3::integer IS NULL OR version = $3) RETURNING 1)
SELECT (SELECT version FROM cur), EXISTS (SELECT FROM gone)`, org, id, ifMatch).Scan(&current, &deleted)
	switch {
	case err != nil:
		return fmt.Errorf("webhooks.Delete: %w", err)
	case deleted:
		return nil
	case current == nil:
		return notFound(id)
	}
	if err := checkVersion(ifMatch, *current); err != nil {
		return err
	}
	return notFound(id) // deleted meanwhile
}

// Rotated is a subscription's new secret, and the version the rotation
// gave it.
type Rotated struct {
	Secret  string
	Version int
}

// RotateSecret gives the subscription a new secret and returns it. The
// current one keeps signing for RotationWindow (deliveries carry both
// signatures); a second rotation within the window drops the oldest.
func (s Store) RotateSecret(ctx context.Context, org, id uuid.UUID, record Record[Rotated]) (Rotated, error) {
	r := Rotated{Secret: NewSecret()}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
UPDATE webhook_subscriptions SET previous_secret = secret, previous_secret_until = now() + $4::interval,
    secret = $3, version = version + 1, updated_at = now()
WHERE org_id = $1 AND id = $2
RETURNING version`, org, id, r.Secret, strconv.FormatInt(int64(RotationWindow/time.Second), 10)+" seconds").Scan(&r.Version)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(id)
		}
		if err != nil {
			return fmt.Errorf("webhooks.RotateSecret: %w", err)
		}
		return recordIn(ctx, tx, record, r)
	})
	if err != nil {
		return Rotated{}, err
	}
	return r, nil
}

// Replay moves the subscription's cursor to after, so that every
// subscribed event after it is delivered again, in order. The delivery
// under way, if any, is marked failed ("superseded by a replay"); the
// failure streak is cleared and the subscription re-enabled.
func (s Store) Replay(ctx context.Context, org, id uuid.UUID, after feed.Cursor, record Record[Subscription]) (Subscription, error) {
	var v Subscription
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
UPDATE webhook_deliveries d SET status = 'failed', last_error = 'superseded by a replay', next_attempt_at = NULL
FROM webhook_subscriptions w
WHERE w.org_id = $1 AND w.id = $2 AND d.org_id = w.org_id AND d.subscription_id = w.id
  AND d.id = w.pending_delivery_id AND d.status = 'pending'`, org, id)
		if err != nil {
			return err
		}
		v, err = scanSubscription(tx.QueryRow(ctx, `
UPDATE webhook_subscriptions SET cursor_xid = $3::text::xid8, cursor_position = $4,
    pending_delivery_id = NULL, pending_event_id = NULL, next_attempt_at = NULL, failing_since = NULL,
    active = true, version = version + 1, updated_at = now()
WHERE org_id = $1 AND id = $2
RETURNING `+subscriptionColumns, org, id, strconv.FormatUint(after.TransactionID, 10), after.Position))
		if err != nil {
			return err
		}
		return recordIn(ctx, tx, record, v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, notFound(id)
	}
	if errors.Is(err, events.ErrIdempotencyKeyUsed) {
		return Subscription{}, err
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("webhooks.Replay: %w", err)
	}
	s.changed()
	return v, nil
}

// Deliveries returns a page of the subscription's delivery log, newest
// first (NOT_FOUND for an unknown subscription).
func (s Store) Deliveries(ctx context.Context, org, id uuid.UUID, page, pageSize int) (readapi.List[Delivery], error) {
	out := readapi.List[Delivery]{Items: []Delivery{}, Page: page, PageSize: pageSize}
	if _, err := s.Get(ctx, org, id); err != nil {
		return out, err
	}
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE org_id = $1 AND subscription_id = $2`, org, id).Scan(&out.Total); err != nil {
		return out, fmt.Errorf("webhooks.Deliveries: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `
SELECT id, event_id, event_type, status, attempts, last_status_code, last_error, latency_ms, created_at, delivered_at, next_attempt_at
FROM webhook_deliveries WHERE org_id = $1 AND subscription_id = $2
ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`, org, id, pageSize, int64(page-1)*int64(pageSize))
	if err != nil {
		return out, fmt.Errorf("webhooks.Deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d                  Delivery
			created            time.Time
			delivered, nextAtt *time.Time
		)
		if err := rows.Scan(&d.ID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.LastStatusCode, &d.LastError,
			&d.LatencyMS, &created, &delivered, &nextAtt); err != nil {
			return out, fmt.Errorf("webhooks.Deliveries: %w", err)
		}
		d.CreatedAt, d.DeliveredAt, d.NextAttemptAt = readapi.NewTime(created.UTC()), optTime(delivered), optTime(nextAtt)
		out.Items = append(out.Items, d)
	}
	return out, rows.Err()
}

func optTime(t *time.Time) *readapi.Time {
	if t == nil {
		return nil
	}
	v := readapi.NewTime(t.UTC())
	return &v
}
