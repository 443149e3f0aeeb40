//! Password reset by email link, for users who forgot their password. With OPAQUE the server
//! cannot set a password: the link lets its holder run a new OPAQUE registration instead.
//!
//! 1. [`request`]: an active account gets a 256-bit single-use token (stored as SHA-256,
//!    [`RESET_TTL`]) in a link mailed through the outbox, at most once per [`RESET_COOLDOWN`].
//!    Unknown, disabled and cooling-down addresses change nothing. The HTTP layer runs this in
//!    the background and answers 202 at once, so neither the answer nor its timing tells
//!    whether an address has an account.
//! 2. [`start`]: a usable token starts an OPAQUE registration for its account (not spent yet:
//!    a failed finish can start again from the same link).
//! 3. [`finish`]: in one transaction the token is spent (every other token of the account
//!    retired), the new record stored (its password generation bumped, so a login begun with
//!    the old password cannot finish), the address marked verified (the link proved it),
//!    every session ended, every OAuth refresh and access token the account holds revoked
//!    (whoever held the account may have authorised a relying party; consents stay, so the
//!    user signs in again without a new consent), and `user.password_reset` audited.
//!
//! A second factor is untouched: an account with TOTP still needs its code at the next login.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Parts, SIGNUP_TTL, new_handle, opaque_error};
use crate::{
    audit::{Action, Actor, Context, Outcome, Record},
    error::Error,
    identity::email::{BlindIndex, Email},
    store::password_resets,
    verification::{
        delivery::{MailKind, queue_link_mail},
        token::{self, Token},
    },
};
use opaque::server as op;

/// Path of the console page that receives the token, appended to the link base URL.
pub const RESET_PATH: &str = "/reset-password";
/// How long a reset link works.
pub const RESET_TTL: Duration = Duration::minutes(30);
/// Least time between two reset mails to one account.
pub const RESET_COOLDOWN: Duration = Duration::minutes(1);

/// Queues a reset link to `address` when it belongs to an active account that was not sent
/// one within [`RESET_COOLDOWN`]; every case is audited (`user.password_reset_requested`:
/// success, or failure with reason `unknown_account`, `disabled` or `cooldown`). Anyone can
/// ask, so the actor is always anonymous; the account is the target.
pub async fn request(
    parts: Parts<'_>,
    link_base: &str,
    address: &Email,
    context: &Context,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let index = BlindIndex::of(parts.index_key, address);
    let mut tx = parts.pool.begin().await?;
    let account = password_resets::lock_account(&mut tx, &index.0).await?;
    let refused = |reason| {
        Record::new(
            context,
            Actor::Anonymous,
            Action::PasswordResetRequested,
            Outcome::Failure,
        )
        .detail("reason", reason)
    };
    let entry = match account {
        None => refused("unknown_account"),
        Some((user, false, _)) => refused("disabled").target("user", user),
        Some((user, true, Some(last))) if now < last + RESET_COOLDOWN => {
            refused("cooldown").target("user", user)
        }
        Some((user, true, _)) => {
            let token = Token::generate();
            password_resets::insert(&mut tx, &token.hash(), user, now, now + RESET_TTL).await?;
            let link = zeroize::Zeroizing::new(format!(
                "{link_base}{RESET_PATH}#token={}",
                token.encode().as_str()
            ));
            queue_link_mail(
                &mut tx,
                parts.cipher,
                MailKind::PasswordReset,
                address,
                &link,
                now,
            )
            .await
            .map_err(|e| Error::Unavailable(format!("password reset mail: {e}")))?;
            Record::new(
                context,
                Actor::Anonymous,
                Action::PasswordResetRequested,
                Outcome::Success,
            )
            .target("user", user)
        }
    };
    let queued = entry.outcome == Outcome::Success;
    parts.audit.append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    if queued {
        parts.verification.wake();
    }
    Ok(())
}

/// Starts the new registration for the account of a usable token: the OPAQUE registration
/// response and a handle for [`finish`]. Unknown, spent and expired tokens, and tokens of
/// disabled accounts, are one answer: [`Error::InvalidToken`].
pub async fn start(
    parts: Parts<'_>,
    presented: &str,
    request: &str,
    now: OffsetDateTime,
) -> Result<(String, String), Error> {
    let hash = token::hash_presented(presented).ok_or(Error::InvalidToken)?;
    let index = password_resets::usable(parts.pool, &hash, now)
        .await?
        .ok_or(Error::InvalidToken)?;
    let response = op::registration_start(parts.opaque, request, &index).map_err(opaque_error)?;
    let handle = new_handle();
    parts
        .ceremonies
        .put(&format!("reset:{handle}"), &hash, SIGNUP_TTL)
        .await?;
    Ok((handle, response))
}

/// Finishes a reset (see the module documentation); returns the account and how many of its
/// sessions ended.
pub async fn finish(
    parts: Parts<'_>,
    handle: &str,
    upload: &str,
    context: &Context,
    now: OffsetDateTime,
) -> Result<(Uuid, u64), Error> {
    let hash: [u8; 32] = parts
        .ceremonies
        .take(&format!("reset:{handle}"))
        .await?
        .and_then(|h| h.try_into().ok())
        .ok_or(Error::CeremonyExpired)?;
    let record = op::registration_finish(upload).map_err(opaque_error)?;
    let mut tx = parts.pool.begin().await?;
    let user = password_resets::consume(&mut tx, &hash, now)
        .await?
        .ok_or(Error::InvalidToken)?;
    if !crate::store::users::set_record(&mut *tx, user, record.as_bytes()).await? {
        return Err(Error::InvalidToken);
    }
    let ended = parts.sessions.end_all(&mut tx, user, None, now).await?;
    let grants = crate::store::oauth::revoke_user_tokens(&mut tx, user, None, now).await?;
    let entry = Record::new(
        context,
        Actor::User(user),
        Action::PasswordReset,
        Outcome::Success,
    )
    .target("user", user)
    .detail("sessions_ended", ended)
    .detail("refresh_tokens_revoked", grants);
    parts.audit.append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok((user, ended))
}
