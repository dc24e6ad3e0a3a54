-- +goose Up
-- Snapshots of deal aggregates every 100 versions, so that replaying a
-- deal's past (GET /deals/{id}?version=N, ?as_of=T, /history) starts from
-- the nearest snapshot instead of the first event (package audit).
--
-- A cache derived from the log, never a source of truth: events are never
-- rewritten, so the state after version N never changes; a snapshot is
-- written the first time a replay passes version N, and ignored when its
-- format (the Go fold's version, audit.SnapshotFormat) is not the
-- binary's. Deleting every row is always safe.
--   max_occurred_at: the latest occurred_at of events 1..version, so a
--   replay "as of T" may start here when max_occurred_at <= T.
CREATE TABLE deal_snapshots (
    tenant_id       uuid        NOT NULL,
    deal_id         uuid        NOT NULL,
    version         integer     NOT NULL CHECK (version >= 1),
    format          integer     NOT NULL,
    max_occurred_at timestamptz NOT NULL,
    state           jsonb       NOT NULL,
    PRIMARY KEY (tenant_id, deal_id, version)
);

-- +goose Down
DROP TABLE deal_snapshots;
