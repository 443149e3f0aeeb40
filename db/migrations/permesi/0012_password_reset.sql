-- Password reset by email link: single-use 256-bit tokens stored as SHA-256 only, 30 minutes.
-- The mail goes through the outbox as kind `password_reset` (recipient sealed on the outbox row
-- id, like invitations, so `user_id` stays empty there).
CREATE TABLE password_reset_tokens (
    token_hash  BYTEA       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL CHECK (expires_at > created_at),
    used_at     TIMESTAMPTZ
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id, created_at DESC);

ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_check
    CHECK (kind IN ('verify_email', 'org_invitation', 'password_reset'));
