-- +goose Up
-- The deals' title search moves to a side table of its own (see
-- projections.SideSpec): deal_titles holds each live deal's title under
-- the trigram index, and the deals projector writes it only when a title
-- changes, a deal is created or deleted. A stage or status change is not a
-- HOT update of deals (its sort indexes move), so every index of deals
-- takes a new entry on each one; the trigram GIN entry was the dearest
-- (≈ 30 % of the update, pgbench on a copy of the bench's data), and a
-- flush of its pending list stalled one projector batch for ~100 ms now
-- and then. Searches read it through the view org_deal_titles, for the
-- reason org_deals exists (migrations/00060).
-- +goose StatementBegin
CREATE TABLE deal_titles (
    org_id uuid NOT NULL,
    id     uuid NOT NULL,
    title  text NOT NULL,
    PRIMARY KEY (org_id, id)
);
INSERT INTO deal_titles (org_id, id, title) SELECT org_id, id, title FROM deals WHERE NOT deleted;
CREATE INDEX deal_titles_search_idx ON deal_titles USING gin (org_id, lower(title) gin_trgm_ops);
DROP INDEX deals_search_idx;
ANALYZE deal_titles;
ALTER TABLE deal_titles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deal_titles USING (org_id = nullif(current_setting('crm.org_id', true), '')::uuid);
CREATE VIEW org_deal_titles AS
    SELECT * FROM deal_titles WHERE org_id = nullif(current_setting('crm.org_id', true), '')::uuid;
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_reader') THEN
        GRANT SELECT ON deal_titles, org_deal_titles TO crm_reader;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DROP VIEW org_deal_titles;
DROP TABLE deal_titles;
CREATE INDEX deals_search_idx ON deals USING gin (org_id, lower(title) gin_trgm_ops) WHERE NOT deleted;
-- +goose StatementEnd
