-- Browser sessions. The cookie carries a 256-bit random secret; only its SHA-256 is stored:
--   id            public handle for listing and revoking ("sign out that device"), never a
--                 credential: knowing it authenticates nothing
--   token_hash    SHA-256 of the cookie secret (the lookup key)
--   auth_methods  RFC 8176 `amr` values of the login that made the session (for acr/amr)
-- A session is active while revoked_at IS NULL and now < idle_expires_at and
-- now < absolute_expires_at. idle_expires_at slides forward on use (never past the absolute
-- expiry); a new login always makes a new row, ids and secrets are never reused.
CREATE TABLE sessions (
    id                   UUID        PRIMARY KEY,
    token_hash           BYTEA       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id              UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at           TIMESTAMPTZ NOT NULL,
    last_seen_at         TIMESTAMPTZ NOT NULL,
    idle_expires_at      TIMESTAMPTZ NOT NULL,
    absolute_expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at           TIMESTAMPTZ,
    user_agent           TEXT        CHECK (length(user_agent) <= 512),
    client_ip            INET,
    auth_methods         TEXT[]      NOT NULL
                                     CHECK (cardinality(auth_methods) BETWEEN 1 AND 8
                                            AND array_position(auth_methods, NULL) IS NULL
                                            AND auth_methods <@ ARRAY['pwd', 'otp', 'hwk',
                                                                      'swk', 'mfa']::TEXT[]),
    CHECK (last_seen_at >= created_at),
    CHECK (absolute_expires_at > created_at),
    CHECK (idle_expires_at > created_at AND idle_expires_at <= absolute_expires_at),
    CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
-- Listing a user's sessions, revoking all of them, and the cascade.
CREATE INDEX sessions_user_idx ON sessions (user_id, last_seen_at DESC);
-- A purge job deletes rows long past their absolute expiry.
CREATE INDEX sessions_absolute_expiry_idx ON sessions (absolute_expires_at);
