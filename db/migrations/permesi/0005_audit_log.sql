-- The audit log: append-only, one row per security event, written in the same transaction as
-- the change it records. Each row carries the HMAC-SHA256 (key in the secret store, never in
-- the database) of its own fields and the previous row's `hash`, so editing, deleting or
-- inserting a row breaks the chain (`permesi audit verify`), and someone with only database
-- access cannot recompute it.
--   seq         gap-free position in the chain (1, 2, ...), assigned under an advisory lock
--   actor_*     who acted: a user, a platform operator, an OIDC client, the system, or nobody
--               known (a failed login)
--   action      stable dotted name (`auth.login`, `org.member.invited`, ...)
--   target_*    what it acted on (`user`, `session`, `org`, ...) and its id
--   org_id      the organization the event belongs to (org admins may read those)
--   detail      JSON text, hashed byte for byte; never a secret, token or credential
CREATE TABLE audit_log (
    seq          BIGINT      PRIMARY KEY CHECK (seq > 0),
    occurred_at  TIMESTAMPTZ NOT NULL,
    actor_kind   TEXT        NOT NULL
                             CHECK (actor_kind IN ('user', 'operator', 'client', 'system', 'anonymous')),
    actor_id     UUID,
    action       TEXT        NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$' AND length(action) <= 64),
    outcome      TEXT        NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    target_kind  TEXT        CHECK (target_kind ~ '^[a-z_]+$' AND length(target_kind) <= 32),
    target_id    TEXT        CHECK (length(target_id) <= 128),
    org_id       UUID,
    client_ip    INET,
    request_id   TEXT        CHECK (length(request_id) <= 128),
    detail       TEXT        NOT NULL DEFAULT '{}' CHECK (length(detail) <= 4096),
    prev_hash    BYTEA       NOT NULL CHECK (length(prev_hash) = 32),
    hash         BYTEA       NOT NULL UNIQUE CHECK (length(hash) = 32),
    CHECK ((actor_kind IN ('system', 'anonymous')) = (actor_id IS NULL)),
    CHECK ((target_kind IS NULL) = (target_id IS NULL))
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, seq DESC) WHERE org_id IS NOT NULL;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq DESC) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_log_target_idx ON audit_log (target_kind, target_id, seq DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq DESC);

-- Append-only for everyone, the service's own role included.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
