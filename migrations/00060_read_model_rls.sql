-- +goose Up
-- Row-level security on the read models, as defence in depth: the read
-- path (readapi/pgread) runs each statement in a transaction of its own
-- as the role crm_reader with the organization in the setting
-- crm.org_id (set_config(..., true): it ends with the transaction), and a
-- policy on every read-model table lets that role see the rows of that
-- organization only. A query that forgets its `org_id = $1` still
-- answers for one organization; with no organization set it sees nothing
-- (nullif(..., '') IS NULL, and `org_id = NULL` is never true).
--
-- Who may cross tenants: the tables' owner, the application's login role,
-- which the projectors, rebuilds and the command path use. RLS is
-- ENABLEd, not FORCEd, so the owner is not subject to the policies (and
-- neither is a superuser). crm_reader owns nothing and may only SELECT.
--
-- Out of scope, on purpose:
--   * events: the event store is read across tenants by the projectors
--     and written by the command path; crm_reader is granted nothing on it.
--   * users, organizations, memberships, refresh_tokens, idempotency_keys:
--     identity is read across organizations by design (login by e-mail,
--     "my organizations" by user id) in the append transaction and by
--     readapi/identity, never through pgread.
--   * deal_snapshots (00050): a cache of the event log for audit replays,
--     read and written by the owner as the events themselves are.
--   * webhook_subscriptions, webhook_deliveries (00040): integration
--     configuration and its delivery log, not read models; the delivery
--     workers read and write them across organizations (webhooks.Store).
--   * projector_checkpoints, projector_parked: bookkeeping, no tenant
--     data. crm_reader may read projector_checkpoints (an analytics answer
--     reports the position it is as of).
--
-- Searches read the views org_contacts and org_deals instead: under
-- row-level security PostgreSQL uses a condition as an index condition
-- only if its operator is leakproof, and ILIKE is not, so a search would
-- scan the whole organization instead of using its trigram index. The
-- views belong to the owner (so the policies do not apply beneath them)
-- and filter on crm.org_id themselves: the same rule, stated once, with
-- the search free to use the index. They are not security_barrier views
-- (that would block the index again): they guard against a forgotten
-- filter, not against a hostile query, which the read path never runs.
--
-- Roles belong to the cluster, not to the database: several databases
-- (tests clone one template per test; staging beside production) share
-- crm_reader, so it is created only if absent, a concurrent creation by
-- another database's migration is not an error, and Down leaves it. A
-- login role that may not create roles (some managed databases) gets a
-- WARNING instead of a failure: RLS and the policies are enabled all the
-- same, and the server refuses to start (fail closed, pgread.CheckReader)
-- until an administrator has created the role and granted it, with the
-- statements the README's "Security" section lists.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_reader') THEN
        BEGIN
            CREATE ROLE crm_reader NOLOGIN;
        EXCEPTION
            -- created meanwhile by the migration of another database of the cluster
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE WARNING 'cannot create role crm_reader (%): the server will refuse to start until an administrator creates it (README, Security)', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_reader')
       -- USAGE, not MEMBER: on PostgreSQL 16 a role's creator holds an
       -- ADMIN grant that may not SET ROLE; this grant may.
       AND NOT pg_has_role(current_user, 'crm_reader', 'USAGE') THEN
        BEGIN
            GRANT crm_reader TO CURRENT_USER;
        EXCEPTION
            WHEN unique_violation THEN NULL; -- granted meanwhile by another database's migration
            WHEN insufficient_privilege OR invalid_grant_operation THEN
                RAISE WARNING 'cannot grant crm_reader to %: %', current_user, SQLERRM;
        END;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('contacts', 'org_id'), ('deals', 'org_id'), ('tasks', 'org_id'), ('activities', 'org_id'),
        ('contact_counts', 'org_id'), ('deal_counts', 'org_id'), ('task_counts', 'org_id'),
        ('analytics_deals', 'org_id'), ('analytics_deal_cells', 'org_id'),
        ('analytics_deal_reached', 'org_id'), ('analytics_deal_created', 'org_id'),
        ('stream_stats', 'tenant_id')) AS v(name, tenant_column)
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.name);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (%I = nullif(current_setting('crm.org_id', true), '')::uuid)$p$, t.name, t.tenant_column);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_reader') THEN
            EXECUTE format('GRANT SELECT ON %I TO crm_reader', t.name);
        END IF;
    END LOOP;
    CREATE VIEW org_contacts AS
        SELECT * FROM contacts WHERE org_id = nullif(current_setting('crm.org_id', true), '')::uuid;
    CREATE VIEW org_deals AS
        SELECT * FROM deals WHERE org_id = nullif(current_setting('crm.org_id', true), '')::uuid;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_reader') THEN
        GRANT SELECT ON projector_checkpoints, org_contacts, org_deals TO crm_reader;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
-- The role stays: other databases of the cluster may use it.
DROP VIEW org_deals;
DROP VIEW org_contacts;
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'deals', 'tasks', 'activities', 'contact_counts', 'deal_counts',
        'task_counts', 'analytics_deals', 'analytics_deal_cells', 'analytics_deal_reached',
        'analytics_deal_created', 'stream_stats']
    LOOP
        EXECUTE format('DROP POLICY tenant_isolation ON %I', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_reader') THEN
            EXECUTE format('REVOKE SELECT ON %I FROM crm_reader', t);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_reader') THEN
        REVOKE SELECT ON projector_checkpoints FROM crm_reader;
    END IF;
END $$;
-- +goose StatementEnd
