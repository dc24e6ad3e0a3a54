-- +goose Up
-- Deep pages (GET /deals?page=4000) find the ids of their rows in the
-- sort index alone before reading them (readapi/pgread, list): an
-- index-only scan, which needs every column the query touches in the
-- index. Three sort indexes of 00004 lacked some:
--   * lower(title) and lower(name): PostgreSQL takes an expression from
--     the index only if the column under it is there too, so INCLUDE it;
--   * created_at, the default sort of deals: INCLUDE status, stage and
--     currency, the filters deal_counts answers, so that a filtered deep
--     page skips its rows in the index too.
-- Built inside the migration's transaction (writes to the two tables wait
-- for it: well under a second per 100k rows).
CREATE INDEX deals_title_cover_idx ON deals (org_id, lower(title), id) INCLUDE (title) WHERE NOT deleted;
DROP INDEX deals_title_idx;
CREATE INDEX deals_created_cover_idx ON deals (org_id, created_at, id) INCLUDE (status, stage, currency) WHERE NOT deleted;
DROP INDEX deals_created_idx;
CREATE INDEX contacts_name_cover_idx ON contacts (org_id, lower(name), id) INCLUDE (name) WHERE NOT deleted;
DROP INDEX contacts_name_idx;

-- +goose Down
CREATE INDEX contacts_name_idx ON contacts (org_id, lower(name), id) WHERE NOT deleted;
DROP INDEX contacts_name_cover_idx;
CREATE INDEX deals_created_idx ON deals (org_id, created_at, id) WHERE NOT deleted;
DROP INDEX deals_created_cover_idx;
CREATE INDEX deals_title_idx ON deals (org_id, lower(title), id) WHERE NOT deleted;
DROP INDEX deals_title_cover_idx;
