package audit

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// SnapshotEvery is the distance between two snapshots of a deal, in
// versions: a replay folds at most this many events past the nearest one.
const SnapshotEvery = 100

// SnapshotFormat names the shape of aggregates.Deal and what its Apply
// does. Bump it whenever either changes: snapshots of another format are
// ignored (and replaced as replays pass them again).
const SnapshotFormat = 1

// Snapshot is a deal's state after its events 1..Deal.Version; the zero
// Snapshot is the state before its first event.
type Snapshot struct {
	Deal aggregates.Deal
	// MaxOccurredAt is the latest occurred_at of those events: a replay
	// "as of T" may start here when it is not after T.
	MaxOccurredAt time.Time
}

// reaches reports whether a replay up to version (when > 0) or asOf may
// start from s: s lies at or before that point.
func (s Snapshot) reaches(version int, asOf time.Time) bool {
	if s.Deal.Version == 0 {
		return true
	}
	if version > 0 {
		return version >= s.Deal.Version
	}
	return !s.MaxOccurredAt.After(asOf)
}

// Snapshots stores deal snapshots (a cache of the log: see migrations
// 00050).
type Snapshots interface {
	// Nearest returns the latest snapshot of deal id of org, of this
	// binary's SnapshotFormat, with Version ≤ upTo (when > 0) and
	// MaxOccurredAt ≤ asOf (when set); ok is false when there is none.
	Nearest(ctx context.Context, org, id uuid.UUID, upTo int, asOf time.Time) (s Snapshot, ok bool, err error)
	// Save stores snapshots of deal id; those already stored are kept.
	Save(ctx context.Context, org, id uuid.UUID, snaps []Snapshot) error
}

// fold replays events from a snapshot and notes the snapshots it passes.
type fold struct {
	Snapshot
	passed []Snapshot
}

func (f *fold) apply(e events.Event) {
	f.Deal.Apply(e)
	if e.OccurredAt.After(f.MaxOccurredAt) {
		f.MaxOccurredAt = e.OccurredAt
	}
	if e.Version%SnapshotEvery == 0 {
		f.passed = append(f.passed, f.Snapshot)
	}
}
