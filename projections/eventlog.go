package projections

import (
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// topic is the one watermill topic: the events table. Every projector
// reads all of it, in order, so ordering across event types is kept.
const topic = "events"

// checkpointTable holds one row per projector, in the shape of
// watermill-sql's DefaultPostgreSQLOffsetsAdapter.
const checkpointTable = "projector_checkpoints"

func offsetsAdapter() wsql.OffsetsAdapter {
	return wsql.DefaultPostgreSQLOffsetsAdapter{
		GenerateMessagesOffsetsTableName: func(string) string { return checkpointTable },
	}
}

// eventLogSchema is a watermill-sql SchemaAdapter over the events table
// written by events/pgstore. It only reads: events are appended by the
// store, never published through watermill. Its select is watermill-sql's
// own PostgreSQL query (transaction_id, position order, below the snapshot
// xmin) pointed at our columns.
type eventLogSchema struct {
	batchSize int
	// seenXID is the highest transaction id handed to the subscriber; the
	// waker compares it with the newest committed append to tell "idle"
	// from "held back by an older open transaction".
	seenXID *atomic.Uint64
}

func (s eventLogSchema) SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil // the migrations own the schema
}

func (s eventLogSchema) InsertQuery(wsql.InsertQueryParams) (wsql.Query, error) {
	return wsql.Query{}, errors.New("projections: the event log is appended by the event store, not published")
}

func (s eventLogSchema) SelectQuery(p wsql.SelectQueryParams) (wsql.Query, error) {
	next, err := p.OffsetsAdapter.NextOffsetQuery(wsql.NextOffsetQueryParams{Topic: p.Topic, ConsumerGroup: p.ConsumerGroup})
	if err != nil {
		return wsql.Query{}, err
	}
	q := `
	SELECT * FROM (
		WITH last_processed AS (` + next.Query + `)
		SELECT position, transaction_id, event_id, payload, metadata, event_type, schema_version,
		       tenant_id, stream_type, stream_id, version, occurred_at, recorded_at
		FROM events
		WHERE (
			(transaction_id = (SELECT last_processed_transaction_id FROM last_processed)
			 AND position > (SELECT offset_acked FROM last_processed))
			OR transaction_id > (SELECT last_processed_transaction_id FROM last_processed)
		)
		AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	) AS e
	ORDER BY transaction_id ASC, position ASC
	LIMIT ` + strconv.Itoa(s.batchSize)
	return wsql.Query{Query: q, Args: next.Args}, nil
}

func (s eventLogSchema) UnmarshalMessage(p wsql.UnmarshalMessageParams) (wsql.Row, error) {
	var (
		r                      wsql.Row
		xid                    wsql.XID8
		eventID                string
		eventType, streamType  string
		schemaVersion, version int
		tenant, stream         string
		occurred, recorded     time.Time
	)
	if err := p.Row.Scan(&r.Offset, &xid, &eventID, &r.Payload, &r.Metadata, &eventType, &schemaVersion,
		&tenant, &streamType, &stream, &version, &occurred, &recorded); err != nil {
		return wsql.Row{}, fmt.Errorf("projections: scan event: %w", err)
	}
	r.UUID = []byte(eventID)
	msg := message.NewMessage(eventID, r.Payload)
	msg.Metadata = message.Metadata{
		mdName:          eventType,
		mdSchemaVersion: strconv.Itoa(schemaVersion),
		mdTenant:        tenant,
		mdStreamType:    streamType,
		mdStreamID:      stream,
		mdVersion:       strconv.Itoa(version),
		mdOccurredAt:    occurred.UTC().Format(time.RFC3339Nano),
		mdRecordedAt:    recorded.UTC().Format(time.RFC3339Nano),
		mdPosition:      strconv.FormatInt(r.Offset, 10),
		mdTransaction:   strconv.FormatUint(uint64(xid), 10),
		mdMeta:          string(r.Metadata),
	}
	r.Msg = msg
	r.ExtraData = map[string]any{"transaction_id": xid}
	if s.seenXID != nil {
		for {
			cur := s.seenXID.Load()
			if uint64(xid) <= cur || s.seenXID.CompareAndSwap(cur, uint64(xid)) {
				break
			}
		}
	}
	return r, nil
}

func (s eventLogSchema) SubscribeIsolationLevel() stdsql.IsolationLevel {
	return stdsql.LevelRepeatableRead
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
