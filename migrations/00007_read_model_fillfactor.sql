-- +goose Up
-- Read-model rows are rewritten by every batch that touches them (the
-- projectors upsert the whole row). Leaving room on each page lets
-- PostgreSQL update a row in place (a HOT update: no new entry in any
-- index) whenever no indexed column changed — a version bump for a
-- comment, a deal link, a stream's count. The counters are tiny and
-- rewritten on nearly every batch. A rebuild copies these settings to its
-- shadow tables.
ALTER TABLE stream_stats SET (fillfactor = 80);
ALTER TABLE contacts SET (fillfactor = 85);
ALTER TABLE deals SET (fillfactor = 85);
ALTER TABLE tasks SET (fillfactor = 85);
ALTER TABLE analytics_deals SET (fillfactor = 85);
ALTER TABLE contact_counts SET (fillfactor = 50);
ALTER TABLE deal_counts SET (fillfactor = 50);
ALTER TABLE task_counts SET (fillfactor = 50);
ALTER TABLE analytics_deal_cells SET (fillfactor = 50);
ALTER TABLE analytics_deal_reached SET (fillfactor = 50);
ALTER TABLE analytics_deal_created SET (fillfactor = 50);

-- +goose Down
ALTER TABLE stream_stats RESET (fillfactor);
ALTER TABLE contacts RESET (fillfactor);
ALTER TABLE deals RESET (fillfactor);
ALTER TABLE tasks RESET (fillfactor);
ALTER TABLE analytics_deals RESET (fillfactor);
ALTER TABLE contact_counts RESET (fillfactor);
ALTER TABLE deal_counts RESET (fillfactor);
ALTER TABLE task_counts RESET (fillfactor);
ALTER TABLE analytics_deal_cells RESET (fillfactor);
ALTER TABLE analytics_deal_reached RESET (fillfactor);
ALTER TABLE analytics_deal_created RESET (fillfactor);
