//! The admission mint: challenges out, solved challenges in, admission tokens out.
//!
//! Order of checks in [`Admissions::admit`], fixed: decode (bounded), MAC, action admitted,
//! time, work, single use, then signing. A failure at any step is an error and nothing is
//! minted; a signer failure is never replaced by anything weaker.

pub mod policy;
pub mod rotation;

use std::{
    sync::{Arc, RwLock},
    time::Instant,
};

use admission_token::{Claims, Keyset, Kid};
use keys::{SecretStore, Signer, VerifyingKeyVersion};
use pow::{Action, Challenge, Difficulty, PowError, PowSecret};
use time::{Duration, OffsetDateTime};

use crate::{error::Error, load::LoadMeter};
pub use policy::ActionPolicy;
pub use rotation::RotationPolicy;
use server::replay::ReplayGuard;

/// Name of the proof-of-work MAC key in the secret store (shared by every replica).
pub const POW_SECRET_NAME: &str = "genesis-pow-mac";
/// How often the signer's key versions are re-read (a rotation by `genesis keys rotate`).
const KEY_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// What the mint issues and how.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// `iss` of every token.
    pub issuer: String,
    /// `aud` of every token.
    pub audience: String,
    /// Lifetime of a token.
    pub token_ttl: Duration,
    /// Lifetime of a challenge.
    pub challenge_ttl: Duration,
    /// Admitted actions and their base difficulty.
    pub actions: ActionPolicy,
    /// Key rotation timing.
    pub rotation: RotationPolicy,
    /// Extra bits of work required while the mint rate is above the threshold.
    pub boost_bits: u8,
    /// Verify each signature before returning a token (remote signers), or trust the
    /// in-process local signer.
    pub signature_check: admission_token::SignatureCheck,
}

/// A challenge handed to a client.
#[derive(Debug, Clone)]
pub struct IssuedChallenge {
    /// Wire form, opaque to the client.
    pub challenge: String,
    /// The action it admits to.
    pub action: String,
    /// Leading zero bits required.
    pub difficulty: u8,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

/// A minted admission token.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The PASETO v4.public token.
    pub token: String,
    /// Its `exp`.
    pub expires_at: OffsetDateTime,
    /// Its `jti`.
    pub jti: String,
    /// The signing key's PASERK id.
    pub kid: Kid,
    /// The admitted action.
    pub action: String,
    /// Its `iat`.
    pub issued_at: OffsetDateTime,
}

/// The published keyset, serialised once per change.
#[derive(Debug)]
pub struct PublishedKeyset {
    /// The `/paserk.json` body.
    pub json: String,
    /// Strong ETag of the body.
    pub etag: String,
}

#[derive(Debug)]
struct KeySnapshot {
    active: VerifyingKeyVersion,
    kid: Kid,
    keyset: Arc<PublishedKeyset>,
    /// The plan changes at this instant (an activation or a retirement deadline).
    valid_until: OffsetDateTime,
    fetched: Instant,
}

/// The mint.
#[derive(Debug)]
pub struct Admissions {
    config: AdmissionConfig,
    secret: PowSecret,
    signer: Arc<dyn Signer>,
    replay: ReplayGuard,
    load: LoadMeter,
    keys: RwLock<Option<Arc<KeySnapshot>>>,
}

impl Admissions {
    /// Loads (or creates, on first start) the challenge MAC key from `secrets`.
    pub async fn new(
        config: AdmissionConfig,
        signer: Arc<dyn Signer>,
        secrets: &dyn SecretStore,
        replay: ReplayGuard,
        load: LoadMeter,
    ) -> Result<Self, Error> {
        let secret = server::secrets::get_or_create(secrets, POW_SECRET_NAME, 32).await?;
        let secret = PowSecret::new(secret).map_err(|_| Error::Config("pow secret too short"))?;
        Ok(Self {
            config,
            secret,
            signer,
            replay,
            load,
            keys: RwLock::new(None),
        })
    }

    /// The admitted actions.
    pub fn actions(&self) -> &ActionPolicy {
        &self.config.actions
    }

    /// Issues a challenge for `action`, harder while the mint is busy.
    pub fn challenge(&self, action: &str, now: OffsetDateTime) -> Result<IssuedChallenge, Error> {
        let base = self
            .config
            .actions
            .difficulty(action)
            .ok_or(Error::UnknownAction)?;
        let bits = if self.load.is_hot() {
            base.get()
                .saturating_add(self.config.boost_bits)
                .min(Difficulty::MAX)
        } else {
            base.get()
        };
        let difficulty = Difficulty::new(bits).map_err(Error::Pow)?;
        let action = Action::new(action).map_err(|_| Error::UnknownAction)?;
        let challenge = Challenge::issue(
            &self.secret,
            action,
            difficulty,
            self.config.challenge_ttl,
            now,
            &mut rand::rngs::OsRng,
        )
        .map_err(Error::Pow)?;
        Ok(IssuedChallenge {
            challenge: challenge.encode(),
            action: challenge.action().as_str().to_owned(),
            difficulty: bits,
            expires_at: challenge.expires_at(),
        })
    }

    /// Verifies a solved challenge and mints a token for its action.
    pub async fn admit(
        &self,
        encoded: &str,
        nonce: u64,
        now: OffsetDateTime,
    ) -> Result<Admission, Error> {
        let challenge = Challenge::decode(encoded).map_err(Error::Pow)?;
        challenge.verify_mac(&self.secret).map_err(Error::Pow)?;
        let action = challenge.action().as_str();
        if self.config.actions.difficulty(action).is_none() {
            return Err(Error::UnknownAction);
        }
        challenge
            .verify(&self.secret, action, nonce, now)
            .map_err(Error::Pow)?;
        // Single use, remembered until the challenge could no longer be accepted anyway.
        let remaining = challenge.expires_at() - now + pow::MAX_CLOCK_SKEW;
        let ttl = std::time::Duration::try_from(remaining).unwrap_or_default();
        if !self.replay.first_use(challenge.mac(), ttl).await? {
            return Err(Error::Replayed);
        }
        let keys = self.snapshot(now).await?;
        let claims = Claims::new(
            self.config.issuer.clone(),
            self.config.audience.clone(),
            action,
            now,
            self.config.token_ttl,
            &mut rand::rngs::OsRng,
        )
        .map_err(|_| Error::Config("token claims"))?;
        let token = admission_token::mint_with(
            self.signer.as_ref(),
            keys.active.version,
            &keys.active.public_key,
            &claims,
            self.config.signature_check,
        )
        .await?;
        self.load.record(Instant::now());
        Ok(Admission {
            token,
            expires_at: claims.exp,
            jti: claims.jti.as_str().to_owned(),
            kid: keys.kid.clone(),
            action: action.to_owned(),
            issued_at: claims.iat,
        })
    }

    /// The keyset to publish at `now`.
    pub async fn keyset(&self, now: OffsetDateTime) -> Result<Arc<PublishedKeyset>, Error> {
        Ok(self.snapshot(now).await?.keyset.clone())
    }

    /// The key plan at `now`: versions from the signer (re-read every 30 s), planned by
    /// [`rotation::plan`], cached until the plan's next change.
    async fn snapshot(&self, now: OffsetDateTime) -> Result<Arc<KeySnapshot>, Error> {
        if let Some(snapshot) = self.keys.read().ok().and_then(|k| k.clone())
            && now < snapshot.valid_until
            && snapshot.fetched.elapsed() < KEY_REFRESH
        {
            return Ok(snapshot);
        }
        let versions = self.signer.versions().await?;
        let snapshot = Arc::new(self.plan(&versions, now)?);
        if let Ok(mut slot) = self.keys.write() {
            *slot = Some(snapshot.clone());
        }
        Ok(snapshot)
    }

    fn plan(
        &self,
        versions: &[VerifyingKeyVersion],
        now: OffsetDateTime,
    ) -> Result<KeySnapshot, Error> {
        let plan = rotation::plan(versions, self.config.rotation, now)
            .ok_or(Error::Config("the signer has no key versions"))?;
        let mut builder = Keyset::builder();
        for p in &plan.published {
            builder = builder.key(&p.key, p.status, p.not_after);
        }
        let keyset = builder.build().map_err(|_| Error::Config("keyset"))?;
        let json = keyset.to_json();
        let etag = format!("\"{}\"", short_digest(json.as_bytes()));
        let valid_until = next_change(versions, &plan, self.config.rotation, now);
        Ok(KeySnapshot {
            kid: Kid::from_public_key(&plan.active.public_key),
            active: plan.active,
            keyset: Arc::new(PublishedKeyset { json, etag }),
            valid_until,
            fetched: Instant::now(),
        })
    }
}

/// The next instant at which the plan changes: a prepublished key's activation or a retiring
/// key's deadline (or a day from now when nothing is scheduled).
fn next_change(
    versions: &[VerifyingKeyVersion],
    plan: &rotation::KeyPlan,
    policy: RotationPolicy,
    now: OffsetDateTime,
) -> OffsetDateTime {
    let activations = versions
        .iter()
        .filter(|v| v.version > plan.active.version)
        .map(|v| v.created_at + policy.prepublish);
    let deadlines = plan.published.iter().filter_map(|p| p.not_after);
    activations
        .chain(deadlines)
        .filter(|t| *t > now)
        .min()
        .unwrap_or(now + Duration::days(1))
}

fn short_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    format!("{:032x}", u128::from_be_bytes(first))
}

impl From<PowError> for Error {
    fn from(e: PowError) -> Self {
        Self::Pow(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn admissions(dir: &std::path::Path) -> Admissions {
        let backend = keys::KeyBackend::open(keys::BackendConfig::Local(keys::LocalConfig {
            dir: dir.join("keys"),
            signing_key: "sign".into(),
            encryption_key: "enc".into(),
        }))
        .await
        .unwrap();
        let config = AdmissionConfig {
            issuer: "genesis".into(),
            audience: "permesi".into(),
            token_ttl: Duration::seconds(120),
            challenge_ttl: Duration::seconds(60),
            actions: ActionPolicy::parse("signup:2").unwrap(),
            rotation: RotationPolicy {
                prepublish: Duration::minutes(10),
                retire_after: Duration::minutes(3),
            },
            boost_bits: 0,
            signature_check: admission_token::SignatureCheck::Verify,
        };
        Admissions::new(
            config,
            backend.signer(),
            backend.secrets().as_ref(),
            ReplayGuard::memory(),
            LoadMeter::new(0),
        )
        .await
        .unwrap()
    }

    fn solve(encoded: &str) -> u64 {
        let c = Challenge::decode(encoded).unwrap();
        pow::solve(&c, |_| std::ops::ControlFlow::Continue(())).unwrap()
    }

    #[tokio::test]
    async fn a_challenge_is_accepted_until_just_before_its_expiry_and_not_at_it() {
        let dir = tempfile::tempdir().unwrap();
        let mint = admissions(dir.path()).await;
        let t0 = OffsetDateTime::now_utc();

        let c = mint.challenge("signup", t0).unwrap();
        let n = solve(&c.challenge);
        let late = mint.admit(&c.challenge, n, c.expires_at).await;
        assert!(
            matches!(late, Err(Error::Pow(PowError::Expired))),
            "{late:?}"
        );

        let c = mint.challenge("signup", t0).unwrap();
        let n = solve(&c.challenge);
        let last_second = c.expires_at - Duration::seconds(1);
        let token = mint.admit(&c.challenge, n, last_second).await.unwrap();
        assert_eq!(token.action, "signup");
        assert_eq!(token.expires_at - token.issued_at, Duration::seconds(120));
    }

    #[tokio::test]
    async fn an_action_dropped_from_the_policy_is_refused_even_with_a_valid_challenge() {
        let dir = tempfile::tempdir().unwrap();
        let mint = admissions(dir.path()).await;
        let now = OffsetDateTime::now_utc();
        assert!(matches!(
            mint.challenge("login", now),
            Err(Error::UnknownAction)
        ));
        // A challenge MAC'd for an action this configuration no longer admits.
        let foreign = Challenge::issue(
            &mint.secret,
            Action::new("login").unwrap(),
            Difficulty::new(1).unwrap(),
            Duration::seconds(60),
            now,
            &mut rand::rngs::OsRng,
        )
        .unwrap()
        .encode();
        let n = solve(&foreign);
        assert!(matches!(
            mint.admit(&foreign, n, now).await,
            Err(Error::UnknownAction)
        ));
    }
}
