//! SQL for `email_verification_tokens` and `email_outbox`. Rows never leave this module.

use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// A token row to insert.
pub(crate) struct NewToken {
    pub hash: [u8; 32],
    pub user: Uuid,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The OPAQUE record of a later signup for an unverified account, installed if this
    /// link is the one used.
    pub registration: Option<Vec<u8>>,
}

/// An outbox row to insert (kind `verify_email`, status `pending`, due now).
pub(crate) struct NewMessage {
    pub id: Uuid,
    pub user: Uuid,
    pub recipient_ciphertext: String,
    pub link_ciphertext: String,
    pub created_at: OffsetDateTime,
}

/// Inserts the token, then its message. Callers run this inside their transaction.
pub(crate) async fn insert_token_and_message(
    conn: &mut PgConnection,
    token: &NewToken,
    message: &NewMessage,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO email_verification_tokens (token_hash, user_id, created_at, expires_at, \
         opaque_record) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.hash.as_slice())
    .bind(token.user)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.registration.as_deref())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, link_ciphertext, \
         status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, 'verify_email', $3, $4, 'pending', 0, $5, $5)",
    )
    .bind(message.id)
    .bind(message.user)
    .bind(&message.recipient_ciphertext)
    .bind(&message.link_ciphertext)
    .bind(message.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues a message of `kind` without a token of this module (an organization invitation):
/// status `pending`, due now. Callers run this inside their transaction.
pub(crate) async fn insert_message(
    conn: &mut PgConnection,
    kind: &'static str,
    user: Option<Uuid>,
    message: &NewLinkMessage,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, link_ciphertext, \
         status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
    )
    .bind(message.id)
    .bind(user)
    .bind(kind)
    .bind(&message.recipient_ciphertext)
    .bind(&message.link_ciphertext)
    .bind(message.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An outbox row of another kind than `verify_email`.
pub(crate) struct NewLinkMessage {
    pub id: Uuid,
    pub recipient_ciphertext: String,
    pub link_ciphertext: String,
    pub created_at: OffsetDateTime,
}

/// Locks the user's row for the rest of the transaction (so concurrent resends queue up
/// behind one another) and returns `Some(email_verified_at)`, or `None` for no such user.
pub(crate) async fn lock_user(
    conn: &mut PgConnection,
    user: Uuid,
) -> sqlx::Result<Option<Option<OffsetDateTime>>> {
    let row = sqlx::query("SELECT email_verified_at FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.try_get("email_verified_at")).transpose()
}

/// When the user's newest token was created.
pub(crate) async fn newest_token_at(
    conn: &mut PgConnection,
    user: Uuid,
) -> sqlx::Result<Option<OffsetDateTime>> {
    sqlx::query_scalar("SELECT max(created_at) FROM email_verification_tokens WHERE user_id = $1")
        .bind(user)
        .fetch_one(&mut *conn)
        .await
}

/// Marks the token used if it is unused and unexpired at `now`; returns its user and the
/// registration it was issued for (`None`: the account's own record).
pub(crate) async fn consume(
    conn: &mut PgConnection,
    hash: &[u8; 32],
    now: OffsetDateTime,
) -> sqlx::Result<Option<(Uuid, Option<Vec<u8>>)>> {
    sqlx::query_as(
        "UPDATE email_verification_tokens SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING user_id, opaque_record",
    )
    .bind(hash.as_slice())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
}

/// Replaces the OPAQUE record of an account that is not verified yet (a new password
/// generation, so a login begun on the old record cannot finish).
pub(crate) async fn install_registration(
    conn: &mut PgConnection,
    user: Uuid,
    record: &[u8],
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET opaque_record = $2, password_generation = password_generation + 1, \
         updated_at = $3 WHERE id = $1 AND email_verified_at IS NULL",
    )
    .bind(user)
    .bind(record)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets `email_verified_at` (first verification wins) and retires the user's other
/// outstanding tokens.
pub(crate) async fn mark_verified(
    conn: &mut PgConnection,
    user: Uuid,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET email_verified_at = $2, updated_at = $2 \
         WHERE id = $1 AND email_verified_at IS NULL",
    )
    .bind(user)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE email_verification_tokens SET used_at = $2 \
         WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A message claimed for delivery.
pub(crate) struct Claimed {
    pub id: Uuid,
    /// The account, for `verify_email` (none for invitations).
    pub user: Option<Uuid>,
    /// `verify_email` or `org_invitation`.
    pub kind: String,
    pub recipient_ciphertext: String,
    pub link_ciphertext: String,
    /// Attempts including this one.
    pub attempts: i32,
}

/// Claims up to `batch` due pending messages: each gets `attempts + 1` and a lease (its
/// `next_attempt_at` moves to `lease_until`), committed before any is sent, so no lock is
/// held while talking to SMTP, other workers skip them, and a worker that dies mid-send
/// leaves them to be retried when the lease runs out.
pub(crate) async fn claim_due(
    pool: &PgPool,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    batch: i64,
) -> sqlx::Result<Vec<Claimed>> {
    let rows = sqlx::query(
        "UPDATE email_outbox SET attempts = attempts + 1, next_attempt_at = $2 \
         WHERE id IN ( \
             SELECT id FROM email_outbox \
             WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id \
             LIMIT $3 \
             FOR UPDATE SKIP LOCKED) \
         RETURNING id, user_id, kind, recipient_ciphertext, link_ciphertext, attempts",
    )
    .bind(now)
    .bind(lease_until)
    .bind(batch)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get("id")?,
                user: r.try_get("user_id")?,
                kind: r.try_get("kind")?,
                recipient_ciphertext: r.try_get("recipient_ciphertext")?,
                link_ciphertext: r.try_get("link_ciphertext")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect()
}

/// Records a delivery and erases the encrypted link.
pub(crate) async fn mark_sent(pool: &PgPool, id: Uuid, now: OffsetDateTime) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_outbox SET status = 'sent', sent_at = $2, link_ciphertext = NULL, \
         last_error = NULL WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Schedules another attempt at `next_at`.
pub(crate) async fn schedule_retry(
    pool: &PgPool,
    id: Uuid,
    next_at: OffsetDateTime,
    error: &'static str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_outbox SET next_attempt_at = $2, last_error = $3 \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(next_at)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives up on a message and erases the encrypted link.
pub(crate) async fn mark_failed(pool: &PgPool, id: Uuid, error: &'static str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_outbox SET status = 'failed', link_ciphertext = NULL, last_error = $2 \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}
