//! Email verification: single-use tokens stored hashed, an outbox, and a delivery worker.
//!
//! - [`EmailVerification::issue`] makes a 256-bit random token and, in one transaction,
//!   stores its SHA-256 (`email_verification_tokens`) and queues a message
//!   (`email_outbox`) whose address and link are encrypted by the key backend: a database
//!   dump holds neither a token nor an address in clear.
//! - [`EmailVerification::verify`] consumes a presented token (unused and unexpired, checked
//!   in the `UPDATE` itself, so two concurrent uses cannot both win) and sets
//!   `users.email_verified_at`. Unknown, used and expired tokens are one answer,
//!   [`VerificationError::InvalidOrExpired`].
//! - [`EmailVerification::resend`] issues again unless the account is verified or its newest
//!   token is younger than the cooldown.
//! - [`delivery::Worker`] drains the outbox through SMTP or, in development, a mail folder.
//!
//! Older tokens: issuing a new token leaves the earlier ones valid until they expire (mail
//! arrives out of order); the first one used verifies the account and retires all the others.
//!
//! Enumeration: [`ResendOutcome`] tells the caller what happened, but the HTTP layer must
//! answer the client the same way for `Queued`, `AlreadyVerified`, and an unknown address,
//! so nothing reveals whether an address has an account or is verified.

pub mod delivery;
mod store;
pub(crate) mod token;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use keys::{Cipher, KeysError};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    audit::{Action, Actor, AuditError, AuditLog, Context, Outcome, Record},
    identity::email::{self, Email},
};

pub use delivery::{Mailer, Retry, Worker, latest_link, latest_link_to};

/// Path of the console page that receives the token, appended to the base URL.
pub const VERIFY_PATH: &str = "/verify-email";
const MAX_BASE_URL_LEN: usize = 512;

/// Everything this module can fail with.
#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    /// The token is unknown, already used, expired or malformed. One variant on purpose.
    #[error("invalid or expired verification token")]
    InvalidOrExpired,
    /// No account has this id.
    #[error("unknown user")]
    UnknownUser,
    /// A setting is unusable; the text names it.
    #[error("invalid email verification setting: {0}")]
    Settings(&'static str),
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The key backend failed to encrypt or decrypt.
    #[error("keys: {0}")]
    Keys(#[from] KeysError),
    /// The dev mail folder could not be read or written.
    #[error("mail folder: {0}")]
    Io(#[from] std::io::Error),
    /// The audit entry could not be written (nothing was changed).
    #[error("audit: {0}")]
    Audit(#[from] AuditError),
}

impl VerificationError {
    /// Stable short identifier, for logs and the HTTP error mapping.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidOrExpired => "invalid_or_expired",
            Self::UnknownUser => "unknown_user",
            Self::Settings(_) => "settings",
            Self::Database(_) => "database",
            Self::Keys(_) => "keys",
            Self::Io(_) => "io",
            Self::Audit(_) => "audit",
        }
    }
}

/// Where links point, how long tokens live, and how often a user may ask for another.
#[derive(Debug, Clone)]
pub struct Policy {
    base_url: String,
    ttl: Duration,
    cooldown: Duration,
}

impl Policy {
    /// Validates the settings: `base_url` is an absolute `http(s)` URL of printable ASCII
    /// without query or fragment (the link is `{base_url}/verify-email#token=...`: in the fragment, which browsers never send, so no proxy or server logs it); `ttl` is
    /// positive; `cooldown` is not negative.
    pub fn new(
        base_url: &str,
        ttl: Duration,
        cooldown: Duration,
    ) -> Result<Self, VerificationError> {
        let base = base_url.trim_end_matches('/');
        let scheme_ok = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty());
        if !scheme_ok
            || base.len() > MAX_BASE_URL_LEN
            || !base.bytes().all(|b| b.is_ascii_graphic())
            || base.contains(['?', '#'])
        {
            return Err(VerificationError::Settings("base URL"));
        }
        if !ttl.is_positive() {
            return Err(VerificationError::Settings("token TTL"));
        }
        if cooldown.is_negative() {
            return Err(VerificationError::Settings("resend cooldown"));
        }
        Ok(Self {
            base_url: base.to_owned(),
            ttl,
            cooldown,
        })
    }

    /// Lifetime of a token.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Minimum time between two tokens of one user.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }
}

/// What [`EmailVerification::resend`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendOutcome {
    /// A new token was issued and its message queued.
    Queued,
    /// The address is already verified; nothing was sent.
    AlreadyVerified,
    /// The newest token is younger than the cooldown; nothing was sent.
    CoolingDown {
        /// Seconds until a resend is accepted (rounded up, at least 1).
        retry_after_secs: u64,
    },
}

/// Issues and checks verification tokens. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EmailVerification {
    pool: PgPool,
    cipher: Arc<dyn Cipher>,
    policy: Policy,
    wake: Arc<Notify>,
    audit: AuditLog,
}

impl EmailVerification {
    /// A service over `pool`, encrypting with `cipher`.
    pub fn new(pool: PgPool, cipher: Arc<dyn Cipher>, policy: Policy, audit: AuditLog) -> Self {
        Self {
            pool,
            cipher,
            policy,
            wake: Arc::new(Notify::new()),
            audit,
        }
    }

    /// Tells the delivery worker that a message was queued (after the transaction commits).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Notified after each queued message: give it to [`Worker::run`].
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// The settings in use.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Issues a token for `user` and queues its message to `address`, in one transaction.
    /// Returns nothing secret: the token only exists in the encrypted outbox row.
    pub async fn issue(
        &self,
        user: Uuid,
        address: &Email,
        now: OffsetDateTime,
    ) -> Result<(), VerificationError> {
        let mut tx = self.pool.begin().await?;
        self.issue_in(&mut tx, user, address, now).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Mails `user`'s owner a [`delivery::Notice`] (a sign-in factor changed), pointing at
    /// the console. Best effort for the caller: the change it reports has already committed.
    pub async fn notify(
        &self,
        user: Uuid,
        notice: delivery::Notice,
        now: OffsetDateTime,
    ) -> Result<(), VerificationError> {
        let Some((sealed, _)) = crate::store::users::profile(&self.pool, user).await? else {
            return Ok(());
        };
        let address = email::open(self.cipher.as_ref(), user, &sealed).await?;
        let mut tx = self.pool.begin().await?;
        delivery::queue_notice(
            &mut tx,
            self.cipher.as_ref(),
            notice,
            &address,
            &self.policy.base_url,
            now,
        )
        .await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Issues again, unless `user` is verified or asked less than the cooldown ago. Every
    /// outcome is audited (`user.verification_resent`: success, or failure with reason
    /// `already_verified` or `cooldown`); anyone can ask, so the actor is anonymous and the
    /// account the target.
    pub async fn resend(
        &self,
        user: Uuid,
        address: &Email,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<ResendOutcome, VerificationError> {
        let mut tx = self.pool.begin().await?;
        let verified_at = store::lock_user(&mut tx, user)
            .await?
            .ok_or(VerificationError::UnknownUser)?;
        let outcome = if verified_at.is_some() {
            ResendOutcome::AlreadyVerified
        } else {
            match store::newest_token_at(&mut tx, user).await? {
                Some(last) if (last + self.policy.cooldown - now).is_positive() => {
                    let wait = last + self.policy.cooldown - now;
                    let secs = wait.whole_seconds() + i64::from(wait.subsec_nanoseconds() > 0);
                    ResendOutcome::CoolingDown {
                        retry_after_secs: u64::try_from(secs.max(1)).unwrap_or(1),
                    }
                }
                _ => ResendOutcome::Queued,
            }
        };
        let (result, reason) = match outcome {
            ResendOutcome::Queued => {
                self.issue_in(&mut tx, user, address, now).await?;
                (Outcome::Success, None)
            }
            ResendOutcome::AlreadyVerified => (Outcome::Failure, Some("already_verified")),
            ResendOutcome::CoolingDown { .. } => (Outcome::Failure, Some("cooldown")),
        };
        let mut record = Record::new(
            context,
            Actor::Anonymous,
            Action::VerificationResent,
            result,
        )
        .target("user", user);
        if let Some(reason) = reason {
            record = record.detail("reason", reason);
        }
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        if outcome == ResendOutcome::Queued {
            self.wake.notify_one();
        }
        Ok(outcome)
    }

    /// Consumes `presented` and marks its user's address verified; returns the user. Both
    /// outcomes are audited (`user.email_verified`).
    pub async fn verify(
        &self,
        presented: &str,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<Uuid, VerificationError> {
        let refused = || async {
            let record = Record::new(
                context,
                Actor::Anonymous,
                Action::EmailVerified,
                Outcome::Failure,
            );
            self.audit.append_alone(&self.pool, &record, now).await?;
            Err(VerificationError::InvalidOrExpired)
        };
        // Malformed tokens are refused before the database, with the same answer.
        let Some(hash) = token::hash_presented(presented) else {
            return refused().await;
        };
        let mut tx = self.pool.begin().await?;
        let Some((user, registration)) = store::consume(&mut tx, &hash, now).await? else {
            drop(tx);
            return refused().await;
        };
        if let Some(record) = registration {
            // A later signup's link: its registration replaces the unverified one.
            store::install_registration(&mut tx, user, &record, now).await?;
        }
        store::mark_verified(&mut tx, user, now).await?;
        let record = Record::new(
            context,
            Actor::User(user),
            Action::EmailVerified,
            Outcome::Success,
        )
        .target("user", user);
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// [`EmailVerification::issue`] on the caller's transaction (signup creates the account
    /// and its first link together); call [`EmailVerification::wake`] after it commits.
    pub async fn issue_in(
        &self,
        conn: &mut sqlx::PgConnection,
        user: Uuid,
        address: &Email,
        now: OffsetDateTime,
    ) -> Result<(), VerificationError> {
        self.issue_for_registration_in(conn, user, address, None, now)
            .await
    }

    /// [`EmailVerification::issue_in`] for a later signup of an unverified account: the link
    /// carries that signup's OPAQUE record, which becomes the account's if this link is the
    /// one used (every other link then dies). So a squatter's earlier registration never
    /// survives the owner's, and each link verifies the registration it was mailed for.
    pub async fn issue_for_registration_in(
        &self,
        conn: &mut sqlx::PgConnection,
        user: Uuid,
        address: &Email,
        registration: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<(), VerificationError> {
        let expires_at = now
            .checked_add(self.policy.ttl)
            .ok_or(VerificationError::Settings("token TTL"))?;
        let token = token::Token::generate();
        let message_id = Uuid::now_v7();
        let link = zeroize::Zeroizing::new(format!(
            "{}{VERIFY_PATH}#token={}",
            self.policy.base_url,
            token.encode().as_str()
        ));
        let recipient_ciphertext = email::seal(self.cipher.as_ref(), user, address).await?;
        let link_ciphertext = self
            .cipher
            .encrypt(link.as_bytes(), &delivery::link_aad(message_id))
            .await?;
        let new_token = store::NewToken {
            hash: token.hash(),
            user,
            created_at: now,
            expires_at,
            registration: registration.map(<[u8]>::to_vec),
        };
        let message = store::NewMessage {
            id: message_id,
            user,
            recipient_ciphertext,
            link_ciphertext,
            created_at: now,
        };
        store::insert_token_and_message(conn, &new_token, &message)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    VerificationError::UnknownUser
                }
                _ => VerificationError::Database(e),
            })
    }
}
