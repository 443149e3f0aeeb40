-- Accounts. No column holds an email or a password in clear:
--   email_index       HMAC-SHA256 blind index of the normalised email (finds the account)
--   email_ciphertext  the email, AEAD-encrypted by the key backend, bound to the row id
--   opaque_record     the OPAQUE registration record (RFC 9807), useless without the server keys
CREATE TABLE users (
    id                 UUID        PRIMARY KEY,
    email_index        BYTEA       NOT NULL UNIQUE CHECK (length(email_index) = 32),
    email_ciphertext   TEXT        NOT NULL,
    opaque_record      BYTEA       NOT NULL,
    status             TEXT        NOT NULL DEFAULT 'active'
                                   CHECK (status IN ('active', 'disabled')),
    email_verified_at  TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
