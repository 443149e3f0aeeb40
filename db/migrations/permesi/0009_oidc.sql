-- permesi as an OpenID Provider: per-application OIDC options, pending authorization requests,
-- remembered consent, authorization codes, refresh-token families and the access tokens that
-- can be revoked. Independent of 0008 (MFA). Every credential is stored as its SHA-256 only.

-- `jwks`: the client's public keys for private_key_jwt (a JWK Set); `subject_type`: `public`
-- (the user id) or `pairwise` (a per-application HMAC of it); `id_token_signed_response_alg`:
-- how its ID tokens are signed.
ALTER TABLE applications
    ADD COLUMN jwks          JSONB CHECK (jwks IS NULL OR jsonb_typeof(jwks -> 'keys') = 'array'),
    ADD COLUMN subject_type  TEXT  NOT NULL DEFAULT 'public'
                                   CHECK (subject_type IN ('public', 'pairwise')),
    ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'EdDSA'
                                   CHECK (id_token_signed_response_alg IN ('EdDSA', 'ES256'));

-- A validated authorization request waiting for login or consent (single use, short TTL).
CREATE TABLE oauth_requests (
    id_hash         BYTEA       PRIMARY KEY CHECK (length(id_hash) = 32),
    application_id  UUID        NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    params          JSONB       NOT NULL,
    consented_by    UUID        REFERENCES users (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_requests_expiry ON oauth_requests (expires_at);

-- What a user allowed an application (revocable by the user).
CREATE TABLE oauth_consents (
    user_id         UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id  UUID        NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scopes          TEXT[]      NOT NULL CHECK (array_position(scopes, NULL) IS NULL),
    granted_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, application_id)
);

-- Authorization codes: 60 s, consumed atomically once; a second presentation revokes what
-- the first one issued (tokens carry `code_id`).
CREATE TABLE oauth_codes (
    id              UUID        PRIMARY KEY,
    code_hash       BYTEA       NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    application_id  UUID        NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id         UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      UUID        NOT NULL,
    redirect_uri    TEXT        NOT NULL,
    scopes          TEXT[]      NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT        NOT NULL,
    resource        TEXT,
    auth_time       TIMESTAMPTZ NOT NULL,
    amr             TEXT[]      NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    consumed_at     TIMESTAMPTZ
);
CREATE INDEX oauth_codes_expiry ON oauth_codes (expires_at);

-- Refresh tokens: one row per token, rotated on every use. A family is everything descended
-- from one code; `parent_id` links a token to the one it replaced.
CREATE TABLE oauth_refresh_tokens (
    id              UUID        PRIMARY KEY,
    token_hash      BYTEA       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    family_id       UUID        NOT NULL,
    parent_id       UUID        REFERENCES oauth_refresh_tokens (id) ON DELETE CASCADE,
    code_id         UUID,
    application_id  UUID        NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id         UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      UUID        NOT NULL,
    scopes          TEXT[]      NOT NULL,
    resource        TEXT,
    auth_time       TIMESTAMPTZ NOT NULL,
    amr             TEXT[]      NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX oauth_refresh_family ON oauth_refresh_tokens (family_id);
CREATE INDEX oauth_refresh_parent ON oauth_refresh_tokens (parent_id);
CREATE INDEX oauth_refresh_code ON oauth_refresh_tokens (code_id);
CREATE INDEX oauth_refresh_user_app ON oauth_refresh_tokens (user_id, application_id);

-- Access tokens that can be revoked or looked up: every user-bound one (by code or refresh),
-- and any other JWT revoked through /oauth/revoke. Rows live until the token expires.
CREATE TABLE oauth_access_tokens (
    jti             UUID        PRIMARY KEY,
    application_id  UUID        NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id         UUID        REFERENCES users (id) ON DELETE CASCADE,
    code_id         UUID,
    family_id       UUID,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX oauth_access_code ON oauth_access_tokens (code_id);
CREATE INDEX oauth_access_family ON oauth_access_tokens (family_id);
CREATE INDEX oauth_access_expiry ON oauth_access_tokens (expires_at);
