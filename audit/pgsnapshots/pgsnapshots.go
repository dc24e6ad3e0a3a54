// Package pgsnapshots keeps audit's deal snapshots in PostgreSQL (the
// deal_snapshots table of migrations/00050).
package pgsnapshots

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/audit"
)

// Store implements audit.Snapshots.
type Store struct{ pool *pgxpool.Pool }

var _ audit.Snapshots = Store{}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) Store { return Store{pool: pool} }

const nearestSQL = `
SELECT state, max_occurred_at FROM deal_snapshots
WHERE tenant_id = $1 AND deal_id = $2 AND format = $3
  AND ($4 = 0 OR version <= $4)
  AND ($5::timestamptz IS NULL OR max_occurred_at <= $5)
ORDER BY version DESC
LIMIT 1`

// Nearest implements audit.Snapshots.
func (s Store) Nearest(ctx context.Context, org, id uuid.UUID, upTo int, asOf time.Time) (audit.Snapshot, bool, error) {
	var at *time.Time
	if !asOf.IsZero() {
		at = &asOf
	}
	var snap audit.Snapshot
	var state []byte
	err := s.pool.QueryRow(ctx, nearestSQL, org, id, audit.SnapshotFormat, upTo, at).Scan(&state, &snap.MaxOccurredAt)
	if err == pgx.ErrNoRows {
		return audit.Snapshot{}, false, nil
	}
	if err != nil {
		return audit.Snapshot{}, false, fmt.Errorf("pgsnapshots: nearest: %w", err)
	}
	if err := json.Unmarshal(state, &snap.Deal); err != nil {
		// A snapshot this binary cannot read is as good as none.
		return audit.Snapshot{}, false, nil
	}
	snap.MaxOccurredAt = snap.MaxOccurredAt.UTC()
	return snap, true, nil
}

// saveSQL writes snapshots, replacing only those of another format. It
// runs with synchronous_commit off: a snapshot lost in a crash is
// written again by the next replay.
const saveSQL = `
INSERT INTO deal_snapshots (tenant_id, deal_id, version, format, max_occurred_at, state)
SELECT $1, $2, v, $3, at, st FROM unnest($4::int[], $5::timestamptz[], $6::jsonb[]) AS u(v, at, st)
ON CONFLICT (tenant_id, deal_id, version) DO UPDATE
SET format = EXCLUDED.format, max_occurred_at = EXCLUDED.max_occurred_at, state = EXCLUDED.state
WHERE deal_snapshots.format <> EXCLUDED.format`

// Save implements audit.Snapshots.
func (s Store) Save(ctx context.Context, org, id uuid.UUID, snaps []audit.Snapshot) error {
	versions := make([]int32, len(snaps))
	ats := make([]time.Time, len(snaps))
	states := make([]json.RawMessage, len(snaps))
	for i, sn := range snaps {
		b, err := json.Marshal(sn.Deal)
		if err != nil {
			return err
		}
		versions[i], ats[i], states[i] = int32(sn.Deal.Version), sn.MaxOccurredAt, b
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	b.Queue(saveSQL, org, id, audit.SnapshotFormat, versions, ats, states)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pgsnapshots: save: %w", err)
	}
	return nil
}
