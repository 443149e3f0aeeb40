//! `password_reset_tokens`: the SQL of [`crate::auth::reset`].

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// The account behind an email index, locked until the transaction ends (two requests for
/// one account queue up), with whether it is active, and when its newest reset token was
/// made. The newest token is read by a second statement after the lock is held, so a request
/// that waited sees the token the one before it committed and the cooldown holds.
pub async fn lock_account(
    conn: &mut PgConnection,
    index: &[u8; 32],
) -> sqlx::Result<Option<(Uuid, bool, Option<OffsetDateTime>)>> {
    let account: Option<(Uuid, bool)> =
        sqlx::query_as("SELECT id, status = 'active' FROM users WHERE email_index = $1 FOR UPDATE")
            .bind(index.as_slice())
            .fetch_optional(&mut *conn)
            .await?;
    let Some((user, active)) = account else {
        return Ok(None);
    };
    let newest: Option<OffsetDateTime> =
        sqlx::query_scalar("SELECT max(created_at) FROM password_reset_tokens WHERE user_id = $1")
            .bind(user)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Some((user, active, newest)))
}

/// Stores a new token.
pub async fn insert(
    conn: &mut PgConnection,
    hash: &[u8; 32],
    user: Uuid,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(hash.as_slice())
    .bind(user)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The email index of the active account whose token `hash` is unused and unexpired at `now`.
pub async fn usable(
    pool: &PgPool,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar(
        "SELECT u.email_index FROM password_reset_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 \
           AND u.status = 'active'",
    )
    .bind(hash.as_slice())
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// Spends the token if it is still usable at `now`, retires every other token of its user (one
/// reset per mail round) and marks the address verified (the link proved it); returns the user.
pub async fn consume(
    conn: &mut PgConnection,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> sqlx::Result<Option<Uuid>> {
    let user: Option<Uuid> = sqlx::query_scalar(
        "UPDATE password_reset_tokens t SET used_at = $2 FROM users u \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 \
           AND u.id = t.user_id AND u.status = 'active' \
         RETURNING t.user_id",
    )
    .bind(hash.as_slice())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(user) = user {
        sqlx::query(
            "UPDATE password_reset_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE users SET email_verified_at = $2, updated_at = $2 \
             WHERE id = $1 AND email_verified_at IS NULL",
        )
        .bind(user)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(user)
}
