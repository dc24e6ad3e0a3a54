// Package audit answers "what did it look like then?" from the event log
// itself, never from a read model: a deal as of a version or a moment is
// rebuilt by replaying its stream, and its history is the stream.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
	"example.com/crm/readapi"
)

// Deals reads deal streams.
type Deals struct {
	Store events.Store
	// Snapshots, when set, holds deal states every SnapshotEvery
	// versions: a replay starts from the nearest one, and writes those it
	// passes that are missing. Without it every replay starts from the
	// first event.
	Snapshots Snapshots
}

// At is a deal rebuilt as of a point in its history.
type At struct {
	Deal aggregates.Deal
	// AsOfVersion is the version of the last event replayed.
	AsOfVersion int
}

// DealAt replays deal id of org up to version (when > 0) or up to asOf
// (when not zero). A deal that did not exist yet, was deleted by then, or
// a version past the deal's current one, is DEAL_NOT_FOUND with a detail
// saying which. Once a deal is deleted, its past is for owners and
// admins only, as its history is (FORBIDDEN for role manager or member).
//
// "Up to asOf" is the longest run of the stream's first events that all
// occurred at or before asOf, read at the API's resolution: events keep
// the microsecond, the API writes instants to the millisecond
// (readapi.TimeLayout), so an event counts when its timestamp as the API
// shows it is not after asOf. Set to a deal's own created_at, asOf thus
// finds the deal's first version instead of missing it by a fraction of
// a millisecond.
func (d Deals) DealAt(ctx context.Context, org, id uuid.UUID, role crm.Role, version int, asOf time.Time) (At, error) {
	asked := asOf
	if !asOf.IsZero() {
		asOf = asOf.Truncate(time.Millisecond).Add(time.Millisecond - time.Nanosecond)
	}
	// The deal now: whether it is deleted decides who may see its past.
	now, err := d.readable(ctx, org, id, role)
	if err != nil {
		return At{}, fmt.Errorf("audit.DealAt: %w", err)
	}
	// A version past the current one is not the past: say so, with the
	// count, rather than "did not exist" (the deal does exist).
	if last := now.deal.Version; version > last {
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s has %d versions; version %d does not exist yet", id, last, version)
	}
	// The past: from the snapshot the current state started at when the
	// point lies after it, else from the nearest snapshot before it.
	start, evs := now.base, now.tail
	if !start.reaches(version, asOf) {
		if start, err = d.nearest(ctx, org, id, version, asOf); err != nil {
			return At{}, fmt.Errorf("audit.DealAt: %w", err)
		}
		upTo := now.base.Deal.Version
		if version > 0 {
			upTo = version
		}
		if evs, err = d.Store.Load(ctx, org, id, events.LoadOptions{AfterVersion: start.Deal.Version, UpToVersion: upTo}); err != nil {
			return At{}, fmt.Errorf("audit.DealAt: %w", err)
		}
	}
	past := fold{Snapshot: start}
	for _, e := range evs {
		if (version > 0 && e.Version > version) || (!asOf.IsZero() && e.OccurredAt.After(asOf)) {
			break
		}
		past.apply(e)
	}
	deal := past.Deal
	switch {
	case deal.ID != id && asOf.IsZero():
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s did not exist at version %d", id, version)
	case deal.ID != id:
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s did not exist yet at %s (it was created at %s)",
			id, asked.UTC().Format(readapi.TimeLayout), now.deal.CreatedAt.UTC().Format(readapi.TimeLayout))
	case deal.Deleted:
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s was deleted at that point (version %d)", id, deal.Version)
	case version > 0 && deal.Version < version:
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s has no version %d", id, version)
	}
	return At{Deal: deal, AsOfVersion: deal.Version}, nil
}

// now is a deal's current state, the snapshot it was folded from and
// the events after that snapshot.
type now struct {
	deal aggregates.Deal
	base Snapshot
	tail []events.Event
}

// MayRead is what DealAt and History answer before they read the past:
// DEAL_NOT_FOUND when the organization has no deal id, FORBIDDEN when it
// was deleted and role is below admin, nil otherwise. The API asks it
// when their query parameters are refused, so that those errors come
// first, as API.md orders the checks.
func (d Deals) MayRead(ctx context.Context, org, id uuid.UUID, role crm.Role) error {
	if _, err := d.readable(ctx, org, id, role); err != nil {
		return fmt.Errorf("audit.MayRead: %w", err)
	}
	return nil
}

// readable is the deal now, when role may read its past (see MayRead).
func (d Deals) readable(ctx context.Context, org, id uuid.UUID, role crm.Role) (now, error) {
	n, err := d.current(ctx, org, id)
	if err != nil {
		return now{}, err
	}
	if n.deal.ID != id {
		return now{}, crm.Errorf(crm.CodeDealNotFound, "deal %s not found", id)
	}
	if err := mayReadDeleted(n.deal, role); err != nil {
		return now{}, err
	}
	return n, nil
}

// current folds deal id from its latest snapshot, and saves the
// snapshots the fold passed.
func (d Deals) current(ctx context.Context, org, id uuid.UUID) (now, error) {
	base, err := d.nearest(ctx, org, id, 0, time.Time{})
	if err != nil {
		return now{}, err
	}
	tail, err := d.Store.Load(ctx, org, id, events.LoadOptions{AfterVersion: base.Deal.Version})
	if err != nil {
		return now{}, err
	}
	f := fold{Snapshot: base}
	for _, e := range tail {
		f.apply(e)
	}
	if len(f.passed) > 0 && d.Snapshots != nil {
		// A snapshot is a cache: failing to write one costs the next
		// replay some time, never this answer.
		_ = d.Snapshots.Save(ctx, org, id, f.passed)
	}
	return now{deal: f.Deal, base: base, tail: tail}, nil
}

// nearest is the latest snapshot from which a replay up to version (when
// > 0) or asOf (when set) may start: the zero Snapshot (the start of the
// stream) when there is none.
func (d Deals) nearest(ctx context.Context, org, id uuid.UUID, version int, asOf time.Time) (Snapshot, error) {
	if d.Snapshots == nil {
		return Snapshot{}, nil
	}
	s, ok, err := d.Snapshots.Nearest(ctx, org, id, version, asOf)
	if err != nil || !ok {
		return Snapshot{}, err
	}
	return s, nil
}

// mayReadDeleted refuses the past of a deleted deal to roles below admin.
func mayReadDeleted(deal aggregates.Deal, role crm.Role) error {
	if deal.Deleted && role != crm.RoleOwner && role != crm.RoleAdmin {
		return crm.Errorf(crm.CodeForbidden, "the past of a deleted deal is for owners and admins")
	}
	return nil
}

// Entry is one event of a deal's history as the API shows it.
type Entry struct {
	EventID    uuid.UUID       `json:"event_id"`
	Version    int             `json:"version"`
	Type       string          `json:"type"`
	Data       json.RawMessage `json:"data"`
	ActorID    *uuid.UUID      `json:"actor_id"`
	OccurredAt time.Time       `json:"occurred_at"`
}

// History returns one page of deal id's events, oldest first, and their
// total. A deleted deal's history is for owners and admins only.
func (d Deals) History(ctx context.Context, org, id uuid.UUID, role crm.Role, page, pageSize int) ([]Entry, int, error) {
	now, err := d.readable(ctx, org, id, role)
	if err != nil {
		return nil, 0, fmt.Errorf("audit.History: %w", err)
	}
	total := now.deal.Version
	from := min((page-1)*pageSize, total)
	to := min(from+pageSize, total)
	var evs []events.Event
	if base := now.base.Deal.Version; from >= base {
		evs = now.tail[from-base : to-base]
	} else if evs, err = d.Store.Load(ctx, org, id, events.LoadOptions{AfterVersion: from, UpToVersion: to}); err != nil {
		return nil, 0, fmt.Errorf("audit.History: %w", err)
	}
	out := make([]Entry, 0, len(evs))
	for _, e := range evs {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Entry{EventID: e.ID, Version: e.Version, Type: e.Type, Data: data,
			ActorID: e.Metadata.ActorID, OccurredAt: e.OccurredAt})
	}
	return out, total, nil
}
