//! SQL for TOTP secrets and recovery codes.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// (TOTP confirmed, unused recovery codes).
pub(super) async fn status(db: impl PgExecutor<'_>, user: Uuid) -> sqlx::Result<(bool, i64)> {
    sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
                (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL)",
    )
    .bind(user)
    .fetch_one(db)
    .await
}

/// Whether TOTP is confirmed (required at login).
pub(super) async fn totp_on(db: impl PgExecutor<'_>, user: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
    )
    .bind(user)
    .fetch_one(db)
    .await
}

/// Stores an unconfirmed secret unless a confirmed one exists; `false` then.
pub(super) async fn put_pending(
    db: impl PgExecutor<'_>,
    user: Uuid,
    ciphertext: &str,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO mfa_totp (user_id, secret_ciphertext, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret_ciphertext = $2, created_at = $3, \
             last_step = NULL \
         WHERE mfa_totp.confirmed_at IS NULL",
    )
    .bind(user)
    .bind(ciphertext)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The secret, whether confirmed, and the last accepted step, locked for this transaction.
pub(super) async fn lock_totp(
    conn: &mut PgConnection,
    user: Uuid,
) -> sqlx::Result<Option<(String, bool, Option<i64>)>> {
    sqlx::query_as(
        "SELECT secret_ciphertext, confirmed_at IS NOT NULL, last_step FROM mfa_totp \
         WHERE user_id = $1 FOR UPDATE",
    )
    .bind(user)
    .fetch_optional(conn)
    .await
}

pub(super) async fn confirm(
    conn: &mut PgConnection,
    user: Uuid,
    step: i64,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE mfa_totp SET confirmed_at = $2, last_step = $3 WHERE user_id = $1")
        .bind(user)
        .bind(now)
        .bind(step)
        .execute(conn)
        .await
        .map(|_| ())
}

pub(super) async fn set_last_step(
    conn: &mut PgConnection,
    user: Uuid,
    step: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1")
        .bind(user)
        .bind(step)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Deletes the TOTP secret and the recovery codes; `false` when there was no secret.
pub(super) async fn delete_totp(conn: &mut PgConnection, user: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn replace_recovery_codes(
    conn: &mut PgConnection,
    user: Uuid,
    hashes: &[[u8; 32]],
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    let hashes: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
    sqlx::query(
        "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) \
         SELECT $1, h, $3 FROM unnest($2::bytea[]) AS h",
    )
    .bind(user)
    .bind(hashes)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Marks an unused recovery code used; `false` when there is none with this hash.
pub(super) async fn spend_recovery_code(
    db: impl PgExecutor<'_>,
    user: Uuid,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE mfa_recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user)
    .bind(hash.as_slice())
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
