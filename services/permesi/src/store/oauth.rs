//! OAuth/OIDC rows: clients as the token endpoint sees them, pending authorization requests,
//! consents, codes, refresh tokens and revocable access tokens. Credentials only as SHA-256.

use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    oidc::{AuthorizationRequest, SubjectType, keys::Alg},
    tenancy::{ClientType, GrantType},
};

/// An application as an OAuth client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Application id.
    pub id: Uuid,
    /// Its organization (for audit entries).
    pub org_id: Uuid,
    /// Display name (for the consent page).
    pub name: String,
    /// Public client id.
    pub client_id: String,
    /// Confidential or public.
    pub client_type: ClientType,
    /// MAC of the client secret.
    pub secret_mac: Option<Vec<u8>>,
    /// Registered public keys for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes it may be granted.
    pub allowed_scopes: Vec<String>,
    /// Grants it may use.
    pub grant_types: Vec<GrantType>,
    /// How it sees user ids.
    pub subject_type: SubjectType,
    /// How its ID tokens are signed.
    pub id_token_alg: Alg,
}

impl Client {
    /// Whether it may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

fn client(row: &PgRow) -> Result<Client, sqlx::Error> {
    let bad = |what: &str| sqlx::Error::Decode(format!("unexpected stored {what}").into());
    let client_type: String = row.try_get("client_type")?;
    let grants: Vec<String> = row.try_get("grant_types")?;
    let subject: String = row.try_get("subject_type")?;
    let alg: String = row.try_get("id_token_signed_response_alg")?;
    Ok(Client {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        client_id: row.try_get("client_id")?,
        client_type: ClientType::parse(&client_type).ok_or_else(|| bad("client type"))?,
        secret_mac: row.try_get("client_secret_mac")?,
        jwks: row.try_get("jwks")?,
        redirect_uris: row.try_get("redirect_uris")?,
        post_logout_redirect_uris: row.try_get("post_logout_redirect_uris")?,
        allowed_scopes: row.try_get("allowed_scopes")?,
        grant_types: grants
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| bad("grant type")))
            .collect::<Result<_, _>>()?,
        subject_type: SubjectType::parse(&subject).ok_or_else(|| bad("subject type"))?,
        id_token_alg: Alg::parse(&alg).ok_or_else(|| bad("id token algorithm"))?,
    })
}

macro_rules! client_query {
    ($where:literal) => {
        concat!(
            "SELECT a.id, p.org_id, a.name, a.client_id, a.client_type, a.client_secret_mac, \
             a.jwks, a.redirect_uris, a.post_logout_redirect_uris, a.allowed_scopes, \
             a.grant_types, a.subject_type, a.id_token_signed_response_alg \
             FROM applications a \
             JOIN environments e ON e.id = a.environment_id AND e.deleted_at IS NULL \
             JOIN projects p ON p.id = e.project_id AND p.deleted_at IS NULL \
             JOIN orgs o ON o.id = p.org_id AND o.deleted_at IS NULL \
             WHERE a.deleted_at IS NULL AND ",
            $where
        )
    };
}

/// Longest client id looked up (ours are 32 hex characters).
const MAX_CLIENT_ID: usize = 64;

/// The live client with this client id. An id that cannot be one (too long, not printable
/// ASCII: PostgreSQL would refuse a NUL) is unknown without a query.
pub async fn client_by_client_id(
    pool: &PgPool,
    client_id: &str,
) -> Result<Option<Client>, sqlx::Error> {
    if client_id.len() > MAX_CLIENT_ID || !client_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(None);
    }
    let row = sqlx::query(client_query!("a.client_id = $1"))
        .bind(client_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(client).transpose()
}

/// The live client with this application id.
pub async fn client_by_id(pool: &PgPool, id: Uuid) -> Result<Option<Client>, sqlx::Error> {
    let row = sqlx::query(client_query!("a.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(client).transpose()
}

/// A pending authorization request.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    /// The client's application id.
    pub application_id: Uuid,
    /// What was asked.
    pub params: AuthorizationRequest,
    /// The user who approved it on the consent page, if one did.
    pub consented_by: Option<Uuid>,
    /// When it was made (a login after this satisfies `prompt=login`).
    pub created_at: OffsetDateTime,
}

/// Stores a validated request under the hash of its id.
pub async fn put_request(
    pool: &PgPool,
    id_hash: &[u8; 32],
    application: Uuid,
    params: &AuthorizationRequest,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let params = serde_json::to_value(params)
        .map_err(|e| sqlx::Error::Encode(format!("request: {e}").into()))?;
    sqlx::query(
        "INSERT INTO oauth_requests (id_hash, application_id, params, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id_hash.as_slice())
    .bind(application)
    .bind(params)
    .bind(now)
    .bind(now + crate::oidc::REQUEST_TTL)
    .execute(pool)
    .await?;
    Ok(())
}

/// The unexpired request under this id hash.
pub async fn get_request(
    pool: &PgPool,
    id_hash: &[u8; 32],
    now: OffsetDateTime,
) -> Result<Option<PendingRequest>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT application_id, params, consented_by, created_at FROM oauth_requests \
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash.as_slice())
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        let params: serde_json::Value = row.try_get("params")?;
        Ok(PendingRequest {
            application_id: row.try_get("application_id")?,
            params: serde_json::from_value(params)
                .map_err(|e| sqlx::Error::Decode(format!("request: {e}").into()))?,
            consented_by: row.try_get("consented_by")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Records that `user` approved the request on the consent page.
pub async fn mark_consented(
    conn: &mut PgConnection,
    id_hash: &[u8; 32],
    user: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE oauth_requests SET consented_by = $2 WHERE id_hash = $1")
        .bind(id_hash.as_slice())
        .bind(user)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a request (finished or refused); `true` when this call removed it.
pub async fn delete_request(
    conn: &mut PgConnection,
    id_hash: &[u8; 32],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM oauth_requests WHERE id_hash = $1")
        .bind(id_hash.as_slice())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The scopes `user` granted `application`, if any.
pub async fn consent(
    pool: &PgPool,
    user: Uuid,
    application: Uuid,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT scopes FROM oauth_consents WHERE user_id = $1 AND application_id = $2",
    )
    .bind(user)
    .bind(application)
    .fetch_optional(pool)
    .await
}

/// Adds `scopes` to what `user` granted `application`.
pub async fn grant_consent(
    conn: &mut PgConnection,
    user: Uuid,
    application: Uuid,
    scopes: &[String],
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_consents (user_id, application_id, scopes, granted_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id, application_id) DO UPDATE \
         SET scopes = ARRAY(SELECT DISTINCT s FROM unnest(oauth_consents.scopes || $3) s \
                            ORDER BY s), updated_at = $4",
    )
    .bind(user)
    .bind(application)
    .bind(scopes)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// One remembered consent, as its user sees it.
#[derive(Debug, Clone)]
pub struct ConsentLine {
    /// The application.
    pub application_id: Uuid,
    /// Its client id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// First granted.
    pub granted_at: OffsetDateTime,
}

/// Every consent of `user`.
pub async fn consents(pool: &PgPool, user: Uuid) -> Result<Vec<ConsentLine>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.application_id, a.client_id, a.name, c.scopes, c.granted_at \
         FROM oauth_consents c JOIN applications a ON a.id = c.application_id \
         WHERE c.user_id = $1 AND a.deleted_at IS NULL ORDER BY a.name, a.client_id",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ConsentLine {
                application_id: r.try_get("application_id")?,
                client_id: r.try_get("client_id")?,
                name: r.try_get("name")?,
                scopes: r.try_get("scopes")?,
                granted_at: r.try_get("granted_at")?,
            })
        })
        .collect()
}

/// Deletes `user`'s consent for the application with `client_id` and revokes the refresh
/// tokens and access tokens it issued to that user; the application id when there was one.
pub async fn revoke_consent(
    conn: &mut PgConnection,
    user: Uuid,
    client_id: &str,
    now: OffsetDateTime,
) -> Result<Option<Uuid>, sqlx::Error> {
    let app: Option<Uuid> = sqlx::query_scalar(
        "DELETE FROM oauth_consents c USING applications a \
         WHERE c.application_id = a.id AND c.user_id = $1 AND a.client_id = $2 \
         RETURNING c.application_id",
    )
    .bind(user)
    .bind(client_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(app) = app {
        revoke_user_tokens(conn, user, Some(app), now).await?;
    }
    Ok(app)
}

/// Revokes the user's refresh tokens and recorded access tokens, for one application or (with
/// `None`) for all of them; returns how many refresh tokens were live.
pub async fn revoke_user_tokens(
    conn: &mut PgConnection,
    user: Uuid,
    application: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    let refresh = sqlx::query(
        "UPDATE oauth_refresh_tokens SET revoked_at = $3 \
         WHERE user_id = $1 AND ($2::uuid IS NULL OR application_id = $2) \
           AND revoked_at IS NULL",
    )
    .bind(user)
    .bind(application)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE oauth_access_tokens SET revoked_at = $3 \
         WHERE user_id = $1 AND ($2::uuid IS NULL OR application_id = $2) \
           AND revoked_at IS NULL",
    )
    .bind(user)
    .bind(application)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(refresh.rows_affected())
}

/// What a code (or a refresh token) carries about the authentication behind it.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The client's application.
    pub application_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The browser session that authenticated.
    pub session_id: Uuid,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// RFC 8707 resource.
    pub resource: Option<String>,
    /// When the user authenticated.
    pub auth_time: OffsetDateTime,
    /// How.
    pub amr: Vec<String>,
}

/// The grant columns of a code or refresh-token row.
fn grant(row: &PgRow) -> Result<Grant, sqlx::Error> {
    Ok(Grant {
        application_id: row.try_get("application_id")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        scopes: row.try_get("scopes")?,
        resource: row.try_get("resource")?,
        auth_time: row.try_get("auth_time")?,
        amr: row.try_get("amr")?,
    })
}

/// An authorization code to store.
#[derive(Debug)]
pub struct NewCode<'a> {
    /// Id (tokens it issues carry it).
    pub id: Uuid,
    /// SHA-256 of the code.
    pub hash: [u8; 32],
    /// What it grants.
    pub grant: &'a Grant,
    /// The redirect URI it was sent to (must be presented again).
    pub redirect_uri: &'a str,
    /// For the ID token.
    pub nonce: Option<&'a str>,
    /// PKCE `S256` challenge.
    pub code_challenge: &'a str,
}

/// Stores a code (60 s).
pub async fn insert_code(
    conn: &mut PgConnection,
    code: &NewCode<'_>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_codes (id, code_hash, application_id, user_id, session_id, \
         redirect_uri, scopes, nonce, code_challenge, resource, auth_time, amr, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(code.id)
    .bind(code.hash.as_slice())
    .bind(code.grant.application_id)
    .bind(code.grant.user_id)
    .bind(code.grant.session_id)
    .bind(code.redirect_uri)
    .bind(&code.grant.scopes)
    .bind(code.nonce)
    .bind(code.code_challenge)
    .bind(&code.grant.resource)
    .bind(code.grant.auth_time)
    .bind(&code.grant.amr)
    .bind(now)
    .bind(now + crate::oidc::CODE_TTL)
    .execute(conn)
    .await?;
    Ok(())
}

/// A consumed code.
#[derive(Debug, Clone)]
pub struct Code {
    /// Id.
    pub id: Uuid,
    /// What it grants.
    pub grant: Grant,
    /// Where it was sent.
    pub redirect_uri: String,
    /// For the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: String,
}

/// How consuming a code ended.
#[derive(Debug)]
pub enum Consumed {
    /// First use of a live code.
    Fresh(Box<Code>),
    /// Used before: the id, to revoke what it issued.
    Reused(Uuid, Uuid),
    /// Unknown or expired.
    Invalid,
}

/// Consumes a code atomically (the first caller wins, every later one sees `Reused`).
pub async fn consume_code(
    conn: &mut PgConnection,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> Result<Consumed, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE oauth_codes SET consumed_at = $2 \
         WHERE code_hash = $1 AND consumed_at IS NULL AND expires_at > $2 \
           AND EXISTS (SELECT 1 FROM users u WHERE u.id = oauth_codes.user_id \
                       AND u.status = 'active') \
         RETURNING id, application_id, user_id, session_id, redirect_uri, scopes, nonce, \
                   code_challenge, resource, auth_time, amr",
    )
    .bind(hash.as_slice())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        return Ok(Consumed::Fresh(Box::new(Code {
            id: row.try_get("id")?,
            grant: grant(&row)?,
            redirect_uri: row.try_get("redirect_uri")?,
            nonce: row.try_get("nonce")?,
            code_challenge: row.try_get("code_challenge")?,
        })));
    }
    let used: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, application_id FROM oauth_codes \
         WHERE code_hash = $1 AND consumed_at IS NOT NULL",
    )
    .bind(hash.as_slice())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(used.map_or(Consumed::Invalid, |(id, app)| Consumed::Reused(id, app)))
}

/// Revokes every refresh and access token issued from a code; how many rows changed.
pub async fn revoke_by_code(
    conn: &mut PgConnection,
    code: Uuid,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    let refresh = sqlx::query(
        "UPDATE oauth_refresh_tokens SET revoked_at = $2 \
         WHERE family_id IN (SELECT family_id FROM oauth_refresh_tokens WHERE code_id = $1) \
           AND revoked_at IS NULL",
    )
    .bind(code)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let access = sqlx::query(
        "UPDATE oauth_access_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND \
         (code_id = $1 OR family_id IN \
            (SELECT family_id FROM oauth_refresh_tokens WHERE code_id = $1))",
    )
    .bind(code)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(refresh.rows_affected() + access.rows_affected())
}

/// A refresh token to store.
#[derive(Debug)]
pub struct NewRefresh<'a> {
    /// Id.
    pub id: Uuid,
    /// SHA-256 of the token.
    pub hash: [u8; 32],
    /// Its family.
    pub family_id: Uuid,
    /// The token it replaced.
    pub parent_id: Option<Uuid>,
    /// The code the family started from.
    pub code_id: Option<Uuid>,
    /// What it grants.
    pub grant: &'a Grant,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

/// Stores a refresh token.
pub async fn insert_refresh(
    conn: &mut PgConnection,
    token: &NewRefresh<'_>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_refresh_tokens (id, token_hash, family_id, parent_id, code_id, \
         application_id, user_id, session_id, scopes, resource, auth_time, amr, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(token.id)
    .bind(token.hash.as_slice())
    .bind(token.family_id)
    .bind(token.parent_id)
    .bind(token.code_id)
    .bind(token.grant.application_id)
    .bind(token.grant.user_id)
    .bind(token.grant.session_id)
    .bind(&token.grant.scopes)
    .bind(&token.grant.resource)
    .bind(token.grant.auth_time)
    .bind(&token.grant.amr)
    .bind(now)
    .bind(token.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored refresh token, locked for the caller's transaction.
#[derive(Debug, Clone)]
pub struct Refresh {
    /// Id.
    pub id: Uuid,
    /// Family.
    pub family_id: Uuid,
    /// The code the family started from.
    pub code_id: Option<Uuid>,
    /// What it grants.
    pub grant: Grant,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// When it was rotated.
    pub used_at: Option<OffsetDateTime>,
    /// Whether it is revoked.
    pub revoked: bool,
    /// How many successors it has.
    pub successors: u32,
    /// Whether its (single) successor was used.
    pub successor_used: bool,
}

/// The refresh token with this hash, `FOR UPDATE` so concurrent presentations of one token
/// are decided one after the other.
pub async fn lock_refresh(
    conn: &mut PgConnection,
    hash: &[u8; 32],
) -> Result<Option<Refresh>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, family_id, code_id, application_id, user_id, session_id, scopes, resource, \
         auth_time, amr, expires_at, used_at, revoked_at IS NOT NULL AS revoked \
         FROM oauth_refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash.as_slice())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: Uuid = row.try_get("id")?;
    let (successors, used): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(used_at) FROM oauth_refresh_tokens WHERE parent_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(Refresh {
        id,
        family_id: row.try_get("family_id")?,
        code_id: row.try_get("code_id")?,
        grant: grant(&row)?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        revoked: row.try_get("revoked")?,
        successors: u32::try_from(successors).unwrap_or(u32::MAX),
        successor_used: used > 0,
    }))
}

/// Marks a refresh token used.
pub async fn mark_refresh_used(
    conn: &mut PgConnection,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE oauth_refresh_tokens SET used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes a whole family and its access tokens; how many refresh tokens changed.
pub async fn revoke_family(
    conn: &mut PgConnection,
    family: Uuid,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oauth_refresh_tokens SET revoked_at = $2 \
         WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE oauth_access_tokens SET revoked_at = $2 \
         WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// A refresh token as introspection sees it (no lock).
pub async fn peek_refresh(
    pool: &PgPool,
    hash: &[u8; 32],
) -> Result<Option<(Uuid, Uuid, Grant, OffsetDateTime, bool)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, family_id, application_id, user_id, session_id, scopes, resource, \
         auth_time, amr, expires_at, (revoked_at IS NOT NULL OR used_at IS NOT NULL) AS dead \
         FROM oauth_refresh_tokens WHERE token_hash = $1",
    )
    .bind(hash.as_slice())
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok((
            row.try_get("id")?,
            row.try_get("family_id")?,
            grant(&row)?,
            row.try_get("expires_at")?,
            row.try_get("dead")?,
        ))
    })
    .transpose()
}

/// An access token to record (user-bound ones, so they can be revoked with their grant).
#[derive(Debug)]
pub struct NewAccess {
    /// `jti`.
    pub jti: Uuid,
    /// The client.
    pub application_id: Uuid,
    /// The user.
    pub user_id: Option<Uuid>,
    /// The code it came from.
    pub code_id: Option<Uuid>,
    /// The refresh family it came from.
    pub family_id: Option<Uuid>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

/// Records an access token.
pub async fn insert_access(conn: &mut PgConnection, token: &NewAccess) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_access_tokens (jti, application_id, user_id, code_id, family_id, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.jti)
    .bind(token.application_id)
    .bind(token.user_id)
    .bind(token.code_id)
    .bind(token.family_id)
    .bind(token.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes an access token by `jti` (recording it when it was not recorded).
pub async fn revoke_access(
    conn: &mut PgConnection,
    token: &NewAccess,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_access_tokens (jti, application_id, user_id, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (jti) DO UPDATE SET revoked_at = COALESCE(oauth_access_tokens.revoked_at, $5)",
    )
    .bind(token.jti)
    .bind(token.application_id)
    .bind(token.user_id)
    .bind(token.expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the access token `jti` was revoked, and its user when recorded.
pub async fn access_state(
    pool: &PgPool,
    jti: Uuid,
) -> Result<Option<(Option<Uuid>, bool)>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, revoked_at IS NOT NULL FROM oauth_access_tokens WHERE jti = $1")
        .bind(jti)
        .fetch_optional(pool)
        .await
}

/// Removes expired requests, codes and access-token records. Refresh tokens stay: each family's
/// rows are its reuse history, and they go with their user or application.
pub async fn purge_expired(pool: &PgPool, now: OffsetDateTime) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    for sql in [
        "DELETE FROM oauth_requests WHERE expires_at <= $1",
        "DELETE FROM oauth_codes WHERE expires_at <= $1 - interval '1 day'",
        "DELETE FROM oauth_access_tokens WHERE expires_at <= $1",
    ] {
        total += sqlx::query(sql)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
    }
    Ok(total)
}
