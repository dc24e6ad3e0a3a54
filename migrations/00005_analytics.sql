-- +goose Up
-- The read model of the "analytics" projector (projections/analytics),
-- read by GET /analytics/deals/summary and /funnel (readapi/pgread).
--
-- A request must not scan an organization's deals (BENCHMARKS.md W3:
-- p99 ≤ 5 ms at 100k deals), so the answers are kept pre-aggregated:
--
--   * analytics_deals holds one row per deal with only what analytics
--     needs (the projector's own copy: it must not read another
--     projector's tables, which run at their own pace). The projector
--     writes only this table, version-guarded like every read model.
--   * The aggregate tables below it are kept in step by a trigger on
--     analytics_deals, in the projector's transaction: each change of a
--     deal row moves its contribution from the old row's cells to the new
--     row's, so the aggregates can never disagree with the rows, and a
--     redelivered event (a no-op on the row) is a no-op on them.
--
-- Deleted deals are tombstones (deleted = true) that count nowhere.
-- Amount sums are numeric: 100k deals of up to 999 999 999 999.99 would
-- overflow a bigint of cents. Rows whose count falls to 0 stay (n = 0);
-- readers skip them. These tables form one read model: rebuild (or
-- truncate) them together.

CREATE TABLE analytics_deals (
    org_id          uuid        NOT NULL,
    deal_id         uuid        NOT NULL,
    status          text        NOT NULL,
    stage           text        NOT NULL,
    -- the latest stage ever reached (a rollback does not lower it)
    furthest_stage  text        NOT NULL,
    currency        text        NOT NULL,
    amount_cents    bigint      NOT NULL,
    -- the deal.created event's occurred_at
    created_at      timestamptz NOT NULL,
    deleted         boolean     NOT NULL DEFAULT false,
    version         integer     NOT NULL,
    PRIMARY KEY (org_id, deal_id)
);
-- new_deals_last_30_days counts the edges of its window here (see
-- analytics_deal_created).
CREATE INDEX analytics_deals_created_idx ON analytics_deals (org_id, created_at) WHERE NOT deleted;

-- Live deals and their amount sums per status, stage and currency: the
-- summary groups them by status and currency, the funnel's current counts
-- by stage and status (16 × currencies rows per organization at most).
CREATE TABLE analytics_deal_cells (
    org_id       uuid    NOT NULL,
    status       text    NOT NULL,
    stage        text    NOT NULL,
    currency     text    NOT NULL,
    n            bigint  NOT NULL,
    total_cents  numeric NOT NULL,
    PRIMARY KEY (org_id, status, stage, currency)
);

-- Live deals per furthest stage ever reached: the funnel's "reached" of a
-- stage is the sum over that stage and the later ones.
CREATE TABLE analytics_deal_reached (
    org_id  uuid    NOT NULL,
    stage   text    NOT NULL,
    n       bigint  NOT NULL,
    PRIMARY KEY (org_id, stage)
);

-- Live deals per hour of creation (UTC): new_deals_last_30_days sums the
-- ≤ 720 whole hours of its window and counts the partial hour at each
-- edge from analytics_deals_created_idx.
CREATE TABLE analytics_deal_created (
    org_id  uuid        NOT NULL,
    hour    timestamptz NOT NULL,
    n       bigint      NOT NULL,
    PRIMARY KEY (org_id, hour)
);

-- +goose StatementBegin
CREATE FUNCTION analytics_deals_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_in boolean := TG_OP <> 'INSERT' AND NOT OLD.deleted;
    new_in boolean := TG_OP <> 'DELETE' AND NOT NEW.deleted;
BEGIN
    -- Cells: the same cell only moves the sum; otherwise leave the old
    -- cell and enter the new one.
    IF old_in AND new_in AND (OLD.status, OLD.stage, OLD.currency) = (NEW.status, NEW.stage, NEW.currency) THEN
        IF OLD.amount_cents <> NEW.amount_cents THEN
            UPDATE analytics_deal_cells SET total_cents = total_cents - OLD.amount_cents + NEW.amount_cents
            WHERE org_id = NEW.org_id AND status = NEW.status AND stage = NEW.stage AND currency = NEW.currency;
        END IF;
    ELSE
        IF old_in THEN
            UPDATE analytics_deal_cells SET n = n - 1, total_cents = total_cents - OLD.amount_cents
            WHERE org_id = OLD.org_id AND status = OLD.status AND stage = OLD.stage AND currency = OLD.currency;
        END IF;
        IF new_in THEN
            INSERT INTO analytics_deal_cells AS c (org_id, status, stage, currency, n, total_cents)
            VALUES (NEW.org_id, NEW.status, NEW.stage, NEW.currency, 1, NEW.amount_cents)
            ON CONFLICT (org_id, status, stage, currency)
            DO UPDATE SET n = c.n + 1, total_cents = c.total_cents + EXCLUDED.total_cents;
        END IF;
    END IF;

    IF NOT (old_in AND new_in AND OLD.furthest_stage = NEW.furthest_stage) THEN
        IF old_in THEN
            UPDATE analytics_deal_reached SET n = n - 1
            WHERE org_id = OLD.org_id AND stage = OLD.furthest_stage;
        END IF;
        IF new_in THEN
            INSERT INTO analytics_deal_reached AS r (org_id, stage, n) VALUES (NEW.org_id, NEW.furthest_stage, 1)
            ON CONFLICT (org_id, stage) DO UPDATE SET n = r.n + 1;
        END IF;
    END IF;

    IF NOT (old_in AND new_in AND OLD.created_at = NEW.created_at) THEN
        IF old_in THEN
            UPDATE analytics_deal_created SET n = n - 1
            WHERE org_id = OLD.org_id AND hour = date_trunc('hour', OLD.created_at, 'UTC');
        END IF;
        IF new_in THEN
            INSERT INTO analytics_deal_created AS h (org_id, hour, n)
            VALUES (NEW.org_id, date_trunc('hour', NEW.created_at, 'UTC'), 1)
            ON CONFLICT (org_id, hour) DO UPDATE SET n = h.n + 1;
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER analytics_deals_insert_delete AFTER INSERT OR DELETE ON analytics_deals
    FOR EACH ROW EXECUTE FUNCTION analytics_deals_track();
CREATE TRIGGER analytics_deals_update AFTER UPDATE ON analytics_deals
    FOR EACH ROW WHEN ((OLD.status, OLD.stage, OLD.furthest_stage, OLD.currency, OLD.amount_cents, OLD.created_at, OLD.deleted)
                       IS DISTINCT FROM (NEW.status, NEW.stage, NEW.furthest_stage, NEW.currency, NEW.amount_cents, NEW.created_at, NEW.deleted))
    EXECUTE FUNCTION analytics_deals_track();

-- +goose Down
DROP TABLE analytics_deal_created;
DROP TABLE analytics_deal_reached;
DROP TABLE analytics_deal_cells;
DROP TABLE analytics_deals;
DROP FUNCTION analytics_deals_track();
