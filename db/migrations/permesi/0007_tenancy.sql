-- Tenancy: organizations own projects, projects own environments, environments own
-- applications (the OIDC clients). Conventions:
--   * slugs are DNS-label-like (`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`), unique among the live
--     rows of their parent (partial unique indexes `WHERE deleted_at IS NULL`), so deleting a
--     row frees its slug;
--   * deleted_at  soft delete: the row is hidden at once and hard-deleted by the purge job
--                 after the retention period (`PERMESI_TENANCY_RETENTION_DAYS`); deleting a
--                 parent soft-deletes its children in the same transaction;
--   * no secret in clear: invitation tokens and client secrets are stored as hashes / MACs,
--     invited addresses as blind index + ciphertext (like `users`).

CREATE TABLE orgs (
    id          UUID        PRIMARY KEY,
    slug        TEXT        NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name        TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    deleted_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX orgs_slug_live ON orgs (slug) WHERE deleted_at IS NULL;
CREATE INDEX orgs_deleted_idx ON orgs (deleted_at) WHERE deleted_at IS NOT NULL;

-- Membership: one role per (org, user). Leaving or removal deletes the row (audited). The last
-- owner rule (an org always keeps an owner) is enforced by the service under a lock on the
-- org row, so concurrent demotions cannot both pass.
CREATE TABLE org_members (
    org_id      UUID        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT        NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
-- "My organizations".
CREATE INDEX org_members_user_idx ON org_members (user_id);

-- Invitations by email: single use, expiring, revocable.
--   token_hash        SHA-256 of the 256-bit random token (only the emailed link carries it)
--   email_index       blind index of the invited address (compared with the accepting user's)
--   email_ciphertext  the address, encrypted by the key backend, bound to the invitation id
CREATE TABLE org_invitations (
    id                UUID        PRIMARY KEY,
    org_id            UUID        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    token_hash        BYTEA       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    email_index       BYTEA       NOT NULL CHECK (length(email_index) = 32),
    email_ciphertext  TEXT        NOT NULL,
    role              TEXT        NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    invited_by        UUID        REFERENCES users (id) ON DELETE SET NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    accepted_at       TIMESTAMPTZ,
    accepted_by       UUID        REFERENCES users (id) ON DELETE SET NULL,
    revoked_at        TIMESTAMPTZ,
    CHECK (expires_at > created_at),
    CHECK (accepted_at IS NULL OR revoked_at IS NULL),
    CHECK (accepted_by IS NULL OR accepted_at IS NOT NULL)
);
-- At most one open invitation per address and org (expired ones are retired before a new one).
CREATE UNIQUE INDEX org_invitations_open ON org_invitations (org_id, email_index)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

CREATE TABLE projects (
    id          UUID        PRIMARY KEY,
    org_id      UUID        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    slug        TEXT        NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name        TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    deleted_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX projects_slug_live ON projects (org_id, slug) WHERE deleted_at IS NULL;
CREATE INDEX projects_deleted_idx ON projects (deleted_at) WHERE deleted_at IS NOT NULL;

-- Environments have a tier. Rules, enforced here and not only in code:
--   * at most one live `production` per project (partial unique index);
--   * a live non-production environment needs a live production in its project
--     (SQLSTATE PT001 `production_first`);
--   * production cannot be deleted, or lose its tier, while non-production environments of
--     its project are live (SQLSTATE PT002 `production_in_use`).
-- The trigger locks the project row first, so concurrent inserts and deletes serialise.
CREATE TABLE environments (
    id          UUID        PRIMARY KEY,
    project_id  UUID        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    slug        TEXT        NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name        TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    tier        TEXT        NOT NULL CHECK (tier IN ('production', 'staging', 'development')),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    deleted_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX environments_slug_live ON environments (project_id, slug)
    WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX environments_one_production ON environments (project_id)
    WHERE tier = 'production' AND deleted_at IS NULL;
CREATE INDEX environments_deleted_idx ON environments (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE FUNCTION environments_production_rules() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    project UUID := CASE WHEN TG_OP = 'DELETE' THEN OLD.project_id ELSE NEW.project_id END;
BEGIN
    PERFORM 1 FROM projects WHERE id = project FOR UPDATE;
    -- Production stays while anything else in the project is live.
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL AND OLD.tier = 'production'
       AND (TG_OP = 'DELETE' OR NEW.deleted_at IS NOT NULL OR NEW.tier <> 'production')
       AND EXISTS (SELECT 1 FROM environments
                   WHERE project_id = project AND tier <> 'production'
                     AND deleted_at IS NULL AND id <> OLD.id) THEN
        RAISE EXCEPTION 'production_in_use: delete the other environments first'
            USING ERRCODE = 'PT002';
    END IF;
    -- A live non-production environment needs a live production beside it.
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL AND NEW.tier <> 'production'
       AND NOT EXISTS (SELECT 1 FROM environments
                       WHERE project_id = project AND tier = 'production'
                         AND deleted_at IS NULL AND id <> NEW.id) THEN
        RAISE EXCEPTION 'production_first: create the production environment first'
            USING ERRCODE = 'PT001';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER environments_production_rules
    BEFORE INSERT OR UPDATE OF tier, deleted_at, project_id OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION environments_production_rules();

-- Applications: the OIDC clients of an environment.
--   client_id           public, random, never reused (unique across deleted rows too)
--   client_secret_mac   HMAC-SHA256 of the secret under a key from the secret store
--                       (`permesi-client-secret-key`); confidential clients only
--   redirect_uris       exact strings compared byte for byte; required with authorization_code
--   grant_types         `client_credentials` only for confidential clients
CREATE TABLE applications (
    id                         UUID        PRIMARY KEY,
    environment_id             UUID        NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    slug                       TEXT        NOT NULL
                                           CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name                       TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    client_id                  TEXT        NOT NULL UNIQUE CHECK (client_id ~ '^[a-z0-9_]{16,64}$'),
    client_type                TEXT        NOT NULL CHECK (client_type IN ('confidential', 'public')),
    client_secret_mac          BYTEA       CHECK (length(client_secret_mac) = 32),
    secret_rotated_at          TIMESTAMPTZ,
    redirect_uris              TEXT[]      NOT NULL
                                           CHECK (cardinality(redirect_uris) <= 20
                                                  AND array_position(redirect_uris, NULL) IS NULL),
    post_logout_redirect_uris  TEXT[]      NOT NULL DEFAULT '{}'
                                           CHECK (cardinality(post_logout_redirect_uris) <= 20
                                                  AND array_position(post_logout_redirect_uris, NULL) IS NULL),
    allowed_scopes             TEXT[]      NOT NULL
                                           CHECK (cardinality(allowed_scopes) BETWEEN 1 AND 50
                                                  AND array_position(allowed_scopes, NULL) IS NULL),
    grant_types                TEXT[]      NOT NULL
                                           CHECK (cardinality(grant_types) BETWEEN 1 AND 3
                                                  AND array_position(grant_types, NULL) IS NULL
                                                  AND grant_types <@ ARRAY['authorization_code',
                                                      'refresh_token', 'client_credentials']::TEXT[]),
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL,
    deleted_at                 TIMESTAMPTZ,
    CHECK ((client_type = 'confidential') = (client_secret_mac IS NOT NULL)),
    CHECK (client_type = 'confidential' OR NOT ('client_credentials' = ANY (grant_types))),
    CHECK (cardinality(redirect_uris) >= 1 OR NOT ('authorization_code' = ANY (grant_types)))
);
CREATE UNIQUE INDEX applications_slug_live ON applications (environment_id, slug)
    WHERE deleted_at IS NULL;
CREATE INDEX applications_deleted_idx ON applications (deleted_at) WHERE deleted_at IS NOT NULL;

-- Invitation mail goes through the existing outbox. An invitation has no user yet, so
-- `user_id` becomes optional: required for `verify_email`, absent for `org_invitation` (whose
-- recipient ciphertext is bound to the outbox row id instead).
ALTER TABLE email_outbox ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_kind_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_kind_check
    CHECK (kind IN ('verify_email', 'org_invitation'));
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_user_by_kind_check
    CHECK ((kind = 'verify_email') = (user_id IS NOT NULL));
