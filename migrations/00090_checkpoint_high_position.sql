-- +goose Up
-- A projector's checkpoint is a place in projection order, (transaction
-- id, position): events are applied in the order their transactions took
-- ids, not in position order. Two commands committing side by side can
-- take ids in one order and positions in the other, so the checkpoint's
-- position (offset_acked) can be lower than the position of an event the
-- projector has applied. high_position is the highest position among the
-- events the projector has passed: what an analytics answer reports as
-- as_of_position, so that a client's X-Event-Position is at or below it
-- once its command is reflected. Existing rows start at their checkpoint's
-- position and catch up with the next batch.
ALTER TABLE projector_checkpoints ADD COLUMN high_position bigint NOT NULL DEFAULT 0;
UPDATE projector_checkpoints SET high_position = coalesce(offset_acked, 0);

-- +goose Down
ALTER TABLE projector_checkpoints DROP COLUMN high_position;
