-- +goose Up
-- Webhook subscriptions and their delivery log (API.md, Integrations).
-- They are integration configuration, not domain state: plain tables,
-- not event-sourced, and never written into the event log (the signing
-- secrets in particular). The organization id leads every key.
CREATE TABLE webhook_subscriptions (
    org_id          uuid        NOT NULL,
    id              uuid        NOT NULL,
    url             text        NOT NULL,
    event_types     text[]      NOT NULL,
    active          boolean     NOT NULL DEFAULT true,
    -- The signing secret ("whsec_" + base64). During a rotation window
    -- the previous one keeps signing too, until previous_secret_until.
    secret                 text        NOT NULL,
    previous_secret        text,
    previous_secret_until  timestamptz,
    -- The subscription's cursor into the log (feed.Cursor): every event
    -- up to it has been delivered (or skipped as not subscribed).
    cursor_xid      xid8        NOT NULL DEFAULT '0',
    cursor_position bigint      NOT NULL DEFAULT 0,
    -- The delivery under way (the event after the cursor), its next
    -- attempt, and since when deliveries have failed without a break.
    pending_delivery_id uuid,
    pending_event_id    uuid,
    next_attempt_at     timestamptz,
    failing_since       timestamptz,
    -- The lease: one process delivers a subscription at a time.
    lease_owner     text,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);

-- GET /webhooks: oldest first, ties broken by id.
CREATE INDEX webhook_subscriptions_list_idx ON webhook_subscriptions (org_id, created_at, id);

-- The dispatcher's scan: the active subscriptions of every organization.
CREATE INDEX webhook_subscriptions_active_idx ON webhook_subscriptions (org_id, id) WHERE active;

CREATE TABLE webhook_deliveries (
    org_id           uuid        NOT NULL,
    subscription_id  uuid        NOT NULL,
    id               uuid        NOT NULL,
    event_id         uuid        NOT NULL,
    event_type       text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    latency_ms       integer,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz,
    next_attempt_at  timestamptz,
    PRIMARY KEY (org_id, subscription_id, id),
    FOREIGN KEY (org_id, subscription_id) REFERENCES webhook_subscriptions (org_id, id) ON DELETE CASCADE
);

-- GET /webhooks/{id}/deliveries: newest first, ties broken by id.
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (org_id, subscription_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
