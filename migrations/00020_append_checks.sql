-- +goose Up
-- crm_fail raises an error with a given SQLSTATE from inside a statement.
-- The event store's append is one statement (sent in one round trip, in an
-- implicit transaction): the checks that must hold at commit time
-- (the caller's membership and role, owners being members, streams read
-- but not written still at their version, an idempotency key still free)
-- are evaluated in that statement, and a failed check aborts it with one of
-- these codes, which events/pgstore maps to its errors (never by text):
--   CR001  the caller is not a member of a live organization
--   CR002  the caller's role is not the one the decision assumed (DETAIL: the role now)
--   CR003  a user that must be a member (an owner_id) is not
--   CR004  a guarded stream moved past its version (DETAIL: the stream id)
--   CR005  the idempotency key was taken by another request
-- +goose StatementBegin
CREATE FUNCTION crm_fail(code text, message text, detail text DEFAULT '') RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = detail;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION crm_fail(text, text, text);
