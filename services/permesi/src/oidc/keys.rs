//! Token signing keys: which version of each algorithm signs, which are published in the
//! JWKS, and signing and verifying through the key backend (the private keys never leave it):
//! EdDSA through [`keys::Signer`] (every token by default), ES256 and RS256 through the
//! backend's [`keys::JwsSigner`]s for clients that ask for them (when the backend has them).
//!
//! Rotation: a new version (made by the backend's `rotate`, e.g. Vault's
//! `transit/keys/permesi-oidc/rotate`) is published in the JWKS for
//! [`RotationPolicy::prepublish`] before it signs anything, so relying parties that cache the
//! JWKS already know it when the first token signed by it arrives. The previous version stays
//! published for [`RotationPolicy::retire_after`] after its successor took over (longer than
//! any token it signed lives), then disappears.

use std::{
    sync::{Arc, RwLock},
    time::Instant,
};

use keys::{JwsAlgorithm, JwsPublicKey, JwsSigner, Signer};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::jose;
use crate::error::Error;

/// How long the version lists are cached in memory before the backend is asked again.
pub const REFRESH: std::time::Duration = std::time::Duration::from_mins(1);

/// A JWS algorithm permesi signs with (its JOSE name on the wire).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum Alg {
    /// Ed25519 (RFC 8037), the default for every token.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// ECDSA P-256 with SHA-256, for ID tokens of clients that ask.
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, for ID tokens of clients that can do nothing else.
    #[serde(rename = "RS256")]
    Rs256,
}

impl Alg {
    /// Every algorithm, EdDSA first.
    pub const ALL: [Self; 3] = [Self::EdDsa, Self::Es256, Self::Rs256];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    /// The inverse of [`Alg::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// The backend's JWS algorithm, `None` for EdDSA (signed by [`keys::Signer`]).
    fn jws(self) -> Option<JwsAlgorithm> {
        match self {
            Self::EdDsa => None,
            Self::Es256 => Some(JwsAlgorithm::Es256),
            Self::Rs256 => Some(JwsAlgorithm::Rs256),
        }
    }

    fn of_jws(alg: JwsAlgorithm) -> Self {
        match alg {
            JwsAlgorithm::Es256 => Self::Es256,
            JwsAlgorithm::Rs256 => Self::Rs256,
        }
    }
}

/// A public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Raw Ed25519 key.
    Ed25519([u8; 32]),
    /// A key of one of the backend's other JWS algorithms.
    Jws(JwsPublicKey),
}

impl PublicKey {
    /// The RFC 7638 thumbprint, used as `kid`.
    pub fn thumbprint(&self) -> String {
        match self {
            Self::Ed25519(k) => jose::ed25519_thumbprint(k),
            Self::Jws(JwsPublicKey::P256 { x, y }) => jose::p256_thumbprint(x, y),
            Self::Jws(JwsPublicKey::Rsa { n, e }) => jose::rsa_thumbprint(n, e),
        }
    }

    fn alg(&self) -> Alg {
        match self {
            Self::Ed25519(_) => Alg::EdDsa,
            Self::Jws(k) => Alg::of_jws(k.algorithm()),
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        let mut jwk = match self {
            Self::Ed25519(k) => json!({ "kty": "OKP", "crv": "Ed25519", "x": jose::b64(k) }),
            Self::Jws(JwsPublicKey::P256 { x, y }) => {
                json!({ "kty": "EC", "crv": "P-256", "x": jose::b64(x), "y": jose::b64(y) })
            }
            Self::Jws(JwsPublicKey::Rsa { n, e }) => {
                json!({ "kty": "RSA", "n": jose::b64(n), "e": jose::b64(e) })
            }
        };
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(self.alg().as_str());
        jwk
    }

    /// Whether `parsed`'s signature is this key's.
    fn verifies(&self, parsed: &jose::Parsed) -> bool {
        match self {
            Self::Ed25519(k) => parsed.verify_ed25519(k),
            Self::Jws(k) => k.verify(parsed.signing_input.as_bytes(), &parsed.signature),
        }
    }
}

/// One version of a signing key, as the backend reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    /// Backend version.
    pub version: u32,
    /// Its public key.
    pub public: PublicKey,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

impl From<keys::VerifyingKeyVersion> for KeyVersion {
    fn from(v: keys::VerifyingKeyVersion) -> Self {
        Self {
            version: v.version,
            public: PublicKey::Ed25519(v.public_key),
            created_at: v.created_at,
        }
    }
}

impl From<keys::JwsKeyVersion> for KeyVersion {
    fn from(v: keys::JwsKeyVersion) -> Self {
        Self {
            version: v.version,
            public: PublicKey::Jws(v.public),
            created_at: v.created_at,
        }
    }
}

/// Rotation timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a new version is published before it signs.
    pub prepublish: Duration,
    /// How long a version stays published after its successor started signing.
    pub retire_after: Duration,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    /// Backend version.
    pub version: u32,
    /// `kid`: the RFC 7638 thumbprint.
    pub kid: String,
    /// The public key.
    pub public: PublicKey,
}

/// Which version of one key signs and which are published, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPlan {
    /// The signing version.
    pub active: PublishedKey,
    /// Every published version (active, prepublished next, retiring), oldest first.
    pub published: Vec<PublishedKey>,
}

fn published(v: &KeyVersion) -> PublishedKey {
    PublishedKey {
        version: v.version,
        kid: v.public.thumbprint(),
        public: v.public.clone(),
    }
}

/// Plans one key at `now`: the newest version whose prepublication is over signs (the first
/// version signs at once); later ones are prepublished; older ones are published until
/// `retire_after` past their successor's activation. `None` without versions.
pub fn plan(
    versions: &[KeyVersion],
    policy: RotationPolicy,
    now: OffsetDateTime,
) -> Option<KeyPlan> {
    let mut versions = versions.to_vec();
    versions.sort_by_key(|v| v.version);
    let activation = |i: usize| {
        if i == 0 {
            versions[0].created_at
        } else {
            versions[i].created_at + policy.prepublish
        }
    };
    let active = (0..versions.len())
        .rev()
        .find(|&i| activation(i) <= now)
        .unwrap_or(0);
    let keys = versions
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= active || activation(i + 1) + policy.retire_after > now)
        .map(|(_, v)| published(v))
        .collect();
    Some(KeyPlan {
        active: published(versions.get(active)?),
        published: keys,
    })
}

/// What a published key does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// It signs new tokens.
    Signing,
    /// It is in the JWKS and signs once its prepublication is over.
    Prepublished,
    /// Its successor signs; it stays in the JWKS for the tokens it signed.
    Retiring,
}

impl KeyRole {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::Prepublished => "prepublished",
            Self::Retiring => "retiring",
        }
    }
}

/// One published key and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// Its algorithm.
    pub alg: Alg,
    /// Backend version.
    pub version: u32,
    /// `kid`.
    pub kid: String,
    /// What it does now.
    pub role: KeyRole,
}

/// The plans of every algorithm.
#[derive(Debug)]
pub struct Plans {
    /// EdDSA (always).
    pub eddsa: KeyPlan,
    /// The other algorithms the backend has keys for.
    pub others: Vec<(Alg, KeyPlan)>,
}

impl Plans {
    fn of(&self, alg: Alg) -> Option<&KeyPlan> {
        match alg {
            Alg::EdDsa => Some(&self.eddsa),
            _ => self.others.iter().find(|(a, _)| *a == alg).map(|(_, p)| p),
        }
    }

    fn all(&self) -> impl Iterator<Item = &PublishedKey> {
        self.eddsa
            .published
            .iter()
            .chain(self.others.iter().flat_map(|(_, p)| p.published.iter()))
    }

    /// Every published key with its role, EdDSA first, oldest version first.
    pub fn statuses(&self) -> Vec<KeyStatus> {
        std::iter::once((Alg::EdDsa, &self.eddsa))
            .chain(self.others.iter().map(|(alg, plan)| (*alg, plan)))
            .flat_map(|(alg, plan)| {
                plan.published.iter().map(move |key| KeyStatus {
                    alg,
                    version: key.version,
                    kid: key.kid.clone(),
                    role: match key.version.cmp(&plan.active.version) {
                        std::cmp::Ordering::Equal => KeyRole::Signing,
                        std::cmp::Ordering::Greater => KeyRole::Prepublished,
                        std::cmp::Ordering::Less => KeyRole::Retiring,
                    },
                })
            })
            .collect()
    }
}

/// The plans and when they were read.
type Cached = Option<(Instant, Arc<Plans>)>;

/// The signing keys of the provider, cached.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    eddsa: Arc<dyn Signer>,
    jws: Vec<Arc<dyn JwsSigner>>,
    policy: RotationPolicy,
    cache: Arc<RwLock<Cached>>,
}

impl SigningKeys {
    /// Keys over the backend's signers.
    pub fn new(
        eddsa: Arc<dyn Signer>,
        jws: Vec<Arc<dyn JwsSigner>>,
        policy: RotationPolicy,
    ) -> Self {
        Self {
            eddsa,
            jws,
            policy,
            cache: Arc::new(RwLock::new(None)),
        }
    }

    /// The backend's signer for `jws`; unavailable (never another algorithm) without one.
    fn jws_signer(&self, jws: JwsAlgorithm) -> Result<&Arc<dyn JwsSigner>, Error> {
        self.jws
            .iter()
            .find(|s| s.algorithm() == jws)
            .ok_or_else(|| Error::Unavailable(format!("no {} signing key", jws.jose_name())))
    }

    /// The algorithms tokens can be signed with, EdDSA first.
    pub fn algorithms(&self) -> Vec<Alg> {
        std::iter::once(Alg::EdDsa)
            .chain(self.jws.iter().map(|s| Alg::of_jws(s.algorithm())))
            .collect()
    }

    /// The current plans, from the cache when younger than [`REFRESH`].
    pub async fn plans(&self) -> Result<Arc<Plans>, Error> {
        if let Ok(cache) = self.cache.read()
            && let Some((at, plans)) = cache.as_ref()
            && at.elapsed() < REFRESH
        {
            return Ok(plans.clone());
        }
        let now = OffsetDateTime::now_utc();
        let ed: Vec<KeyVersion> = self
            .eddsa
            .versions()
            .await?
            .into_iter()
            .map(KeyVersion::from)
            .collect();
        let eddsa = plan(&ed, self.policy, now)
            .ok_or_else(|| Error::Unavailable("no signing key".into()))?;
        let mut others = Vec::with_capacity(self.jws.len());
        for signer in &self.jws {
            // One unreadable ES256 or RS256 key leaves that algorithm out (its clients get a
            // 503, never another algorithm) instead of taking EdDSA and the JWKS down with it.
            let versions = match signer.versions().await {
                Ok(versions) => versions,
                Err(e) => {
                    tracing::warn!(
                        alg = signer.algorithm().jose_name(),
                        error = %e,
                        "signing key unavailable; algorithm left out"
                    );
                    continue;
                }
            };
            let versions: Vec<KeyVersion> = versions.into_iter().map(KeyVersion::from).collect();
            if let Some(plan) = plan(&versions, self.policy, now) {
                others.push((Alg::of_jws(signer.algorithm()), plan));
            }
        }
        let plans = Arc::new(Plans { eddsa, others });
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some((Instant::now(), plans.clone()));
        }
        Ok(plans)
    }

    /// Adds a new version of `alg`'s key in the backend and returns it. It is published at once
    /// (here, and within [`REFRESH`] by every replica) and signs once
    /// [`RotationPolicy::prepublish`] has passed.
    pub async fn rotate(&self, alg: Alg) -> Result<PublishedKey, Error> {
        let version = match alg.jws() {
            None => KeyVersion::from(self.eddsa.rotate().await?),
            Some(jws) => KeyVersion::from(self.jws_signer(jws)?.rotate().await?),
        };
        if let Ok(mut cache) = self.cache.write() {
            *cache = None;
        }
        Ok(published(&version))
    }

    /// Signs `claims` as a compact JWS with `alg`, the active key's `kid` and `typ`. Fails
    /// (never falls back to another algorithm) when the backend has no key for `alg`.
    pub async fn sign(&self, alg: Alg, typ: &str, claims: &Value) -> Result<String, Error> {
        let unavailable = || Error::Unavailable(format!("no {} signing key", alg.as_str()));
        let plans = self.plans().await?;
        let plan = plans.of(alg).ok_or_else(unavailable)?;
        let header = json!({ "alg": alg.as_str(), "typ": typ, "kid": plan.active.kid });
        let input = jose::signing_input(&header, claims);
        let version = plan.active.version;
        let signature = match alg.jws() {
            None => self.eddsa.sign(version, input.as_bytes()).await?.to_vec(),
            Some(jws) => {
                self.jws_signer(jws)?
                    .sign(version, input.as_bytes())
                    .await?
            }
        };
        Ok(format!("{input}.{}", jose::b64(&signature)))
    }

    /// Parses `token` and checks it was signed by one of our published keys: the `kid` must be
    /// ours and the header's `alg` exactly that key's algorithm. Claims are not checked here.
    pub async fn verify(&self, token: &str) -> Result<Option<jose::Parsed>, Error> {
        let Some(parsed) = jose::parse(token) else {
            return Ok(None);
        };
        let plans = self.plans().await?;
        let Some(key) = plans.all().find(|k| Some(k.kid.as_str()) == parsed.kid()) else {
            return Ok(None);
        };
        if parsed.alg() != key.public.alg().as_str() {
            return Ok(None);
        }
        Ok(key.public.verifies(&parsed).then_some(parsed))
    }

    /// The JWK Set of every published key of every algorithm.
    pub async fn jwks(&self) -> Result<Value, Error> {
        let plans = self.plans().await?;
        let keys: Vec<Value> = plans.all().map(|k| k.public.jwk(&k.kid)).collect();
        Ok(json!({ "keys": keys }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn version(n: u32, created_at: OffsetDateTime) -> KeyVersion {
        KeyVersion {
            version: n,
            public: PublicKey::Ed25519([u8::try_from(n).unwrap(); 32]),
            created_at,
        }
    }

    const POLICY: RotationPolicy = RotationPolicy {
        prepublish: Duration::hours(1),
        retire_after: Duration::hours(2),
    };

    fn versions(plan: &KeyPlan) -> (u32, Vec<u32>) {
        (
            plan.active.version,
            plan.published.iter().map(|k| k.version).collect(),
        )
    }

    #[test]
    fn a_new_version_is_prepublished_then_signs_and_the_old_one_retires() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let t1 = datetime!(2026-02-01 00:00 UTC);
        let all = [version(1, t0), version(2, t1)];
        assert!(plan(&[], POLICY, t0).is_none());
        assert_eq!(
            versions(&plan(&all[..1], POLICY, t0).unwrap()),
            (1, vec![1])
        );
        // Just rotated: 2 is published but 1 still signs.
        assert_eq!(versions(&plan(&all, POLICY, t1).unwrap()), (1, vec![1, 2]));
        let active = t1 + Duration::hours(1);
        assert_eq!(
            versions(&plan(&all, POLICY, active).unwrap()),
            (2, vec![1, 2])
        );
        // 1 stays published until 2 h after 2 took over, then it is gone.
        let before = active + Duration::hours(2) - Duration::seconds(1);
        assert_eq!(
            versions(&plan(&all, POLICY, before).unwrap()),
            (2, vec![1, 2])
        );
        let after = active + Duration::hours(2);
        assert_eq!(versions(&plan(&all, POLICY, after).unwrap()), (2, vec![2]));
        let kid = &plan(&all, POLICY, after).unwrap().active.kid;
        assert_eq!(kid, &jose::ed25519_thumbprint(&[2; 32]));
        // Roles, as `permesi oidc-keys list` shows them.
        let roles = |at| {
            Plans {
                eddsa: plan(&all, POLICY, at).unwrap(),
                others: Vec::new(),
            }
            .statuses()
            .into_iter()
            .map(|s| (s.version, s.role))
            .collect::<Vec<_>>()
        };
        assert_eq!(
            roles(t1),
            [(1, KeyRole::Signing), (2, KeyRole::Prepublished)]
        );
        assert_eq!(
            roles(active),
            [(1, KeyRole::Retiring), (2, KeyRole::Signing)]
        );
    }

    #[test]
    fn algorithms_and_jwks_shapes() {
        assert_eq!(Alg::parse("ES256"), Some(Alg::Es256));
        assert_eq!(Alg::parse("RS256"), Some(Alg::Rs256));
        assert_eq!(Alg::parse("none"), None);
        assert_eq!(Alg::parse("rs256"), None);
        let rsa = PublicKey::Jws(JwsPublicKey::Rsa {
            n: vec![0xc5; 256],
            e: vec![1, 0, 1],
        });
        let jwk = rsa.jwk("r");
        assert_eq!(
            (&jwk["kty"], &jwk["e"], &jwk["alg"], &jwk["kid"]),
            (&json!("RSA"), &json!("AQAB"), &json!("RS256"), &json!("r"))
        );
        assert_eq!(
            rsa.thumbprint(),
            jose::rsa_thumbprint(&[0xc5; 256], &[1, 0, 1])
        );
        let ec = PublicKey::Jws(JwsPublicKey::P256 {
            x: [1; 32],
            y: [2; 32],
        });
        let jwk = ec.jwk("k");
        assert_eq!(
            (&jwk["kty"], &jwk["crv"], &jwk["alg"]),
            (&json!("EC"), &json!("P-256"), &json!("ES256"))
        );
        assert_eq!(ec.thumbprint(), jose::p256_thumbprint(&[1; 32], &[2; 32]));
        assert_ne!(ec.thumbprint(), PublicKey::Ed25519([1; 32]).thumbprint());
    }
}
