package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/readapi"
)

// MaxLimit is the most events one read returns.
const MaxLimit = 1000

// scanPerItem bounds the work of a filtered read: it examines at most
// scanPerItem × limit events (at least minScan), so a rare type does not
// make one request walk the organization's whole history. The cursor it
// returns moves past what it examined, matched or not.
const (
	scanPerItem = 10
	minScan     = 1000
)

// Reader reads organizations' events.
type Reader struct {
	Pool     *pgxpool.Pool
	Registry *events.Registry
	// HoldBack bounds how long a read waits for the transactions that
	// were running when it began (0: the default HoldBack; negative: no
	// wait, for a follower that reads again anyway, such as webhook
	// delivery).
	HoldBack time.Duration
	// Hub, when set, wakes Wait after commits; without it Wait polls.
	Hub interface {
		Subscribe() (<-chan struct{}, func())
	}
}

// readSQL walks the organization's slice of the log in projection order:
// a range scan of events_tenant_order_idx (tenant_id, transaction_id,
// position) from the cursor, below the snapshot xmin (every transaction
// there has ended: none can still commit behind the cursor), ORDER BY
// and LIMIT at the top level. The payload of an event the filter rejects
// is not sent ($5: every type; $6, $7: exact names and prefixes).
//
// The snapshot's xmin and xmax come with the events, on a row of their
// own when there are none: Read uses them to wait for the transactions
// that were running when the request began (see Read).
const readSQL = `
SELECT pg_snapshot_xmin(s.snap)::text, pg_snapshot_xmax(s.snap)::text,
       e.position, e.transaction_id::text, e.event_id, e.stream_type, e.stream_id, e.version, e.event_type,
       e.schema_version, e.payload, e.actor, e.occurred_at, e.m
FROM (SELECT pg_current_snapshot() AS snap) s
LEFT JOIN LATERAL (
  SELECT e.position, e.transaction_id, e.event_id, e.stream_type, e.stream_id, e.version, e.event_type,
         e.schema_version, CASE WHEN f.m THEN e.payload END AS payload, e.metadata->>'actor_id' AS actor,
         e.occurred_at, f.m
  FROM events e
  CROSS JOIN LATERAL (SELECT coalesce($5 OR e.event_type = ANY($6::text[]) OR e.event_type ^@ ANY($7::text[]), false) AS m) f
  WHERE e.tenant_id = $1
    AND (e.transaction_id, e.position) > ($2::text::xid8, $3::bigint)
    AND e.transaction_id < pg_snapshot_xmin(s.snap)
    AND e.stream_type <> 'user'
  ORDER BY e.transaction_id, e.position
  LIMIT $4
) e ON true
ORDER BY e.transaction_id, e.position`

// Read returns up to limit (1–MaxLimit) events of org after `after` that
// types selects, oldest first in projection order, and the cursor to read
// on from: after the last event returned, or after the last one examined
// when the filter rejected the rest (so a follower never reads them
// twice). next is after itself when nothing new has committed.
//
// A read reflects every change acknowledged before it began: events are
// read only below the snapshot xmin (so none that commits late is
// skipped), and when transactions that were already running at the start
// hold that horizon back, Read reads again as they end, for up to
// HoldBack, before answering with what it has (a transaction held open
// elsewhere cannot stall it; the cursor stays exact either way).
func (r Reader) Read(ctx context.Context, org uuid.UUID, after Cursor, types Types, limit int) (items []Event, next Cursor, err error) {
	if org == uuid.Nil {
		return nil, after, fmt.Errorf("feed: no organization")
	}
	limit = max(1, min(limit, MaxLimit))
	items, next = []Event{}, after
	var horizon uint64
	var giveUp time.Time
	for pause := time.Millisecond; ; pause = min(2*pause, 20*time.Millisecond) {
		page, xmin, xmax, err := r.read(ctx, org, next, types, limit-len(items))
		if err != nil {
			return nil, after, err
		}
		items, next = append(items, page.items...), page.next
		if r.HoldBack < 0 {
			return items, next, nil
		}
		if horizon == 0 {
			horizon, giveUp = xmax, time.Now().Add(r.holdBack())
		}
		if xmin >= horizon || len(items) == limit || time.Now().After(giveUp) {
			return items, next, nil
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return items, next, nil
		}
	}
}

// HoldBack is how long Read waits by default for transactions that were
// running when it began.
const HoldBack = 2 * time.Second

func (r Reader) holdBack() time.Duration {
	if r.HoldBack > 0 {
		return r.HoldBack
	}
	return HoldBack
}

// page is what one statement read.
type page struct {
	items []Event
	next  Cursor
}

// read runs readSQL once: up to limit matching events after `after`, and
// the snapshot's xmin and xmax.
func (r Reader) read(ctx context.Context, org uuid.UUID, after Cursor, types Types, limit int) (p page, xmin, xmax uint64, err error) {
	scan := limit
	if !types.All() {
		scan = max(limit*scanPerItem, minScan)
	}
	exact, prefixes := types.exact, types.prefixes
	if exact == nil {
		exact = []string{}
	}
	if prefixes == nil {
		prefixes = []string{}
	}
	rows, err := r.Pool.Query(ctx, readSQL, org, strconv.FormatUint(after.TransactionID, 10), after.Position, scan,
		types.All(), exact, prefixes)
	if err != nil {
		return p, 0, 0, fmt.Errorf("feed: read: %w", err)
	}
	defer rows.Close()
	p = page{items: []Event{}, next: after}
	for rows.Next() {
		e, ok, matched, snapMin, snapMax, err := r.scan(rows)
		if err != nil {
			return p, 0, 0, err
		}
		xmin, xmax = snapMin, snapMax
		if !ok || len(p.items) == limit {
			continue
		}
		p.next = e.Cursor
		if matched {
			p.items = append(p.items, e)
		}
	}
	if err := rows.Err(); err != nil {
		return p, 0, 0, fmt.Errorf("feed: read: %w", err)
	}
	return p, xmin, xmax, nil
}

// scan reads one row of readSQL: the snapshot's bounds, and an event
// unless ok is false (the row that says there is none). The payload of a
// rejected event is not decoded.
func (r Reader) scan(rows pgx.Rows) (e Event, ok, matched bool, xmin, xmax uint64, err error) {
	var (
		snapMin, snapMax string
		pos              *int64
		xid              *string
		id, stream       pgtype.UUID
		streamType, typ  *string
		version, schema  *int
		payload          []byte
		actor            *string
		occurred         *time.Time
		m                *bool
	)
	if err := rows.Scan(&snapMin, &snapMax, &pos, &xid, &id, &streamType, &stream, &version, &typ, &schema,
		&payload, &actor, &occurred, &m); err != nil {
		return e, false, false, 0, 0, fmt.Errorf("feed: scan: %w", err)
	}
	if xmin, err = strconv.ParseUint(snapMin, 10, 64); err != nil {
		return e, false, false, 0, 0, err
	}
	if xmax, err = strconv.ParseUint(snapMax, 10, 64); err != nil {
		return e, false, false, 0, 0, err
	}
	if pos == nil {
		return e, false, false, xmin, xmax, nil
	}
	if e.Cursor.TransactionID, err = strconv.ParseUint(*xid, 10, 64); err != nil {
		return e, false, false, 0, 0, err
	}
	e.Cursor.Position = *pos
	e.Position, e.ID, e.StreamID = *pos, id.Bytes, stream.Bytes
	e.StreamType, e.Type, e.Version = *streamType, *typ, *version
	e.OccurredAt = readapi.NewTime(*occurred)
	if !*m {
		return e, true, false, xmin, xmax, nil
	}
	if actor != nil {
		if a, err := uuid.Parse(*actor); err == nil {
			e.ActorID = &a
		}
	}
	e.Data = r.data(e.Type, *schema, payload)
	return e, true, true, xmin, xmax, nil
}

// data is the payload upcast to its current schema. A payload this binary
// cannot decode (an event type or schema version newer than it, during a
// rolling deploy) is passed on as stored rather than held back.
func (r Reader) data(eventType string, schema int, payload []byte) json.RawMessage {
	p, err := r.Registry.DecodeStored(eventType, schema, payload)
	if err != nil {
		return payload
	}
	b, err := json.Marshal(p)
	if err != nil {
		return payload
	}
	return b
}

// pollEvery is how often Wait reads again without a wake-up: events held
// back by an older open transaction, or commits of a process that does not
// announce them, still show within this.
const pollEvery = 250 * time.Millisecond

// Wait is Read that, finding nothing, waits up to wait for an event to
// arrive (a long poll): woken by the Hub after commits, reading again at
// most every few milliseconds, and at least every pollEvery.
func (r Reader) Wait(ctx context.Context, org uuid.UUID, after Cursor, types Types, limit int, wait time.Duration) ([]Event, Cursor, error) {
	var wake <-chan struct{}
	if r.Hub != nil && wait > 0 {
		ch, stop := r.Hub.Subscribe()
		defer stop()
		wake = ch
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		items, next, err := r.Read(ctx, org, after, types, limit)
		if err != nil || len(items) > 0 || wait <= 0 {
			return items, next, err
		}
		after = next
		tick := time.NewTimer(pollEvery)
		select {
		case <-wake:
			// Let a burst of commits settle into one read.
			time.Sleep(2 * time.Millisecond)
		case <-tick.C:
		case <-deadline.C:
			tick.Stop()
			return items, next, nil
		case <-ctx.Done():
			tick.Stop()
			return items, next, nil
		}
		tick.Stop()
	}
}
