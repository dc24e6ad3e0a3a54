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
)

// Deals reads deal streams.
type Deals struct {
	Store events.Store
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
func (d Deals) DealAt(ctx context.Context, org, id uuid.UUID, role crm.Role, version int, asOf time.Time) (At, error) {
	// The whole stream: whether the deal is deleted now decides who may
	// see its past.
	evs, err := d.Store.Load(ctx, org, id, events.LoadOptions{})
	if err != nil {
		return At{}, fmt.Errorf("audit.DealAt: %w", err)
	}
	var now aggregates.Deal
	aggregates.Replay(&now, evs)
	if now.ID != id {
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s not found", id)
	}
	if err := mayReadDeleted(now, role); err != nil {
		return At{}, err
	}
	// A version past the current one is not the past: say so, with the
	// count, rather than "did not exist" (the deal does exist).
	if last := evs[len(evs)-1].Version; version > last {
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s has %d versions; version %d does not exist yet", id, last, version)
	}
	n := 0
	for n < len(evs) && (version <= 0 || evs[n].Version <= version) && (asOf.IsZero() || !evs[n].OccurredAt.After(asOf)) {
		n++
	}
	var deal aggregates.Deal
	aggregates.Replay(&deal, evs[:n])
	switch {
	case deal.ID != id && asOf.IsZero():
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s did not exist at version %d", id, version)
	case deal.ID != id:
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s did not exist yet at %s (it was created at %s)",
			id, asOf.UTC().Format(time.RFC3339Nano), evs[0].OccurredAt.UTC().Format(time.RFC3339Nano))
	case deal.Deleted:
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s was deleted at that point (version %d)", id, deal.Version)
	case version > 0 && deal.Version < version:
		return At{}, crm.Errorf(crm.CodeDealNotFound, "deal %s has no version %d", id, version)
	}
	return At{Deal: deal, AsOfVersion: deal.Version}, nil
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
	evs, err := d.Store.Load(ctx, org, id, events.LoadOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("audit.History: %w", err)
	}
	var deal aggregates.Deal
	aggregates.Replay(&deal, evs)
	if deal.ID != id {
		return nil, 0, crm.Errorf(crm.CodeDealNotFound, "deal %s not found", id)
	}
	if err := mayReadDeleted(deal, role); err != nil {
		return nil, 0, err
	}
	total := len(evs)
	from := min((page-1)*pageSize, total)
	to := min(from+pageSize, total)
	out := make([]Entry, 0, to-from)
	for _, e := range evs[from:to] {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Entry{EventID: e.ID, Version: e.Version, Type: e.Type, Data: data,
			ActorID: e.Metadata.ActorID, OccurredAt: e.OccurredAt})
	}
	return out, total, nil
}
