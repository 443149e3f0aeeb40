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
    throttle::{Lane, Refused, Scope, Throttle},
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

/// A signup whose messages checked out: what [`signup_register`] stores.
pub struct CheckedSignup {
    index: BlindIndex,
    address: Email,
    record: op::RegistrationRecord,
}

impl std::fmt::Debug for CheckedSignup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckedSignup(<redacted>)")
    }
}

/// Signup, second message, the part that answers: the handle, the address and the upload are
/// checked (bad input is refused here, the same for every address); nothing is stored yet.
pub async fn signup_check(
    parts: Parts<'_>,
    handle: &str,
    address: &str,
    upload: &str,
) -> Result<CheckedSignup, Error> {
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
    Ok(CheckedSignup {
        index,
        address,
        record,
    })
}

/// Signup, the part that stores, run after the answer (so neither the answer nor its timing
/// tells whether the address has an account), in one transaction:
/// - a new address: the account and its first verification link;
/// - an account not verified yet: a link carrying *this* registration, which replaces the
///   earlier one only if this link is used (a squatter's registration never survives the
///   owner's, and no link verifies a registration it was not mailed for);
/// - a verified account: nothing changes; its owner is told someone tried to sign up.
///
/// Anonymous (nobody is authenticated yet), so recorded as security events.
pub async fn signup_register(
    parts: Parts<'_>,
    link_base: &str,
    signup: CheckedSignup,
    context: &Context,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let CheckedSignup {
        index,
        address,
        record,
    } = signup;
    let id = Uuid::now_v7();
    let sealed = email::seal(parts.cipher, id, &address).await?;
    let mut tx = parts.pool.begin().await?;
    let created = users::create(&mut *tx, id, &index, &sealed, record.as_bytes()).await?;
    let verification = |e: crate::verification::VerificationError| {
        Error::Unavailable(format!("verification: {e}"))
    };
    let entry = if created {
        parts
            .verification
            .issue_in(&mut tx, id, &address, now)
            .await
            .map_err(verification)?;
        Record::new(context, Actor::Anonymous, Action::Signup, Outcome::Success)
            .target("user", id)
            .detail("registration", "new")
    } else {
        let (existing, verified) = users::lock_by_index(&mut tx, &index)
            .await?
            .ok_or_else(|| Error::Unavailable("signup raced a deletion".into()))?;
        if verified {
            crate::verification::delivery::queue_notice(
                &mut tx,
                parts.cipher,
                crate::verification::delivery::Notice::SignupAttempt,
                &address,
                link_base,
                now,
            )
            .await
            .map_err(verification)?;
            Record::new(context, Actor::Anonymous, Action::Signup, Outcome::Failure)
                .target("user", existing)
                .detail("reason", "address_taken")
        } else {
            parts
                .verification
                .issue_for_registration_in(
                    &mut tx,
                    existing,
                    &address,
                    Some(record.as_bytes()),
                    now,
                )
                .await
                .map_err(verification)?;
            Record::new(context, Actor::Anonymous, Action::Signup, Outcome::Success)
                .target("user", existing)
                .detail("registration", "pending")
        }
    };
    parts.audit.append(&mut tx, &entry, now).await?;
    tx.commit().await?;
    parts.verification.wake();
    Ok(())
}

/// Login, first message: the OPAQUE credential response (real or fake record) and a handle.
///
/// The start is the attempt (its answer lets the client judge the password offline), so it is
/// counted here, per account and per client network, before any OPAQUE work; past the budget
/// it is refused with a delay, the same for every address ([`throttled`]).
pub async fn login_start(
    parts: Parts<'_>,
    ip: IpAddr,
    address: &str,
    request: &str,
    context: &Context,
) -> Result<(String, String), Error> {
    let address = Email::parse(address).map_err(|_| Error::InvalidEmail)?;
    let index = BlindIndex::of(parts.index_key, &address);
    password_start_for(parts, PasswordCeremony::Login, ip, &index, request, context).await
}

/// What a password ceremony is for: its handles are not interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCeremony {
    /// A login (admitted by genesis).
    Login,
    /// A step-up of an existing session (`/v1/me/reauthenticate/password`).
    Reauth,
}

impl PasswordCeremony {
    fn prefix(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Reauth => "reauth",
        }
    }
}

/// The first OPAQUE message of a login or step-up for the account `index`: counted in the
/// account's password budget before any work.
pub async fn password_start_for(
    parts: Parts<'_>,
    ceremony: PasswordCeremony,
    ip: IpAddr,
    index: &BlindIndex,
    request: &str,
    context: &Context,
) -> Result<(String, String), Error> {
    let index = index.clone();
    let now = OffsetDateTime::now_utc();
    if let Err(refused) = parts
        .throttle
        .attempt(Lane::Password, ip, Some(&index), now)
        .await?
    {
        return Err(throttled(parts, Lane::Password, &index, ip, refused, context, now).await);
    }
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
    // state || index (32) || user (16, nil for the fake path) || password generation (8).
    let (user, generation) = usable.map_or((Uuid::nil(), 0), |a| (a.id, a.password_generation));
    let mut stored = state.as_bytes().to_vec();
    stored.extend_from_slice(&index.0);
    stored.extend_from_slice(user.as_bytes());
    stored.extend_from_slice(&generation.to_be_bytes());
    let handle = new_handle();
    parts
        .ceremonies
        .put(
            &format!("{}:{handle}", ceremony.prefix()),
            &stored,
            op::LOGIN_STATE_TTL,
        )
        .await?;
    Ok((handle, response))
}

/// The answer to an attempt the throttle refused; the first refusal of a lock window is
/// audited (in the chain for an existing account, as a security event otherwise), later
/// ones are not, so a guesser cannot grow the log.
pub async fn throttled(
    parts: Parts<'_>,
    lane: Lane,
    index: &BlindIndex,
    ip: IpAddr,
    refused: Refused,
    context: &Context,
    now: OffsetDateTime,
) -> Error {
    let error = Error::TooManyAttempts {
        retry_after_secs: refused.retry_after_secs,
    };
    if !refused.first_in_window {
        return error;
    }
    let scope = match refused.scope {
        Scope::Account => "account",
        Scope::Network => "network",
    };
    let account = match refused.scope {
        Scope::Account => users::find_by_index(parts.pool, index)
            .await
            .ok()
            .flatten()
            .map(|a| a.id),
        Scope::Network => None,
    };
    let mut entry = Record::new(
        context,
        account.map_or(Actor::Anonymous, |_| Actor::System),
        Action::AttemptsThrottled,
        Outcome::Denied,
    )
    .detail("lane", lane.as_str())
    .detail("scope", scope)
    .detail("retry_after_secs", refused.retry_after_secs);
    if let Some(user) = account {
        entry = entry.target("user", user);
    } else if refused.scope == Scope::Network {
        entry = entry.detail("network", parts.throttle.network_of(ip).to_string());
    }
    if let Err(e) = parts.audit.append_alone(parts.pool, &entry, now).await {
        tracing::warn!(error = %e, "could not audit a throttled attempt");
    }
    error
}

/// A right password for a usable account: what the rest of the login needs.
#[derive(Debug, Clone)]
pub struct PasswordPassed {
    /// The account.
    pub user: Uuid,
    /// The password generation the login started with: the session must be created on it
    /// ([`crate::sessions::Sessions::create`]).
    pub generation: i64,
    /// The account's blind index, the key of its login throttle: the login settles it once
    /// it has its session (not before a second factor passed).
    pub index: BlindIndex,
}

/// Login, second message: [`PasswordPassed`] when the password was right and the account
/// usable. The attempt was counted at the start. The caller audits a success with the
/// session it creates; a wrong password is recorded here as a security event; an unknown or
/// expired handle is not recorded at all (anyone can send those, for free).
pub async fn login_finish(
    parts: Parts<'_>,
    handle: &str,
    finalization: &str,
    context: &Context,
) -> Result<PasswordPassed, Error> {
    password_finish_for(
        parts,
        PasswordCeremony::Login,
        handle,
        finalization,
        context,
    )
    .await
}

/// The last OPAQUE message of a login or step-up ([`login_finish`]).
pub async fn password_finish_for(
    parts: Parts<'_>,
    ceremony: PasswordCeremony,
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
    let Some(stored) = parts
        .ceremonies
        .take(&format!("{}:{handle}", ceremony.prefix()))
        .await?
    else {
        return Err(Error::AuthenticationFailed);
    };
    let split = stored
        .len()
        .checked_sub(32 + 16 + 8)
        .ok_or(Error::AuthenticationFailed)?;
    let (state, rest) = stored.split_at(split);
    let (index, rest) = rest.split_at(32);
    let (user, generation) = rest.split_at(16);
    let generation = i64::from_be_bytes(
        generation
            .try_into()
            .map_err(|_| Error::AuthenticationFailed)?,
    );
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
        }),
        other => {
            let now = OffsetDateTime::now_utc();
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
