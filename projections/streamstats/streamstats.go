// Package streamstats is the smallest real projector: per stream, how many
// events it holds and its last version. It proves the pipeline end to end
// (exactly-once effect, ordering, restarts) and feeds /ready's sanity.
package streamstats

import (
	"context"

	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
	"example.com/crm/projections"
)

// Name is the projector's consumer group (API: never rename).
const Name = "stream_stats"

// Projector returns the stream-statistics projector over every event type
// in reg.
func Projector(reg *events.Registry) projections.Projector {
	return projections.Projector{Name: Name, Handlers: projections.OnEvery(reg, apply)}
}

// apply counts e. The version guard makes a redelivered event a no-op.
func apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO stream_stats (tenant_id, stream_id, stream_type, event_count, last_version)
		VALUES ($1, $2, $3, 1, $4)
		ON CONFLICT (tenant_id, stream_id) DO UPDATE
		SET event_count = stream_stats.event_count + 1, last_version = excluded.last_version
		WHERE stream_stats.last_version < excluded.last_version`,
		e.TenantID, e.StreamID, e.StreamType, e.Version)
	return err
}
