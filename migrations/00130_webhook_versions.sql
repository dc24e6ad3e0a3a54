-- +goose Up
-- A webhook subscription carries a version, as every entity of the API
-- does (API.md, Conventions: version, ETag, If-Match). It starts at 1 and
-- moves with every change a client can see: a PATCH that changes
-- something, a secret rotation, a replay, and the dispatcher disabling a
-- subscription that failed for a day. PATCH and DELETE honour If-Match
-- against it.
ALTER TABLE webhook_subscriptions ADD COLUMN version integer NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE webhook_subscriptions DROP COLUMN version;
