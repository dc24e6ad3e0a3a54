-- +goose Up
-- The analytics counters are derived from the deals read model instead of
-- a projector of their own. analytics_deals repeated the columns of deals
-- analytics read (status, stage, furthest stage, currency, amount,
-- created_at, deleted, version) and analytics_deal_cells repeated
-- deal_counts with a total: every live batch of deal events paid for a
-- second fold, a second table upsert, a second counter upsert and a
-- second checkpoint write (about a quarter of the projectors' PostgreSQL
-- time under W2). Now the deals projector keeps, in its own transaction:
--   * deal_counts, with the amount total beside the count;
--   * analytics_deal_reached and analytics_deal_created, as before but
--     from the deals rows;
-- and the summary counts its window's edges on deals_created_cover_idx.
--
-- The counters are derived here from deals, at the deals checkpoint, so
-- they agree with it whatever the analytics projector had reached.
--
-- Upgrading: stop every process of an older version that runs projectors
-- before this runs. An older deals projector would write deal_counts
-- without its total (the summary's totals would drift until `crm
-- projections rebuild deals`).
ALTER TABLE deal_counts ADD COLUMN total_cents numeric NOT NULL DEFAULT 0;
UPDATE deal_counts c SET total_cents = s.total
FROM (SELECT org_id, status, stage, currency, sum(amount_cents) AS total
      FROM deals WHERE NOT deleted GROUP BY 1, 2, 3, 4) s
WHERE (c.org_id, c.status, c.stage, c.currency) = (s.org_id, s.status, s.stage, s.currency);
TRUNCATE analytics_deal_reached, analytics_deal_created;
INSERT INTO analytics_deal_reached (org_id, stage, n)
SELECT org_id, furthest_stage, count(*) FROM deals WHERE NOT deleted GROUP BY 1, 2;
INSERT INTO analytics_deal_created (org_id, hour, n)
SELECT org_id, date_trunc('hour', created_at, 'UTC'), count(*) FROM deals WHERE NOT deleted GROUP BY 1, 2;
DELETE FROM projector_parked WHERE projector = 'analytics';
DELETE FROM projector_checkpoints WHERE consumer_group = 'analytics';
DROP TABLE analytics_deal_cells;
DROP TABLE analytics_deals;

-- +goose Down
-- The analytics projector's tables come back empty, with no checkpoint:
-- an older server re-projects the log into them.
CREATE TABLE analytics_deals (
    org_id          uuid        NOT NULL,
    deal_id         uuid        NOT NULL,
    status          text        NOT NULL,
    stage           text        NOT NULL,
    furthest_stage  text        NOT NULL,
    currency        text        NOT NULL,
    amount_cents    bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    deleted         boolean     NOT NULL DEFAULT false,
    version         integer     NOT NULL,
    PRIMARY KEY (org_id, deal_id)
) WITH (fillfactor = 85);
CREATE INDEX analytics_deals_created_idx ON analytics_deals (org_id, created_at) WHERE NOT deleted;
CREATE TABLE analytics_deal_cells (
    org_id       uuid    NOT NULL,
    status       text    NOT NULL,
    stage        text    NOT NULL,
    currency     text    NOT NULL,
    n            bigint  NOT NULL,
    total_cents  numeric NOT NULL,
    PRIMARY KEY (org_id, status, stage, currency)
) WITH (fillfactor = 50);
TRUNCATE analytics_deal_reached, analytics_deal_created;
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['analytics_deals', 'analytics_deal_cells']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (org_id = nullif(current_setting('crm.org_id', true), '')::uuid)$p$, t);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_reader') THEN
            EXECUTE format('GRANT SELECT ON %I TO crm_reader', t);
        END IF;
    END LOOP;
END $$;
-- +goose StatementEnd
ALTER TABLE deal_counts DROP COLUMN total_cents;
