-- +goose Up
-- The searches' trigram indexes keep their pending list short.
--
-- A GIN index with fastupdate (the default) puts new entries in an
-- unsorted pending list and merges it into the index only once it passes
-- gin_pending_list_limit (4 MB by default) or a VACUUM runs. Every search
-- reads the whole list. Measured on the benchmark's 30,000-contact
-- organization after W1 had created contacts: 248 pending pages (2,231
-- contacts), and `search=lovelace` spent 3.4 ms in the index scan instead
-- of 0.95 ms once the list was merged (5.6 ms against 2.9 ms for the
-- statement). The list grows back with every contact or deal created, so
-- a busy organization's searches were slow most of the time.
--
-- At 256 kB a search reads at most 32 pending pages (~0.3 ms), and new
-- entries are still merged in bulk, by the projector that pushes the list
-- over the limit: a ~20–30 ms merge once per ~200 new rows. 1,200
-- single-row inserts of contacts (merges included) took 728–842 ms at
-- 64 kB, 623–645 ms at 256 kB, 540–555 ms at 1 MB and 458–625 ms at the
-- default; fastupdate = off was dearer still (0.7–1.0 ms a row against
-- 0.5–0.6 at 64 kB). A rebuild's shadow indexes carry the setting
-- (pg_get_indexdef).
ALTER INDEX contacts_search_idx SET (gin_pending_list_limit = 256);
ALTER INDEX deal_titles_search_idx SET (gin_pending_list_limit = 256);
SELECT gin_clean_pending_list('contacts_search_idx'::regclass);
SELECT gin_clean_pending_list('deal_titles_search_idx'::regclass);

-- +goose Down
ALTER INDEX contacts_search_idx RESET (gin_pending_list_limit);
ALTER INDEX deal_titles_search_idx RESET (gin_pending_list_limit);
