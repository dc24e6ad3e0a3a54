-- +goose Up
-- Read models of the sales domain, written only by the projectors of
-- projections/sales ("contacts", "deals", "tasks", "activities") and read
-- only by readapi/pgread.
--
-- Conventions shared by the four tables:
--   * org_id leads every primary key and every index: every query is
--     scoped to one organization, and the schema can be sharded by it.
--   * version is the entity's stream version; every projector write is
--     guarded by it (UPDATE ... WHERE version < $new), so a redelivered or
--     replayed event is a no-op.
--   * created_at / updated_at are the occurred_at of the events, never the
--     time of projection (a rebuild yields the same rows).
--   * amounts are bigint minor units (cents); the API prints them.
--   * deletion is a tombstone (deleted = true), not a DELETE: the row keeps
--     its version, so an old event replayed after the deletion cannot
--     resurrect it, and "deleted" stays answerable (analytics, rebuild
--     comparison). Every list index is partial (WHERE NOT deleted), so
--     tombstones cost the lists nothing.
--
-- Sorting is stable: every sort index ends with id, and queries break ties
-- by id in the sort's direction. B-tree indexes are scanned backwards for
-- descending orders, so one index serves both directions. List totals of
-- whole organizations come from the *_counts tables at the end.

-- pg_trgm serves the case-insensitive substring searches (ILIKE '%x%');
-- btree_gin lets a GIN index lead with org_id. Both are contrib
-- extensions marked trusted (PostgreSQL >= 13): a database owner without
-- superuser may create them.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE contacts (
    org_id      uuid        NOT NULL,
    id          uuid        NOT NULL,
    owner_id    uuid        NOT NULL,
    name        text        NOT NULL,
    email       text,
    phone       text,
    version     integer     NOT NULL,
    deleted     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    -- moves with the contact's own fields, not with deal links
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
-- GET /contacts, default order (created_at desc) and owner filter.
CREATE INDEX contacts_created_idx ON contacts (org_id, created_at, id) WHERE NOT deleted;
CREATE INDEX contacts_owner_created_idx ON contacts (org_id, owner_id, created_at, id) WHERE NOT deleted;
-- order_by=name sorts case-insensitively: lower(name), then id.
CREATE INDEX contacts_name_idx ON contacts (org_id, lower(name), id) WHERE NOT deleted;
-- search: name, email or phone ILIKE '%term%' (a BitmapOr of the three
-- columns of this one index, each ANDed with org_id).
CREATE INDEX contacts_search_idx ON contacts
    USING gin (org_id, name gin_trgm_ops, email gin_trgm_ops, phone gin_trgm_ops) WHERE NOT deleted;

CREATE TABLE deals (
    org_id          uuid        NOT NULL,
    id              uuid        NOT NULL,
    contact_id      uuid        NOT NULL,
    owner_id        uuid        NOT NULL,
    title           text        NOT NULL,
    amount_cents    bigint      NOT NULL,
    currency        text        NOT NULL,
    status          text        NOT NULL,
    stage           text        NOT NULL,
    -- the latest stage ever reached (a rollback does not lower it), for
    -- the funnel's "reached" counts
    furthest_stage  text        NOT NULL,
    closed_at       timestamptz,
    version         integer     NOT NULL,
    deleted         boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    -- moves with the deal's fields (not with comments or task links)
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
-- One index per sort key (created_at also serves created_after/before,
-- amount_cents also serves min/max_amount). A page filtered on status,
-- stage or currency walks the sort index and skips non-matching rows:
-- those filters are not selective enough to deserve indexes of their own
-- (their totals come from deal_counts).
CREATE INDEX deals_created_idx ON deals (org_id, created_at, id) WHERE NOT deleted;
CREATE INDEX deals_updated_idx ON deals (org_id, updated_at, id) WHERE NOT deleted;
CREATE INDEX deals_amount_idx ON deals (org_id, amount_cents, id) WHERE NOT deleted;
CREATE INDEX deals_title_idx ON deals (org_id, lower(title), id) WHERE NOT deleted;
-- Selective filters: an owner's or a contact's deals, found and counted
-- without walking the organization's.
CREATE INDEX deals_owner_idx ON deals (org_id, owner_id, created_at, id) WHERE NOT deleted;
CREATE INDEX deals_contact_idx ON deals (org_id, contact_id, created_at, id) WHERE NOT deleted;
-- search: title ILIKE '%term%'.
CREATE INDEX deals_search_idx ON deals USING gin (org_id, title gin_trgm_ops) WHERE NOT deleted;

CREATE TABLE tasks (
    org_id        uuid        NOT NULL,
    id            uuid        NOT NULL,
    deal_id       uuid        NOT NULL,
    title         text        NOT NULL,
    description   text,
    due_date      date        NOT NULL,
    is_done       boolean     NOT NULL DEFAULT false,
    completed_at  timestamptz,
    version       integer     NOT NULL,
    deleted       boolean     NOT NULL DEFAULT false,
    -- set when the task's deal is deleted: such tasks leave the task lists
    -- like their deal leaves the deal lists (they stay readable by id, as
    -- the write side keeps them)
    deal_deleted  boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
-- Listed tasks are those WHERE NOT deleted AND NOT deal_deleted; queries
-- repeat that predicate verbatim so the planner can use these.
CREATE INDEX tasks_due_idx ON tasks (org_id, due_date, id) WHERE NOT deleted AND NOT deal_deleted;
CREATE INDEX tasks_created_idx ON tasks (org_id, created_at, id) WHERE NOT deleted AND NOT deal_deleted;
-- deal_id filter, and marking a deleted deal's tasks.
CREATE INDEX tasks_deal_idx ON tasks (org_id, deal_id, due_date, id) WHERE NOT deleted AND NOT deal_deleted;

-- The deal timeline: one row per event of a deal's stream and of its
-- tasks' streams (see projections/sales), plus comments. Rows are never
-- updated; id is the event id (the comment id for comments), so a replay
-- inserts nothing twice. Rows outlive their deal: its history stays.
CREATE TABLE activities (
    org_id      uuid        NOT NULL,
    id          uuid        NOT NULL,
    deal_id     uuid        NOT NULL,
    author_id   uuid,
    type        text        NOT NULL,
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX activities_deal_idx ON activities (org_id, deal_id, created_at, id);

-- Totals. `total` of a list is count(*) with the list's filter, and
-- counting 100k index entries costs tens of milliseconds on a small
-- machine: too slow for every page. So the totals of the wide lists (a
-- whole organization, a status, a due-date range) are kept here, by
-- triggers on the read-model tables, in the projector's transaction: they
-- can never disagree with the rows. Selective filters (owner, contact,
-- deal, search) are counted directly. These tables belong to the read
-- model of their base table: rebuild (or truncate) them together.

-- Live contacts per owner.
CREATE TABLE contact_counts (
    org_id    uuid    NOT NULL,
    owner_id  uuid    NOT NULL,
    n         bigint  NOT NULL,
    PRIMARY KEY (org_id, owner_id)
);

-- Live deals per status, stage and currency (16 × currencies rows per
-- organization at most).
CREATE TABLE deal_counts (
    org_id    uuid    NOT NULL,
    status    text    NOT NULL,
    stage     text    NOT NULL,
    currency  text    NOT NULL,
    n         bigint  NOT NULL,
    PRIMARY KEY (org_id, status, stage, currency)
);

-- Listed tasks (not deleted, deal not deleted) per due date and state: a
-- due-date range sums one row per day.
CREATE TABLE task_counts (
    org_id    uuid    NOT NULL,
    due_date  date    NOT NULL,
    is_done   boolean NOT NULL,
    n         bigint  NOT NULL,
    PRIMARY KEY (org_id, due_date, is_done)
);

-- Each trigger function moves one unit from the old row's cell (if the
-- old row counted) to the new row's cell (if the new row counts). The
-- triggers fire only when a counted column changes.

-- +goose StatementBegin
CREATE FUNCTION contact_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.deleted THEN
        UPDATE contact_counts SET n = n - 1
        WHERE org_id = OLD.org_id AND owner_id = OLD.owner_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.deleted THEN
        INSERT INTO contact_counts AS c (org_id, owner_id, n) VALUES (NEW.org_id, NEW.owner_id, 1)
        ON CONFLICT (org_id, owner_id) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER contact_counts_insert_delete AFTER INSERT OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION contact_counts_track();
CREATE TRIGGER contact_counts_update AFTER UPDATE ON contacts
    FOR EACH ROW WHEN ((OLD.owner_id, OLD.deleted) IS DISTINCT FROM (NEW.owner_id, NEW.deleted))
    EXECUTE FUNCTION contact_counts_track();

-- +goose StatementBegin
CREATE FUNCTION deal_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.deleted THEN
        UPDATE deal_counts SET n = n - 1
        WHERE org_id = OLD.org_id AND status = OLD.status AND stage = OLD.stage AND currency = OLD.currency;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.deleted THEN
        INSERT INTO deal_counts AS c (org_id, status, stage, currency, n)
        VALUES (NEW.org_id, NEW.status, NEW.stage, NEW.currency, 1)
        ON CONFLICT (org_id, status, stage, currency) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER deal_counts_insert_delete AFTER INSERT OR DELETE ON deals
    FOR EACH ROW EXECUTE FUNCTION deal_counts_track();
CREATE TRIGGER deal_counts_update AFTER UPDATE ON deals
    FOR EACH ROW WHEN ((OLD.status, OLD.stage, OLD.currency, OLD.deleted)
                       IS DISTINCT FROM (NEW.status, NEW.stage, NEW.currency, NEW.deleted))
    EXECUTE FUNCTION deal_counts_track();

-- +goose StatementBegin
CREATE FUNCTION task_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.deleted AND NOT OLD.deal_deleted THEN
        UPDATE task_counts SET n = n - 1
        WHERE org_id = OLD.org_id AND due_date = OLD.due_date AND is_done = OLD.is_done;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.deleted AND NOT NEW.deal_deleted THEN
        INSERT INTO task_counts AS c (org_id, due_date, is_done, n) VALUES (NEW.org_id, NEW.due_date, NEW.is_done, 1)
        ON CONFLICT (org_id, due_date, is_done) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER task_counts_insert_delete AFTER INSERT OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counts_track();
CREATE TRIGGER task_counts_update AFTER UPDATE ON tasks
    FOR EACH ROW WHEN ((OLD.due_date, OLD.is_done, OLD.deleted, OLD.deal_deleted)
                       IS DISTINCT FROM (NEW.due_date, NEW.is_done, NEW.deleted, NEW.deal_deleted))
    EXECUTE FUNCTION task_counts_track();

-- +goose Down
-- The extensions stay: other schemas may use them.
DROP TABLE task_counts;
DROP TABLE deal_counts;
DROP TABLE contact_counts;
DROP TABLE activities;
DROP TABLE tasks;
DROP TABLE deals;
DROP TABLE contacts;
DROP FUNCTION task_counts_track();
DROP FUNCTION deal_counts_track();
DROP FUNCTION contact_counts_track();
