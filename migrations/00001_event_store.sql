-- +goose Up
-- The event store: the one source of truth. Append-only; rows are never
-- updated or deleted. Readers (projectors) walk it in (transaction_id,
-- position) order and only below pg_snapshot_xmin(pg_current_snapshot()),
-- so an event whose transaction commits late is never skipped.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL,
    tenant_id       uuid        NOT NULL,
    stream_type     text        NOT NULL,
    stream_id       uuid        NOT NULL,
    version         integer     NOT NULL CHECK (version >= 1),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL DEFAULT 1,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, position),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    -- The optimistic-concurrency guard: two writers at the same expected
    -- version cannot both insert version N+1 (SQLSTATE 23505).
    CONSTRAINT events_stream_version_key UNIQUE (tenant_id, stream_id, version)
);

-- Per-tenant read-your-writes horizon: the newest event of a tenant in
-- projection order.
CREATE INDEX events_tenant_order_idx ON events (tenant_id, transaction_id, position);

-- Projector checkpoints, in the shape of watermill-sql's
-- DefaultPostgreSQLOffsetsAdapter: one row per consumer group (projector).
CREATE TABLE projector_checkpoints (
    consumer_group                varchar(255) NOT NULL PRIMARY KEY,
    offset_acked                  bigint,
    last_processed_transaction_id xid8 NOT NULL
);

-- A trivial projector's read model: how many events each stream has, the
-- end-to-end proof of the pipeline.
CREATE TABLE stream_stats (
    tenant_id    uuid    NOT NULL,
    stream_id    uuid    NOT NULL,
    stream_type  text    NOT NULL,
    event_count  integer NOT NULL,
    last_version integer NOT NULL,
    PRIMARY KEY (tenant_id, stream_id)
);

-- +goose Down
DROP TABLE stream_stats;
DROP TABLE projector_checkpoints;
DROP TABLE events;
