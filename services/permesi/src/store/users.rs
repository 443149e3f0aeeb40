//! Accounts: found by email blind index, created once per index.

use sqlx::PgPool;
use uuid::Uuid;

use crate::identity::email::BlindIndex;

/// What login needs of an account.
#[derive(Clone, Debug)]
pub struct Account {
    /// The user id.
    pub id: Uuid,
    /// OPAQUE registration record.
    pub opaque_record: Vec<u8>,
    /// `active` accounts may log in.
    pub active: bool,
    /// An unverified account cannot log in.
    pub verified: bool,
    /// Bumped by every password change or reset; a login must finish on the generation it
    /// started with.
    pub password_generation: i64,
}

/// The account with this email index, if any.
pub async fn find_by_index(
    pool: &PgPool,
    index: &BlindIndex,
) -> Result<Option<Account>, sqlx::Error> {
    let row: Option<(Uuid, Vec<u8>, String, bool, i64)> = sqlx::query_as(
        "SELECT id, opaque_record, status, email_verified_at IS NOT NULL, password_generation
         FROM users WHERE email_index = $1",
    )
    .bind(index.0.as_slice())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(id, opaque_record, status, verified, password_generation)| Account {
            id,
            opaque_record,
            active: status == "active",
            verified,
            password_generation,
        },
    ))
}

/// The id and sealed email of the account with this index, if any.
pub async fn email_of_index(
    pool: &PgPool,
    index: &BlindIndex,
) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    sqlx::query_as("SELECT id, email_verified_at IS NOT NULL FROM users WHERE email_index = $1")
        .bind(index.0.as_slice())
        .fetch_optional(pool)
        .await
}

/// Creates the account unless one exists for this index; `true` when created.
pub async fn create(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
    index: &BlindIndex,
    email_ciphertext: &str,
    opaque_record: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO users (id, email_index, email_ciphertext, opaque_record)
         VALUES ($1, $2, $3, $4) ON CONFLICT (email_index) DO NOTHING",
    )
    .bind(id)
    .bind(index.0.as_slice())
    .bind(email_ciphertext)
    .bind(opaque_record)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The id and verification state of the account with this index, locked until the end of
/// the transaction.
pub async fn lock_by_index(
    conn: &mut sqlx::PgConnection,
    index: &BlindIndex,
) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email_verified_at IS NOT NULL FROM users WHERE email_index = $1 FOR UPDATE",
    )
    .bind(index.0.as_slice())
    .fetch_optional(&mut *conn)
    .await
}

/// The sealed email and verification state of an account.
pub async fn profile(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<(String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT email_ciphertext, email_verified_at IS NOT NULL FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The email blind index of an account (its OPAQUE credential identifier).
pub async fn index_of(pool: &PgPool, id: Uuid) -> Result<Option<BlindIndex>, sqlx::Error> {
    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT email_index FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(|(bytes,)| <[u8; 32]>::try_from(bytes).ok().map(BlindIndex)))
}

/// Replaces the OPAQUE registration record (a password change or reset) and bumps the
/// password generation, so that logins started with the old record cannot finish.
pub async fn set_record(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
    opaque_record: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET opaque_record = $2, password_generation = password_generation + 1, \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(opaque_record)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether `user` exists and is not disabled (a passkey login, a refresh or userinfo stop for a
/// disabled account).
pub async fn is_active(db: impl sqlx::PgExecutor<'_>, user: Uuid) -> Result<bool, sqlx::Error> {
    let active: Option<bool> =
        sqlx::query_scalar("SELECT status = 'active' FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(db)
            .await?;
    Ok(active.unwrap_or(false))
}

/// Slugs of the live organizations whose only owner is `user`. Every live organization the
/// user owns is locked first (the lock the last-owner rule takes, in id order), and the owners
/// are counted by a second statement, which sees whatever a demotion or departure committed
/// while this one waited for the locks.
pub async fn sole_ownerships(
    conn: &mut sqlx::PgConnection,
    user: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    let owned: Vec<Uuid> = sqlx::query_scalar(
        "SELECT o.id FROM orgs o JOIN org_members m ON m.org_id = o.id \
         WHERE m.user_id = $1 AND m.role = 'owner' AND o.deleted_at IS NULL \
         ORDER BY o.id FOR UPDATE OF o",
    )
    .bind(user)
    .fetch_all(&mut *conn)
    .await?;
    if owned.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "SELECT o.slug FROM orgs o WHERE o.id = ANY($2) \
           AND NOT EXISTS (SELECT 1 FROM org_members x \
                           WHERE x.org_id = o.id AND x.role = 'owner' AND x.user_id <> $1) \
         ORDER BY o.slug",
    )
    .bind(user)
    .bind(&owned)
    .fetch_all(&mut *conn)
    .await
}

/// Whether `user` is the only platform operator. The table is locked until the transaction
/// ends, as claims lock it, so the platform cannot lose its last operator to a race.
pub async fn is_last_operator(
    conn: &mut sqlx::PgConnection,
    user: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query("LOCK TABLE platform_operators IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar("SELECT count(*) = 1 AND bool_or(user_id = $1) FROM platform_operators")
        .bind(user)
        .fetch_one(&mut *conn)
        .await
        .map(|last: Option<bool>| last.unwrap_or(false))
}

/// Deletes the account; its rows elsewhere (sessions, credentials, memberships, tokens,
/// consents) go with it by `ON DELETE CASCADE`. The audit log keeps its entries (they name
/// the account by id only).
pub async fn delete(conn: &mut sqlx::PgConnection, user: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
