-- +goose Up
-- Projection engine v2 (projections/): batched projectors whose reducers
-- derive every counter in Go, a dead-letter table for poison events, and
-- the bookkeeping of leases and rebuilds.

-- When a checkpoint last moved, and by which process (for status).
ALTER TABLE projector_checkpoints
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN owner text NOT NULL DEFAULT '';

-- Poison events. A projector retries a failing event a bounded number of
-- times (with no transaction open while it waits), then parks it here and
-- stops at it: its checkpoint stays just before the event, /ready,
-- /metrics and `crm projections status` show it, and the other projectors
-- go on. `crm projections skip NAME` marks it skipped (the projector then
-- moves past it); `crm projections retry NAME` marks it for another try
-- (after a fix is deployed).
CREATE TABLE projector_parked (
    projector       text        NOT NULL,
    event_id        uuid        NOT NULL,
    position        bigint      NOT NULL,
    transaction_id  xid8        NOT NULL,
    event_type      text        NOT NULL,
    tenant_id       uuid        NOT NULL,
    error           text        NOT NULL,
    attempts        integer     NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    -- NULL while the projector is stopped at it; 'skipped' or 'retry'
    resolution      text,
    resolved_at     timestamptz,
    PRIMARY KEY (projector, event_id)
);
CREATE INDEX projector_parked_open_idx ON projector_parked (projector) WHERE resolution IS NULL;

-- The counters of the read models are now derived by the projectors, per
-- batch (from each row's contribution before and after the batch), and
-- by GROUP BY on a rebuild: row triggers fired per event and cost most of
-- a projector's time.
DROP TRIGGER contact_counts_insert_delete ON contacts;
DROP TRIGGER contact_counts_update ON contacts;
DROP TRIGGER deal_counts_insert_delete ON deals;
DROP TRIGGER deal_counts_update ON deals;
DROP TRIGGER task_counts_insert_delete ON tasks;
DROP TRIGGER task_counts_update ON tasks;
DROP TRIGGER analytics_deals_insert_delete ON analytics_deals;
DROP TRIGGER analytics_deals_update ON analytics_deals;
DROP FUNCTION contact_counts_track();
DROP FUNCTION deal_counts_track();
DROP FUNCTION task_counts_track();
DROP FUNCTION analytics_deals_track();

-- +goose Down
-- The triggers are not restored: an older binary rebuilds its counters
-- with `crm projections rebuild`.
DROP TABLE projector_parked;
ALTER TABLE projector_checkpoints DROP COLUMN updated_at, DROP COLUMN owner;
