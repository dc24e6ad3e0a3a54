-- +goose Up
-- The stream_stats projector no longer runs in the server: no query reads
-- its table, and it cost a write in every projector batch and a table in
-- every rebuild. It stays the projection engine's own test projector
-- (projections/streamstats), so the table stays; its rows and its place
-- in the log go.
DELETE FROM projector_parked WHERE projector = 'stream_stats';
DELETE FROM projector_checkpoints WHERE consumer_group = 'stream_stats';
TRUNCATE stream_stats;

-- +goose Down
SELECT 1; -- an older server re-creates its checkpoint and re-projects the log
