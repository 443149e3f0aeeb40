//! Second factors: TOTP with recovery codes, and the MFA step of every login.
//!
//! - Enrolment: [`Mfa::enrol`] stores a new secret (encrypted through the `Cipher`, bound to
//!   the user id) unconfirmed; [`Mfa::confirm`] turns it on after a first valid code and
//!   returns ten recovery codes, shown once. Until confirmed, login does not ask for it.
//! - Login: when TOTP is on, the primary factor (password or passkey) does not make a session;
//!   it makes a [`challenge`] bound to the browser (an `HttpOnly` cookie holding a random id,
//!   the state in Valkey), short-lived, single-use, with a few attempts. The session is made
//!   only after a valid code ([`Mfa::check_totp`]: once per time step) or an unused recovery
//!   code ([`Mfa::use_recovery_code`]).
//! - Disabling and regenerating codes need a recent login (re-authentication).

pub mod challenge;
pub mod passkeys;
pub mod recovery;
mod store;
pub mod totp;

use std::sync::Arc;

use keys::Cipher;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit::{Action, Actor, AuditLog, Context, Outcome, Record},
    error::Error,
};

/// Issuer shown in authenticator apps.
pub const ISSUER: &str = "permesi";

/// A new, unconfirmed TOTP secret, for the user to scan.
#[derive(Debug)]
pub struct Enrolment {
    /// Base32 secret (for typing).
    pub secret: String,
    /// `otpauth://` URI (what the QR code holds).
    pub uri: String,
    /// The QR code, SVG.
    pub qr_svg: String,
}

/// The user's second factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// TOTP is confirmed and required at login.
    pub totp: bool,
    /// Unused recovery codes left.
    pub recovery_codes_left: i64,
}

/// TOTP and recovery codes over the database.
#[derive(Clone, Debug)]
pub struct Mfa {
    pool: PgPool,
    cipher: Arc<dyn Cipher>,
    audit: AuditLog,
}

fn aad(user: Uuid) -> Vec<u8> {
    let mut aad = b"permesi:totp:".to_vec();
    aad.extend_from_slice(user.as_bytes());
    aad
}

fn qr_svg(uri: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| Error::Unavailable(format!("qr code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

impl Mfa {
    /// Second factors over `pool`, secrets encrypted with `cipher`.
    pub fn new(pool: PgPool, cipher: Arc<dyn Cipher>, audit: AuditLog) -> Self {
        Self {
            pool,
            cipher,
            audit,
        }
    }

    /// The user's second factors.
    pub async fn status(&self, user: Uuid) -> Result<Status, Error> {
        let (totp, recovery_codes_left) = store::status(&self.pool, user).await?;
        Ok(Status {
            totp,
            recovery_codes_left,
        })
    }

    /// Whether login must end with the MFA step.
    pub async fn required(&self, user: Uuid) -> Result<bool, Error> {
        // On every login: one primary-key lookup, not the status's recovery-code count.
        Ok(store::totp_on(&self.pool, user).await?)
    }

    /// Starts (or restarts) enrolment: a new unconfirmed secret replaces any unconfirmed one.
    /// Refused while TOTP is on (disable it first).
    pub async fn enrol(
        &self,
        user: Uuid,
        account: &str,
        now: OffsetDateTime,
    ) -> Result<Enrolment, Error> {
        let secret = totp::Secret::generate();
        let sealed = self.cipher.encrypt(&secret.0, &aad(user)).await?;
        if !store::put_pending(&self.pool, user, &sealed, now).await? {
            return Err(Error::Conflict("totp_already_enabled"));
        }
        let uri = secret.otpauth_uri(ISSUER, account);
        Ok(Enrolment {
            secret: secret.base32(),
            qr_svg: qr_svg(&uri)?,
            uri,
        })
    }

    async fn secret(&self, user: Uuid, ciphertext: &str) -> Result<totp::Secret, Error> {
        let bytes = self.cipher.decrypt(ciphertext, &aad(user)).await?;
        let bytes = <[u8; 20]>::try_from(bytes.as_slice())
            .map_err(|_| Error::Unavailable("corrupt TOTP secret".into()))?;
        Ok(totp::Secret(bytes))
    }

    /// Confirms enrolment with a first code; returns ten recovery codes (shown once).
    pub async fn confirm(
        &self,
        user: Uuid,
        code: &str,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, Error> {
        let mut tx = self.pool.begin().await?;
        let (ciphertext, confirmed, last) = store::lock_totp(&mut tx, user)
            .await?
            .ok_or(Error::Conflict("totp_not_enrolled"))?;
        if confirmed {
            return Err(Error::Conflict("totp_already_enabled"));
        }
        let secret = self.secret(user, &ciphertext).await?;
        let Some(step) = totp::verify(&secret, code, totp::step_of(now.unix_timestamp()), last)
        else {
            return Err(Error::InvalidCode);
        };
        store::confirm(&mut tx, user, step, now).await?;
        let codes = recovery::generate();
        store::replace_recovery_codes(&mut tx, user, &recovery::hashes(&codes), now).await?;
        let record = Record::new(
            context,
            Actor::User(user),
            Action::TotpEnabled,
            Outcome::Success,
        )
        .target("user", user);
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns TOTP off and drops the recovery codes.
    pub async fn disable(
        &self,
        user: Uuid,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        if !store::delete_totp(&mut tx, user).await? {
            return Err(Error::Conflict("totp_not_enrolled"));
        }
        let record = Record::new(
            context,
            Actor::User(user),
            Action::TotpDisabled,
            Outcome::Success,
        )
        .target("user", user);
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// New recovery codes replace the old ones (TOTP must be on); shown once.
    pub async fn regenerate_recovery_codes(
        &self,
        user: Uuid,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, Error> {
        let mut tx = self.pool.begin().await?;
        match store::lock_totp(&mut tx, user).await? {
            Some((_, true, _)) => {}
            _ => return Err(Error::Conflict("totp_not_enabled")),
        }
        let codes = recovery::generate();
        store::replace_recovery_codes(&mut tx, user, &recovery::hashes(&codes), now).await?;
        let record = Record::new(
            context,
            Actor::User(user),
            Action::RecoveryCodesRegenerated,
            Outcome::Success,
        )
        .target("user", user);
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Checks a login code: valid for the user's confirmed secret and newer than the last
    /// accepted step (a code works once). Records the step when it does.
    pub async fn check_totp(
        &self,
        user: Uuid,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await?;
        let Some((ciphertext, true, last)) = store::lock_totp(&mut tx, user).await? else {
            return Ok(false);
        };
        let secret = self.secret(user, &ciphertext).await?;
        match totp::verify(&secret, code, totp::step_of(now.unix_timestamp()), last) {
            Some(step) => {
                store::set_last_step(&mut tx, user, step).await?;
                tx.commit().await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Spends an unused recovery code of the user; `false` when it is not one.
    pub async fn use_recovery_code(
        &self,
        user: Uuid,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        let Some(hash) = recovery::hash(code) else {
            return Ok(false);
        };
        Ok(store::spend_recovery_code(&self.pool, user, &hash, now).await?)
    }
}
