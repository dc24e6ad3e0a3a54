-- +goose Up
-- The searches' trigram indexes keep their pending list small.
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
-- At 64 kB (the smallest limit) a search reads at most 8 pending pages,
-- and new entries are still merged in bulk, by the projector that pushes
-- the list over the limit (cheaper than inserting each row's trigrams on
-- its own, as fastupdate = off would). A rebuild's shadow indexes carry
-- the setting (pg_get_indexdef).
ALTER INDEX contacts_search_idx SET (gin_pending_list_limit = 64);
ALTER INDEX deal_titles_search_idx SET (gin_pending_list_limit = 64);
SELECT gin_clean_pending_list('contacts_search_idx'::regclass);
SELECT gin_clean_pending_list('deal_titles_search_idx'::regclass);

-- +goose Down
ALTER INDEX contacts_search_idx RESET (gin_pending_list_limit);
ALTER INDEX deal_titles_search_idx RESET (gin_pending_list_limit);
