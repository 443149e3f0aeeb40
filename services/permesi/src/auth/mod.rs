//! OPAQUE signup and login, as plain functions over the app's parts (testable without HTTP).
//!
//! One admission token per ceremony: the *start* of signup and login passes the admission gate;
//! the *finish* is bound to that start by a random, single-use, short-lived handle kept
//! server-side (`server::ephemeral`), so it needs no second proof of work yet cannot be called
//! on its own.
//!
//! Nothing here reveals whether an email has an account: signup answers the same for a new and
//! an existing address, and login runs the same OPAQUE work for unknown, unverified and
//! disabled accounts (opaque-ke's fake record) and fails with the same error.

pub mod deletion;
pub mod reset;

use std::{net::IpAddr, time::Duration};

use opaque::server as op;
use server::ephemeral::EphemeralStore;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit::{Action, Actor, AuditLog, Context, Outcome, Record},
    error::Error,
    identity::email::{self, BlindIndex, Email, IndexKey},
    sessions::{SessionId, Sessions},
    store::users,
    throttle::Throttle,
    verification::EmailVerification,
};

/// How long a signup may take between start and finish.
pub const SIGNUP_TTL: Duration = Duration::from_mins(5);

/// The parts signup and login use.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    /// Database.
    pub pool: &'a sqlx::PgPool,
    /// OPAQUE server keys.
    pub opaque: &'a op::ServerKeys,
    /// Email blind-index key.
    pub index_key: &'a IndexKey,
    /// Encrypts stored emails.
    pub cipher: &'a dyn keys::Cipher,
    /// Ceremony state between start and finish.
    pub ceremonies: &'a EphemeralStore,
    /// Sends verification links.
    pub verification: &'a EmailVerification,
    /// Delays after failed logins.
    pub throttle: &'a Throttle,
    /// Records every outcome.
    pub audit: &'a AuditLog,
    /// Ended at a password change.
    pub sessions: &'a Sessions,
}

fn new_handle() -> String {
    Uuid::new_v4().simple().to_string()
}

fn opaque_error(e: opaque::Error) -> Error {
    match e {
        opaque::Error::Malformed => Error::Malformed,
        opaque::Error::AuthenticationFailed => Error::AuthenticationFailed,
        other => Error::Unavailable(format!("opaque: {}", other.code())),
    }
}

/// Signup, first message: the OPAQUE registration response and a handle for the finish.
pub async fn signup_start(
    parts: Parts<'_>,
    address: &str,
    request: &str,
) -> Result<(String, String), Error> {
    let address = Email::parse(address).map_err(|_| Error::InvalidEmail)?;
    let index = BlindIndex::of(parts.index_key, &address);
    let response = op::registration_start(parts.opaque, request, &index.0).map_err(opaque_error)?;
    let handle = new_handle();
    parts
        .ceremonies
        .put(&format!("signup:{handle}"), &index.0, SIGNUP_TTL)
        .await?;
    Ok((handle, response))
}

/// Signup, second message: store the registration record, queue the verification link and
/// audit it, in one transaction. An address that already has an account gets the same answer
/// and nothing is changed (audited as a failed signup).
pub async fn signup_finish(
    parts: Parts<'_>,
    handle: &str,
    address: &str,
    upload: &str,
    context: &Context,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let started = parts
        .ceremonies
        .take(&format!("signup:{handle}"))
        .await?
        .ok_or(Error::CeremonyExpired)?;
    let address = Email::parse(address).map_err(|_| Error::InvalidEmail)?;
    let index = BlindIndex::of(parts.index_key, &address);
    // The finish must be for the address the start was admitted for.
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        started.as_slice(),
        &index.0[..],
    )) {
        return Err(Error::CeremonyExpired);
    }
    let record = op::registration_finish(upload).map_err(opaque_error)?;
    let id = Uuid::now_v7();
    let sealed = email::seal(parts.cipher, id, &address).await?;
    let mut tx = parts.pool.begin().await?;
    let created = users::create(&mut *tx, id, &index, &sealed, record.as_bytes()).await?;
    let entry = if created {
        parts
            .verification
            .issue_in(&mut tx, id, &address, now)
            .await
            .map_err(|e| Error::Unavailable(format!("verification: {e}")))?;
        Record::new(context, Actor::User(id), Action::Signup, Outcome::Success).target("user", id)
    } else {
        Record::new(context, Actor::Anonymous, Action::Signup, Outcome::Failure)
            .detail("reason", "address_taken")
    };
    parts.audit.append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    if created {
        parts.verification.wake();
    }
    Ok(())
}

/// Login, first message: the OPAQUE credential response (real or fake record) and a handle.
/// Refused with a delay while `ip` has failed too often (for this address or overall).
pub async fn login_start(
    parts: Parts<'_>,
    ip: IpAddr,
    address: &str,
    request: &str,
    context: &Context,
) -> Result<(String, String), Error> {
    let address = Email::parse(address).map_err(|_| Error::InvalidEmail)?;
    let index = BlindIndex::of(parts.index_key, &address);
    let now = OffsetDateTime::now_utc();
    let allowed = match parts.throttle.check(ip, &index, now).await? {
        Ok(allowed) => allowed,
        Err(delayed) => {
            let entry = Record::new(context, Actor::Anonymous, Action::Login, Outcome::Denied)
                .detail("reason", "throttled");
            parts.audit.append_alone(parts.pool, &entry, now).await?;
            return Err(Error::TooManyAttempts {
                retry_after_secs: delayed.retry_after_secs,
            });
        }
    };
    let account = users::find_by_index(parts.pool, &index).await?;
    // Unknown, unverified and disabled accounts all take the fake-record path.
    let usable = account.filter(|a| a.active && a.verified);
    let (response, state) = op::login_start(
        parts.opaque,
        usable.as_ref().map(|a| a.opaque_record.as_slice()),
        request,
        &index.0,
    )
    .map_err(opaque_error)?;
    // state || index (32) || user (16, nil for the fake path) || password generation (8) ||
    // earlier failures (1: whether a success has a counter to clear, which saves a round trip
    // on most logins).
    let (user, generation) = usable.map_or((Uuid::nil(), 0), |a| (a.id, a.password_generation));
    let mut stored = state.as_bytes().to_vec();
    stored.extend_from_slice(&index.0);
    stored.extend_from_slice(user.as_bytes());
    stored.extend_from_slice(&generation.to_be_bytes());
    stored.push(u8::from(allowed.account_failures > 0));
    let handle = new_handle();
    parts
        .ceremonies
        .put(&format!("login:{handle}"), &stored, op::LOGIN_STATE_TTL)
        .await?;
    Ok((handle, response))
}

/// A right password for a usable account: what the rest of the login needs.
#[derive(Debug, Clone)]
pub struct PasswordPassed {
    /// The account.
    pub user: Uuid,
    /// The password generation the login started with: the session must be created on it
    /// ([`crate::sessions::Sessions::create`]).
    pub generation: i64,
    /// The account's blind index, the key of its login throttle.
    pub index: BlindIndex,
    /// Whether the throttle counted failures for this (address, account) before: the login
    /// clears them once it has its session (not before a second factor passed, or wrong
    /// second-factor codes could be tried without end by logging in again).
    pub had_failures: bool,
}

/// Login, second message: [`PasswordPassed`] when the password was right and the account
/// usable. A failure counts towards `ip`'s delays. The caller audits a success with the
/// session it creates; every failure is audited here.
pub async fn login_finish(
    parts: Parts<'_>,
    ip: IpAddr,
    handle: &str,
    finalization: &str,
    context: &Context,
) -> Result<PasswordPassed, Error> {
    let failed = |user: Uuid, reason: &'static str| {
        let mut entry = Record::new(context, Actor::Anonymous, Action::Login, Outcome::Failure)
            .detail("reason", reason);
        if !user.is_nil() {
            entry = entry.target("user", user);
        }
        entry
    };
    let Some(stored) = parts.ceremonies.take(&format!("login:{handle}")).await? else {
        let entry = failed(Uuid::nil(), "ceremony_expired");
        parts
            .audit
            .append_alone(parts.pool, &entry, OffsetDateTime::now_utc())
            .await?;
        return Err(Error::AuthenticationFailed);
    };
    let split = stored
        .len()
        .checked_sub(32 + 16 + 8 + 1)
        .ok_or(Error::AuthenticationFailed)?;
    let (state, rest) = stored.split_at(split);
    let (index, rest) = rest.split_at(32);
    let (user, rest) = rest.split_at(16);
    let (generation, had_failures) = rest.split_at(8);
    let generation = i64::from_be_bytes(
        generation
            .try_into()
            .map_err(|_| Error::AuthenticationFailed)?,
    );
    let had_failures = had_failures != [0];
    let state = op::LoginState::from_bytes(state)
        .map_err(|_| Error::Unavailable("corrupt login state".into()))?;
    let index = BlindIndex(<[u8; 32]>::try_from(index).map_err(|_| Error::AuthenticationFailed)?);
    let user = Uuid::from_slice(user).map_err(|_| Error::AuthenticationFailed)?;
    // Runs for unknown users too (and fails), so timing does not tell them apart.
    let result = op::login_finish(state, finalization);
    match result {
        Ok(_session_key) if !user.is_nil() => Ok(PasswordPassed {
            user,
            generation,
            index,
            had_failures,
        }),
        other => {
            let now = OffsetDateTime::now_utc();
            parts.throttle.failed(ip, &index, now).await?;
            let reason = if matches!(other, Err(opaque::Error::Malformed)) {
                "malformed"
            } else {
                "authentication_failed"
            };
            parts
                .audit
                .append_alone(parts.pool, &failed(user, reason), now)
                .await?;
            Err(match other {
                Err(opaque::Error::Malformed) => Error::Malformed,
                _ => Error::AuthenticationFailed,
            })
        }
    }
}

/// Password change, first message: a registration response for the logged-in user.
pub async fn password_start(
    parts: Parts<'_>,
    user: Uuid,
    request: &str,
) -> Result<(String, String), Error> {
    let index = users::index_of(parts.pool, user)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let response = op::registration_start(parts.opaque, request, &index.0).map_err(opaque_error)?;
    let handle = new_handle();
    parts
        .ceremonies
        .put(&format!("password:{handle}"), user.as_bytes(), SIGNUP_TTL)
        .await?;
    Ok((handle, response))
}

/// Password change, second message: the new record replaces the old one and every session
/// of the user but `keep` ends, audited, in one transaction. Returns how many ended.
pub async fn password_finish(
    parts: Parts<'_>,
    user: Uuid,
    keep: SessionId,
    handle: &str,
    upload: &str,
    context: &Context,
) -> Result<u64, Error> {
    let started = parts
        .ceremonies
        .take(&format!("password:{handle}"))
        .await?
        .ok_or(Error::CeremonyExpired)?;
    if started.as_slice() != user.as_bytes() {
        return Err(Error::CeremonyExpired);
    }
    let record = op::registration_finish(upload).map_err(opaque_error)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = parts.pool.begin().await?;
    if !users::set_record(&mut *tx, user, record.as_bytes()).await? {
        return Err(Error::Unauthenticated);
    }
    let ended = parts
        .sessions
        .end_all(&mut tx, user, Some(keep), now)
        .await?;
    let entry = Record::new(
        context,
        Actor::User(user),
        Action::PasswordChanged,
        Outcome::Success,
    )
    .target("user", user)
    .detail("sessions_ended", ended);
    parts.audit.append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(ended)
}
