-- Platform operators: the people who run permesi itself (not tenants' admins).
--   claimed_via  how they became one: `bootstrap` (local one-time token), `vault` (a Vault
--                token holding the operators policy)
CREATE TABLE platform_operators (
    user_id      UUID        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    claimed_via  TEXT        NOT NULL CHECK (claimed_via IN ('bootstrap', 'vault')),
    created_at   TIMESTAMPTZ NOT NULL
);

-- One-time operator tokens of the local backend (`permesi operator-token`). Only the SHA-256
-- of the 256-bit token is kept; a token is spent by its first successful use.
CREATE TABLE operator_tokens (
    token_hash  BYTEA       PRIMARY KEY CHECK (length(token_hash) = 32),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    CHECK (expires_at > created_at)
);

-- Claim and elevation attempts, for the limit of 3 per 10 minutes per user and the lockout
-- after repeated failure. Rows older than a day are useless and may be deleted.
CREATE TABLE operator_attempts (
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    succeeded   BOOLEAN     NOT NULL
);
CREATE INDEX operator_attempts_user_idx ON operator_attempts (user_id, at DESC);

-- Elevated sessions: a session (rotated at elevation) that may perform sensitive operator
-- actions until `expires_at`.
CREATE TABLE operator_elevations (
    session_id  UUID        PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    user_id     UUID        NOT NULL REFERENCES platform_operators (user_id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    CHECK (expires_at > created_at)
);
