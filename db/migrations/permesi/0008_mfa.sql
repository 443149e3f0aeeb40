-- Second factors and passkeys.
--   mfa_totp.secret_ciphertext  the TOTP secret, AEAD-encrypted by the key backend, bound to
--                               the user id; confirmed_at is NULL until a first code proved
--                               the authenticator has it (only then does login require it)
--   mfa_totp.last_step          the newest accepted time step: a code is accepted at most once
CREATE TABLE mfa_totp (
    user_id            UUID        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_ciphertext  TEXT        NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    confirmed_at       TIMESTAMPTZ,
    last_step          BIGINT      CHECK (last_step >= 0)
);

-- Ten single-use recovery codes per user, stored as SHA-256 (each code has 80 random bits;
-- they are looked up, not guessed, so a fast hash suffices). Regenerating replaces them all.
CREATE TABLE mfa_recovery_codes (
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BYTEA       NOT NULL CHECK (length(code_hash) = 32),
    created_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- WebAuthn credentials. `passkey` is webauthn-rs's serialized Passkey (public key, counter,
-- flags): public material, no secret. credential_id is unique across users.
CREATE TABLE passkeys (
    id              UUID        PRIMARY KEY,
    user_id         UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   BYTEA       NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 16 AND 1023),
    passkey         JSONB       NOT NULL,
    name            TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    sign_count      BIGINT      NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
    transports      TEXT[]      NOT NULL DEFAULT '{}',
    backup_eligible BOOLEAN     NOT NULL DEFAULT false,
    backup_state    BOOLEAN     NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);
