-- Minted admission token ids, written off the request path when the audit is enabled.
-- Holds no token, only its id, action and lifetime, so the table leaks nothing usable.
CREATE TABLE IF NOT EXISTS admission_audit (
    jti         TEXT        PRIMARY KEY CHECK (length(jti) BETWEEN 16 AND 64),
    action      TEXT        NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    kid         TEXT        NOT NULL,
    issued_at   TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL CHECK (expires_at > issued_at),
    client_ip   INET
);

CREATE INDEX IF NOT EXISTS admission_audit_issued_at ON admission_audit (issued_at);
