//! Deleting one's own account. Refused while it would leave something without a keeper: an
//! organization whose only owner the account is (`last_owner`: transfer or delete it first),
//! or the platform without an operator (`last_operator`: claims work once, so nobody could
//! take over). Otherwise, in one transaction: every session ends (revocation markers written
//! before the commit), the account row goes and with it everything that hangs off it, and
//! `user.deleted` is audited. The audit log keeps its entries, which name the account by id.

use time::OffsetDateTime;
use uuid::Uuid;

use super::Parts;
use crate::{
    audit::{Action, Actor, Context, Outcome, Record},
    error::Error,
    identity::email::{self, Email},
    store::users,
};

/// Deletes `user` after checking that `confirm` is its email address; returns how many
/// sessions ended.
pub async fn delete_account(
    parts: Parts<'_>,
    user: Uuid,
    confirm: &str,
    context: &Context,
    now: OffsetDateTime,
) -> Result<u64, Error> {
    let (address, _) = email::of_user(parts.pool, parts.cipher, user)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if Email::parse(confirm).ok().as_ref().map(Email::as_str) != Some(address.as_str()) {
        return Err(Error::Invalid("confirmation_mismatch"));
    }
    let mut tx = parts.pool.begin().await?;
    if !users::sole_ownerships(&mut tx, user).await?.is_empty() {
        return Err(Error::Conflict("last_owner"));
    }
    if users::is_last_operator(&mut tx, user).await? {
        return Err(Error::Conflict("last_operator"));
    }
    let ended = parts.sessions.end_all(&mut tx, user, None, now).await?;
    if !users::delete(&mut tx, user).await? {
        return Err(Error::Unauthenticated);
    }
    let entry = Record::new(
        context,
        Actor::User(user),
        Action::UserDeleted,
        Outcome::Success,
    )
    .target("user", user)
    .detail("sessions_ended", ended);
    parts.audit.append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(ended)
}
