//! SQL for operators, their tokens, attempts and elevations, and the operators' user views.

use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool, Row};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Namespace of the per-user attempt locks (two-key advisory locks; apart from the audit lock).
const ATTEMPT_LOCK_SPACE: i32 = 0x6f70_6572; // "oper"

pub(super) async fn any_operator(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM platform_operators)")
        .fetch_one(db)
        .await
}

pub(super) async fn is_operator(db: impl PgExecutor<'_>, user: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM platform_operators o JOIN users u ON u.id = o.user_id \
         WHERE o.user_id = $1 AND u.status = 'active')",
    )
    .bind(user)
    .fetch_one(db)
    .await
}

pub(super) async fn elevated_until(
    db: impl PgExecutor<'_>,
    user: Uuid,
    session: Uuid,
    now: OffsetDateTime,
) -> sqlx::Result<Option<OffsetDateTime>> {
    sqlx::query_scalar(
        "SELECT e.expires_at FROM operator_elevations e \
         JOIN sessions s ON s.id = e.session_id \
         JOIN users u ON u.id = e.user_id \
         WHERE e.session_id = $1 AND e.user_id = $2 AND e.expires_at > $3 \
           AND s.revoked_at IS NULL AND u.status = 'active'",
    )
    .bind(session)
    .bind(user)
    .bind(now)
    .fetch_optional(db)
    .await
}

pub(super) async fn insert_token(
    db: impl PgExecutor<'_>,
    hash: &[u8; 32],
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO operator_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(hash.as_slice())
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// Spends an unused, unexpired local token; `false` when there is none with this hash.
pub(super) async fn spend_token(
    db: impl PgExecutor<'_>,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE operator_tokens SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(hash.as_slice())
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Serialises one user's attempts, so parallel requests cannot all pass the limit.
pub(super) async fn lock_attempts(conn: &mut PgConnection, user: Uuid) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(ATTEMPT_LOCK_SPACE)
        .bind(user)
        .execute(conn)
        .await
        .map(|_| ())
}

pub(super) async fn attempts_since(
    conn: &mut PgConnection,
    user: Uuid,
    since: OffsetDateTime,
) -> sqlx::Result<Vec<(OffsetDateTime, bool)>> {
    sqlx::query_as("SELECT at, succeeded FROM operator_attempts WHERE user_id = $1 AND at > $2")
        .bind(user)
        .bind(since)
        .fetch_all(conn)
        .await
}

pub(super) async fn record_attempt(
    conn: &mut PgConnection,
    user: Uuid,
    at: OffsetDateTime,
    succeeded: bool,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO operator_attempts (user_id, at, succeeded) VALUES ($1, $2, $3)")
        .bind(user)
        .bind(at)
        .bind(succeeded)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Makes `user` the first operator; `false` when someone already is.
pub(super) async fn claim(
    conn: &mut PgConnection,
    user: Uuid,
    via: &str,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    // Blocks concurrent claims (and itself) until this transaction ends.
    sqlx::query("LOCK TABLE platform_operators IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query(
        "INSERT INTO platform_operators (user_id, claimed_via, created_at) \
         SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM platform_operators)",
    )
    .bind(user)
    .bind(via)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn elevate(
    conn: &mut PgConnection,
    user: Uuid,
    session: Uuid,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO operator_elevations (session_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (session_id) DO UPDATE SET created_at = $3, expires_at = $4",
    )
    .bind(session)
    .bind(user)
    .bind(now)
    .bind(until)
    .execute(conn)
    .await
    .map(|_| ())
}

/// An account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May log in.
    Active,
    /// May not log in; sessions ended.
    Disabled,
}

impl UserStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// An account as operators see it (the sealed email is opened by the caller).
#[derive(Debug, Clone)]
pub struct UserLine {
    /// Id.
    pub id: Uuid,
    /// The sealed email.
    pub email_ciphertext: String,
    /// `active` or `disabled`.
    pub status: String,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Signup time.
    pub created_at: OffsetDateTime,
    /// Whether the account is a platform operator.
    pub operator: bool,
}

/// Users newest first, after `before` (an id), optionally only `index` or `status`.
pub async fn list_users(
    pool: &PgPool,
    index: Option<&[u8]>,
    status: Option<UserStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<UserLine>> {
    let rows = sqlx::query(
        "SELECT u.id, u.email_ciphertext, u.status, u.email_verified_at IS NOT NULL AS verified, \
                u.created_at, o.user_id IS NOT NULL AS operator \
         FROM users u LEFT JOIN platform_operators o ON o.user_id = u.id \
         WHERE ($1::bytea IS NULL OR u.email_index = $1) \
           AND ($2::text IS NULL OR u.status = $2) \
           AND ($3::uuid IS NULL OR u.id < $3) \
         ORDER BY u.id DESC LIMIT $4",
    )
    .bind(index)
    .bind(status.map(UserStatus::as_str))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UserLine {
                id: r.try_get("id")?,
                email_ciphertext: r.try_get("email_ciphertext")?,
                status: r.try_get("status")?,
                email_verified: r.try_get("verified")?,
                created_at: r.try_get("created_at")?,
                operator: r.try_get("operator")?,
            })
        })
        .collect()
}

/// Sets `user`'s status; `false` when there is no such user.
pub async fn set_status(
    conn: &mut PgConnection,
    user: Uuid,
    status: UserStatus,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE users SET status = $2, updated_at = now() WHERE id = $1")
        .bind(user)
        .bind(status.as_str())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
