-- +goose Up
-- Identity tables. users, organizations and memberships are inline
-- projections: written by projections/identity inside the transaction that
-- appends the events behind them, so they are never stale. That is what
-- lets them enforce a set-wide rule (one user per e-mail) and answer the
-- tenancy check of every request (a removed member is refused at once).
-- They can be rebuilt from the user and organization streams.

-- Users exist apart from organizations. email keeps the address as given
-- (trimmed); email_lower is crm.NormalizeEmail of it, the key of
-- uniqueness and of logins. A duplicate is detected by SQLSTATE 23505 on
-- the constraint users_email_key (API: never rename it).
CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL,
    email_lower   text        NOT NULL,
    name          text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email_lower)
);

-- Organizations; a deleted one keeps its row (deleted_at set) and is
-- refused by every tenancy check. version is the stream version, for
-- ETag on reads.
CREATE TABLE organizations (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    version    integer     NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);

-- Who belongs to which organization, with which role: read by the tenancy
-- check on every org-scoped request (primary key), and by "my
-- organizations" (user_id index).
CREATE TABLE memberships (
    org_id    uuid        NOT NULL REFERENCES organizations (id),
    user_id   uuid        NOT NULL REFERENCES users (id),
    role      text        NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'member')),
    joined_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);
-- Every organization has exactly one owner (API.md §3).
CREATE UNIQUE INDEX memberships_one_owner_idx ON memberships (org_id) WHERE role = 'owner';

-- Refresh tokens, stored as the SHA-256 of the opaque token (a leak of
-- this table gives no usable token). Each use marks the token used and
-- issues a successor in the same family; presenting a used token again
-- revokes the whole family (RFC 9700 §4.14.2).
CREATE TABLE refresh_tokens (
    hash       bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL,
    family_id  uuid        NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE memberships;
DROP TABLE organizations;
DROP TABLE users;
