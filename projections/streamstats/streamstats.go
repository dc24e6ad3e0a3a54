// Package streamstats is the smallest real projector: per stream, how many
// events it holds and its last version. It proves the pipeline end to end
// (exactly-once effect, ordering, restarts, rebuilds) and needs no
// payloads, so it reads every event whatever its type.
package streamstats

import (
	"github.com/google/uuid"

	"example.com/crm/events"
	"example.com/crm/projections"
)

// Name is the projector's checkpoint key (API: never rename).
const Name = "stream_stats"

// Row is one stream's statistics.
type Row struct {
	TenantID    uuid.UUID `db:"tenant_id" json:"tenant_id"`
	StreamID    uuid.UUID `db:"stream_id" json:"stream_id"`
	StreamType  string    `db:"stream_type" json:"stream_type"`
	EventCount  int       `db:"event_count" json:"event_count"`
	LastVersion int       `db:"last_version" json:"last_version"`
}

var table = projections.NewTable("stream_stats", [2]string{"tenant_id", "stream_id"},
	func(r *Row) projections.Key { return projections.Key{Org: r.TenantID, ID: r.StreamID} })

// Apply counts e into r (nil: the stream's first event seen). The version
// guard makes a redelivered event a no-op.
func Apply(r *Row, e events.Event) *Row {
	if r == nil {
		return &Row{TenantID: e.TenantID, StreamID: e.StreamID, StreamType: e.StreamType, EventCount: 1, LastVersion: e.Version}
	}
	if e.Version <= r.LastVersion {
		return r
	}
	next := *r
	next.EventCount++
	next.LastVersion = e.Version
	return &next
}

// Projector returns the stream-statistics projector: every stream, and
// no payload read (only the envelope).
func Projector(*events.Registry) projections.Projector {
	return projections.Projector{Name: Name, Model: &projections.RowModel[Row]{
		Table:  table,
		Reduce: func(r *Row, e events.Event) (*Row, error) { return Apply(r, e), nil },
	}}
}
