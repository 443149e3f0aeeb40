//! SQL for `sessions`. Rows never leave this module: they become [`Session`] and
//! [`SessionInfo`] here, and `token_hash` is only ever a lookup key.

use std::net::IpAddr;

use sqlx::{PgExecutor, Row, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AuthMethod, Session, SessionError, SessionId, SessionInfo};

const SESSION_COLUMNS: &str = "s.id, s.user_id, s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, \
     s.authenticated_at, s.auth_methods";

/// A session that was just revoked: what the cache needs to forget it.
#[derive(Debug)]
pub(crate) struct Revoked {
    pub id: Uuid,
    pub user_id: Uuid,
    pub hash: [u8; 32],
    pub absolute_expires_at: OffsetDateTime,
}

fn methods(row: &PgRow) -> Result<Vec<AuthMethod>, SessionError> {
    let names: Vec<String> = row.try_get("auth_methods")?;
    names
        .iter()
        .map(|n| AuthMethod::parse(n).ok_or(SessionError::CorruptData))
        .collect()
}

fn session(row: &PgRow) -> Result<Session, SessionError> {
    Ok(Session {
        id: SessionId(row.try_get("id")?),
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        idle_expires_at: row.try_get("idle_expires_at")?,
        absolute_expires_at: row.try_get("absolute_expires_at")?,
        authenticated_at: row.try_get("authenticated_at")?,
        auth_methods: methods(row)?,
    })
}

fn revoked(rows: &[PgRow]) -> Result<Vec<Revoked>, SessionError> {
    rows.iter()
        .map(|r| {
            let hash: Vec<u8> = r.try_get("token_hash")?;
            Ok(Revoked {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                hash: hash.try_into().map_err(|_| SessionError::CorruptData)?,
                absolute_expires_at: r.try_get("absolute_expires_at")?,
            })
        })
        .collect()
}

/// Inserts the session if its user exists and is active, and returns it as stored (with the
/// database's time precision); `None` otherwise.
pub(super) async fn insert(
    db: impl PgExecutor<'_>,
    session: &Session,
    hash: &[u8; 32],
    user_agent: Option<&str>,
    client_ip: Option<IpAddr>,
    password_generation: Option<i64>,
) -> Result<Option<Session>, SessionError> {
    let methods: Vec<&str> = session.auth_methods.iter().map(|m| m.as_str()).collect();
    // INET is bound as text: the workspace's sqlx has no IP network type enabled.
    let row = sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, \
         idle_expires_at, absolute_expires_at, user_agent, client_ip, auth_methods, \
         authenticated_at) \
         SELECT $1, $2, u.id, $4, $4, $5, $6, $7, $8::inet, $9, $4 \
         FROM users u WHERE u.id = $3 AND u.status = 'active' \
           AND ($10::bigint IS NULL OR u.password_generation = $10) \
         RETURNING id, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, \
                   authenticated_at, auth_methods",
    )
    .bind(session.id.0)
    .bind(hash.as_slice())
    .bind(session.user_id)
    .bind(session.created_at)
    .bind(session.idle_expires_at)
    .bind(session.absolute_expires_at)
    .bind(user_agent)
    .bind(client_ip.map(|ip| ip.to_string()))
    .bind(&methods)
    .bind(password_generation)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(self::session).transpose()
}

/// Records that the session `id` of `user` proved a factor again at `now` (step-up); `false`
/// when it is no longer active.
pub(super) async fn reauthenticated(
    db: impl PgExecutor<'_>,
    id: SessionId,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<bool, SessionError> {
    let done = sqlx::query(
        "UPDATE sessions SET authenticated_at = $3 \
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL \
           AND idle_expires_at > $3 AND absolute_expires_at > $3",
    )
    .bind(id.0)
    .bind(user)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The unrevoked session with this hash whose account is active (expiry is checked by the
/// caller, in one place).
pub(super) async fn find_by_hash(
    db: impl PgExecutor<'_>,
    hash: &[u8; 32],
) -> Result<Option<Session>, SessionError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND u.status = 'active'"
    )))
    .bind(hash.as_slice())
    .fetch_optional(db)
    .await?;
    row.as_ref().map(session).transpose()
}

/// Records a use at `now` and moves the idle expiry to `idle_expires_at`, only if the
/// session is still unrevoked, unexpired at `now`, and its account active. Never moves
/// either time backwards (two replicas may slide at once).
pub(super) async fn slide(
    db: impl PgExecutor<'_>,
    id: SessionId,
    now: OffsetDateTime,
    idle_expires_at: OffsetDateTime,
) -> Result<Option<Session>, SessionError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions s SET last_seen_at = GREATEST(s.last_seen_at, $2), \
             idle_expires_at = GREATEST(s.idle_expires_at, LEAST($3, s.absolute_expires_at)) \
         FROM users u \
         WHERE s.id = $1 AND u.id = s.user_id AND u.status = 'active' \
           AND s.revoked_at IS NULL AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2 \
         RETURNING {SESSION_COLUMNS}"
    )))
    .bind(id.0)
    .bind(now)
    .bind(idle_expires_at)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(session).transpose()
}

const ACTIVE: &str = "revoked_at IS NULL AND idle_expires_at > $2 AND absolute_expires_at > $2";

/// Revokes one active session of `user`.
pub(super) async fn revoke(
    db: impl PgExecutor<'_>,
    id: SessionId,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<Revoked>, SessionError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND user_id = $3 AND {ACTIVE} \
         RETURNING id, user_id, token_hash, absolute_expires_at"
    )))
    .bind(id.0)
    .bind(now)
    .bind(user)
    .fetch_all(db)
    .await?;
    revoked(&rows)
}

/// Revokes the active session with this hash.
pub(super) async fn revoke_by_hash(
    db: impl PgExecutor<'_>,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> Result<Vec<Revoked>, SessionError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND {ACTIVE} \
         RETURNING id, user_id, token_hash, absolute_expires_at"
    )))
    .bind(hash.as_slice())
    .bind(now)
    .fetch_all(db)
    .await?;
    revoked(&rows)
}

/// Revokes every active session of `user` but `keep`.
pub(super) async fn revoke_all_except(
    db: impl PgExecutor<'_>,
    user: Uuid,
    keep: Option<SessionId>,
    now: OffsetDateTime,
) -> Result<Vec<Revoked>, SessionError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions SET revoked_at = $2 \
         WHERE user_id = $1 AND ($3::uuid IS NULL OR id <> $3) AND {ACTIVE} \
         RETURNING id, user_id, token_hash, absolute_expires_at"
    )))
    .bind(user)
    .bind(now)
    .bind(keep.map(|k| k.0))
    .fetch_all(db)
    .await?;
    revoked(&rows)
}

/// `user`'s active sessions, most recently used first.
pub(super) async fn list(
    db: impl PgExecutor<'_>,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<SessionInfo>, SessionError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, user_agent, \
                host(client_ip) AS client_ip, auth_methods \
         FROM sessions WHERE user_id = $1 AND {ACTIVE} \
         ORDER BY last_seen_at DESC, id DESC"
    )))
    .bind(user)
    .bind(now)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let ip: Option<String> = r.try_get("client_ip")?;
            Ok(SessionInfo {
                id: SessionId(r.try_get("id")?),
                created_at: r.try_get("created_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
                idle_expires_at: r.try_get("idle_expires_at")?,
                absolute_expires_at: r.try_get("absolute_expires_at")?,
                user_agent: r.try_get("user_agent")?,
                client_ip: ip
                    .map(|ip| ip.parse().map_err(|_| SessionError::CorruptData))
                    .transpose()?,
                auth_methods: methods(r)?,
            })
        })
        .collect()
}
