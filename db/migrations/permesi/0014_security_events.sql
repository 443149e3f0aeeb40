-- Anonymous security events (failed logins, wrong second-factor codes, refused attempts,
-- ...) leave the audit chain: they need no global lock, cost one plain INSERT, and are
-- pruned by age and count (PERMESI_SECURITY_EVENTS_RETENTION_DAYS, _MAX_ROWS) so unauthenticated
-- traffic cannot grow the database without bound. The chain keeps state changes made by
-- authenticated principals and the aggregated throttle events.
CREATE TABLE security_events (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  TIMESTAMPTZ NOT NULL,
    action       TEXT        NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$' AND length(action) <= 64),
    outcome      TEXT        NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    target_kind  TEXT        CHECK (target_kind ~ '^[a-z_]+$' AND length(target_kind) <= 32),
    target_id    TEXT        CHECK (length(target_id) <= 128),
    client_ip    INET,
    request_id   TEXT        CHECK (length(request_id) <= 128),
    detail       TEXT        NOT NULL DEFAULT '{}' CHECK (length(detail) <= 4096),
    CHECK ((target_kind IS NULL) = (target_id IS NULL))
);
CREATE INDEX security_events_time_idx ON security_events (occurred_at);
CREATE INDEX security_events_target_idx ON security_events (target_kind, target_id, id DESC);

-- Step-up: when the session last proved a factor (the login, or a re-authentication).
ALTER TABLE sessions ADD COLUMN authenticated_at TIMESTAMPTZ;
UPDATE sessions SET authenticated_at = created_at;
ALTER TABLE sessions ALTER COLUMN authenticated_at SET NOT NULL;

-- A verification link verifies the registration it was mailed for: a signup for an address
-- whose account is not verified yet keeps its OPAQUE record with its own link (NULL: the
-- account's record), and the link that is used installs it and retires every other one.
ALTER TABLE email_verification_tokens ADD COLUMN opaque_record BYTEA;

-- Notices: someone tried to sign up with a verified address; a sign-in factor changed.
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_check
    CHECK (kind IN ('verify_email', 'org_invitation', 'password_reset', 'security_notice'));
