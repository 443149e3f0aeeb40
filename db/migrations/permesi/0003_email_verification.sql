-- Email verification: single-use tokens and an outbox of messages for the delivery worker.
-- Neither table holds a clear token or address:
--   token_hash            SHA-256 of the 256-bit random token (the link carries the token)
--   recipient_ciphertext  the address, encrypted by the key backend, bound to the user id
--   link_ciphertext       the link, encrypted by the key backend, bound to the outbox id;
--                         erased once the message is sent or has failed for good
CREATE TABLE email_verification_tokens (
    token_hash  BYTEA       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    CHECK (expires_at > created_at)
);
-- Serves the resend cooldown (newest token of a user) and the cascade.
CREATE INDEX email_verification_tokens_user_idx
    ON email_verification_tokens (user_id, created_at DESC);

CREATE TABLE email_outbox (
    id                    UUID        PRIMARY KEY,
    user_id               UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind                  TEXT        NOT NULL CHECK (kind IN ('verify_email')),
    recipient_ciphertext  TEXT        NOT NULL,
    link_ciphertext       TEXT,
    status                TEXT        NOT NULL DEFAULT 'pending'
                                      CHECK (status IN ('pending', 'sent', 'failed')),
    attempts              INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at       TIMESTAMPTZ NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    sent_at               TIMESTAMPTZ,
    -- A fixed failure category written by the worker (`connect`, `smtp_transient`, ...),
    -- never a server reply, an address or a link.
    last_error            TEXT        CHECK (last_error ~ '^[a-z_]{1,32}$'),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK (status <> 'pending' OR link_ciphertext IS NOT NULL)
);
CREATE INDEX email_outbox_user_idx ON email_outbox (user_id);
-- The worker's claim query: due pending rows, oldest first.
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE status = 'pending';
