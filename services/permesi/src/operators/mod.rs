//! Platform operators: claiming the platform, elevation, and the attempt limits around both.
//!
//! An *operator token* proves operator authority. With Vault it is a Vault token holding the
//! operators policy (`operator_vault_policy`), checked by a self-lookup made with that token.
//! With the local backend it is a one-time 256-bit token from `permesi operator-token`
//! (`just operator-token`), stored as its SHA-256 and spent by its first successful use;
//! having one proves shell access to a permesi host.
//!
//! - Claim (`POST /v1/admin/claim`): the first logged-in user to present a valid operator
//!   token becomes the first operator; once anyone is an operator, claiming is closed.
//! - Elevation (`POST /v1/admin/elevate`): an operator presents a fresh operator token and
//!   their current session may perform operator actions for `operator_elevation_secs`. The
//!   elevation is bound to that session (ending it ends the elevation); the session id was
//!   already new at login, so it is not rotated again.
//! - Both allow 3 attempts per 10 minutes per user; 3 failures within 10 minutes lock the
//!   user out of both for 15 minutes ([`attempt_allowed`]). Every outcome is audited.

pub mod store;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use keys::{KeysError, TokenPolicies};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    audit::{Action, Actor, AuditLog, Context, Outcome, Record},
    error::Error,
    sessions::SessionId,
};

pub use store::{UserLine, UserStatus};

/// Attempts counted per user in [`ATTEMPT_WINDOW`].
pub const MAX_ATTEMPTS: usize = 3;
/// The attempt window.
pub const ATTEMPT_WINDOW: Duration = Duration::minutes(10);
/// How long [`MAX_ATTEMPTS`] failures within the window lock the user out.
pub const LOCKOUT: Duration = Duration::minutes(15);
/// Lifetime of a local one-time operator token.
pub const LOCAL_TOKEN_TTL: Duration = Duration::hours(24);
/// Longest operator token accepted (Vault tokens are ~100 characters).
const MAX_TOKEN_LEN: usize = 512;

/// Whether a user may attempt a claim or elevation at `now`, given their earlier attempts
/// (time, succeeded) in any order. `Err` carries the seconds to wait.
pub fn attempt_allowed(
    attempts: &[(OffsetDateTime, bool)],
    now: OffsetDateTime,
) -> Result<(), u64> {
    let wait = |until: OffsetDateTime| {
        let secs = (until - now).as_seconds_f64().ceil();
        // Bounded by LOCKOUT, so the conversion cannot overflow.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let secs = secs.max(1.0) as u64;
        secs
    };
    let mut failures: Vec<OffsetDateTime> = attempts
        .iter()
        .filter(|(at, ok)| !ok && *at <= now)
        .map(|(at, _)| *at)
        .collect();
    failures.sort_unstable();
    // Locked while a failure that completed MAX_ATTEMPTS failures within the window is
    // younger than LOCKOUT.
    let locked_until = failures
        .windows(MAX_ATTEMPTS)
        .filter(|w| w[MAX_ATTEMPTS - 1] - w[0] < ATTEMPT_WINDOW)
        .map(|w| w[MAX_ATTEMPTS - 1] + LOCKOUT)
        .max();
    if let Some(until) = locked_until.filter(|until| *until > now) {
        return Err(wait(until));
    }
    let mut recent: Vec<OffsetDateTime> = attempts
        .iter()
        .map(|(at, _)| *at)
        .filter(|at| *at <= now && now - *at < ATTEMPT_WINDOW)
        .collect();
    if recent.len() >= MAX_ATTEMPTS {
        recent.sort_unstable();
        return Err(wait(recent[recent.len() - MAX_ATTEMPTS] + ATTEMPT_WINDOW));
    }
    Ok(())
}

/// How an operator token is checked.
#[derive(Clone, Debug)]
pub enum Authority {
    /// One-time tokens from `permesi operator-token`, stored hashed.
    Local,
    /// Vault tokens holding `policy`.
    Vault {
        /// Self-lookups through the key backend's Vault transport.
        lookup: Arc<dyn TokenPolicies>,
        /// The policy an operator token must hold.
        policy: String,
    },
}

impl Authority {
    fn via(&self) -> &'static str {
        match self {
            Self::Local => "bootstrap",
            Self::Vault { .. } => "vault",
        }
    }
}

/// SHA-256 of a local operator token (the stored form).
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Makes a local one-time operator token valid for [`LOCAL_TOKEN_TTL`]; returns it. The
/// token exists only in the return value.
pub async fn issue_local_token(pool: &PgPool, now: OffsetDateTime) -> Result<String, Error> {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let token = format!("pmo_{}", server::to_hex(&raw));
    store::insert_token(pool, &token_hash(&token), now, now + LOCAL_TOKEN_TTL).await?;
    Ok(token)
}

/// Claims, elevation and operator checks.
#[derive(Clone, Debug)]
pub struct Operators {
    pool: PgPool,
    audit: AuditLog,
    authority: Authority,
    elevation: Duration,
}

/// Why an operator action was refused.
#[derive(Clone, Copy)]
enum Refusal {
    Limited(u64),
    Invalid,
}

impl Operators {
    /// Operators over `pool`, checking tokens with `authority`.
    pub fn new(pool: PgPool, audit: AuditLog, authority: Authority, elevation: Duration) -> Self {
        Self {
            pool,
            audit,
            authority,
            elevation,
        }
    }

    /// Whether anyone has claimed the platform.
    pub async fn claimed(&self) -> Result<bool, Error> {
        Ok(store::any_operator(&self.pool).await?)
    }

    /// Whether `user` is an operator.
    pub async fn is_operator(&self, user: Uuid) -> Result<bool, Error> {
        Ok(store::is_operator(&self.pool, user).await?)
    }

    /// Until when `session` of `user` is elevated, if it is.
    pub async fn elevated_until(
        &self,
        user: Uuid,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, Error> {
        Ok(store::elevated_until(&self.pool, user, session.as_uuid(), now).await?)
    }

    /// Checks `token` on `conn` (spending a local token when it is valid).
    async fn token_valid(
        &self,
        conn: &mut PgConnection,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        // Printable ASCII only: the token becomes an HTTP header on the way to Vault.
        if token.is_empty()
            || token.len() > MAX_TOKEN_LEN
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Ok(false);
        }
        match &self.authority {
            Authority::Local => Ok(store::spend_token(conn, &token_hash(token), now).await?),
            Authority::Vault { lookup, policy } => match lookup.policies_of(token).await {
                Ok(policies) => Ok(policies.iter().any(|p| p == policy)),
                Err(KeysError::Denied(_) | KeysError::Rejected(_) | KeysError::NotFound(_)) => {
                    Ok(false)
                }
                // Vault down: fail closed, and do not count it against the user.
                Err(e) => Err(Error::Unavailable(format!("operator token lookup: {e}"))),
            },
        }
    }

    /// The shared path of claim and elevation: limit, check, record the attempt and the
    /// outcome, then `on_success` in the same transaction.
    async fn attempt<F>(
        &self,
        user: Uuid,
        token: &str,
        action: Action,
        context: &Context,
        now: OffsetDateTime,
        on_success: F,
    ) -> Result<Result<(), Refusal>, Error>
    where
        F: AsyncFnOnce(&mut PgConnection) -> Result<Record, Error>,
    {
        let mut tx = self.pool.begin().await?;
        store::lock_attempts(&mut tx, user).await?;
        let earlier = store::attempts_since(&mut tx, user, now - ATTEMPT_WINDOW - LOCKOUT).await?;
        if let Err(retry) = attempt_allowed(&earlier, now) {
            let record = Record::new(context, Actor::User(user), action, Outcome::Denied)
                .detail("reason", "rate_limited");
            self.audit.append(&mut tx, &record, now).await?;
            tx.commit().await?;
            return Ok(Err(Refusal::Limited(retry)));
        }
        let valid = self.token_valid(&mut tx, token, now).await?;
        store::record_attempt(&mut tx, user, now, valid).await?;
        let record = if valid {
            on_success(&mut tx).await?
        } else {
            Record::new(context, Actor::User(user), action, Outcome::Failure)
                .detail("reason", "invalid_operator_token")
        };
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(if valid { Ok(()) } else { Err(Refusal::Invalid) })
    }

    /// Makes `user` the first operator when `token` is a valid operator token and nobody has
    /// claimed the platform yet.
    pub async fn claim(
        &self,
        user: Uuid,
        token: &str,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        if self.claimed().await? {
            let record = Record::new(
                context,
                Actor::User(user),
                Action::PlatformClaimed,
                Outcome::Denied,
            )
            .detail("reason", "already_claimed");
            self.audit.append_alone(&self.pool, &record, now).await?;
            return Err(Error::AlreadyClaimed);
        }
        let via = self.authority.via();
        let outcome = self
            .attempt(
                user,
                token,
                Action::PlatformClaimed,
                context,
                now,
                async |conn: &mut PgConnection| {
                    // Under the claim lock: exactly one first operator, however many race.
                    if !store::claim(conn, user, via, now).await? {
                        return Err(Error::AlreadyClaimed);
                    }
                    Ok(Record::new(
                        context,
                        Actor::Operator(user),
                        Action::PlatformClaimed,
                        Outcome::Success,
                    )
                    .target("user", user)
                    .detail("via", via))
                },
            )
            .await?;
        refusal(outcome)
    }

    /// Elevates `session` of operator `user` when `token` is a valid operator token; returns
    /// the end of the elevation.
    pub async fn elevate(
        &self,
        user: Uuid,
        session: SessionId,
        token: &str,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, Error> {
        if !self.is_operator(user).await? {
            let record = Record::new(
                context,
                Actor::User(user),
                Action::OperatorElevated,
                Outcome::Denied,
            )
            .detail("reason", "not_an_operator");
            self.audit.append_alone(&self.pool, &record, now).await?;
            return Err(Error::OperatorRequired);
        }
        let until = now + self.elevation;
        let outcome = self
            .attempt(
                user,
                token,
                Action::OperatorElevated,
                context,
                now,
                async |conn: &mut PgConnection| {
                    store::elevate(conn, user, session.as_uuid(), now, until).await?;
                    Ok(Record::new(
                        context,
                        Actor::Operator(user),
                        Action::OperatorElevated,
                        Outcome::Success,
                    )
                    .target("session", session.as_uuid())
                    .detail("seconds", self.elevation.whole_seconds()))
                },
            )
            .await?;
        refusal(outcome)?;
        Ok(until)
    }

    /// `Ok` when `user` is an operator and `session` is elevated; the refusal otherwise.
    pub async fn require_elevated(
        &self,
        user: Uuid,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        // One query on the way through (an elevation row exists only for an operator); which
        // refusal applies is only looked up on refusal.
        if self.elevated_until(user, session, now).await?.is_some() {
            return Ok(());
        }
        Err(if self.is_operator(user).await? {
            Error::ElevationRequired
        } else {
            Error::OperatorRequired
        })
    }
}

fn refusal(outcome: Result<(), Refusal>) -> Result<(), Error> {
    match outcome {
        Ok(()) => Ok(()),
        Err(Refusal::Limited(retry_after_secs)) => Err(Error::TooManyAttempts { retry_after_secs }),
        Err(Refusal::Invalid) => Err(Error::InvalidOperatorToken),
    }
}
