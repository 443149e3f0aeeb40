//! Token signing keys: which version of each algorithm signs, which are published in the
//! JWKS, and signing and verifying through the key backend (the private keys never leave it):
//! EdDSA through [`keys::Signer`] (every token by default), ES256 through
//! [`keys::Es256Signer`] for clients that ask for it (when the backend has one).
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

use keys::{Es256Signer, Signer};
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
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// The inverse of [`Alg::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "EdDSA" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

/// A public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Raw Ed25519 key.
    Ed25519([u8; 32]),
    /// P-256 affine coordinates.
    P256 {
        /// x.
        x: [u8; 32],
        /// y.
        y: [u8; 32],
    },
}

impl PublicKey {
    /// The RFC 7638 thumbprint, used as `kid`.
    pub fn thumbprint(&self) -> String {
        match self {
            Self::Ed25519(k) => jose::ed25519_thumbprint(k),
            Self::P256 { x, y } => jose::p256_thumbprint(x, y),
        }
    }

    fn alg(&self) -> Alg {
        match self {
            Self::Ed25519(_) => Alg::EdDsa,
            Self::P256 { .. } => Alg::Es256,
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        match self {
            Self::Ed25519(k) => json!({
                "kty": "OKP", "crv": "Ed25519", "x": jose::b64(k),
                "kid": kid, "use": "sig", "alg": "EdDSA",
            }),
            Self::P256 { x, y } => json!({
                "kty": "EC", "crv": "P-256", "x": jose::b64(x), "y": jose::b64(y),
                "kid": kid, "use": "sig", "alg": "ES256",
            }),
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

/// The plans of every algorithm.
#[derive(Debug)]
pub struct Plans {
    /// EdDSA (always).
    pub eddsa: KeyPlan,
    /// ES256, when the backend has it.
    pub es256: Option<KeyPlan>,
}

impl Plans {
    fn of(&self, alg: Alg) -> Option<&KeyPlan> {
        match alg {
            Alg::EdDsa => Some(&self.eddsa),
            Alg::Es256 => self.es256.as_ref(),
        }
    }

    fn all(&self) -> impl Iterator<Item = &PublishedKey> {
        self.eddsa
            .published
            .iter()
            .chain(self.es256.iter().flat_map(|p| p.published.iter()))
    }
}

/// The plans and when they were read.
type Cached = Option<(Instant, Arc<Plans>)>;

/// The signing keys of the provider, cached.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    eddsa: Arc<dyn Signer>,
    es256: Option<Arc<dyn Es256Signer>>,
    policy: RotationPolicy,
    cache: Arc<RwLock<Cached>>,
}

impl SigningKeys {
    /// Keys over the backend's signers.
    pub fn new(
        eddsa: Arc<dyn Signer>,
        es256: Option<Arc<dyn Es256Signer>>,
        policy: RotationPolicy,
    ) -> Self {
        Self {
            eddsa,
            es256,
            policy,
            cache: Arc::new(RwLock::new(None)),
        }
    }

    /// The algorithms tokens can be signed with.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut out = vec![Alg::EdDsa.as_str()];
        if self.es256.is_some() {
            out.push(Alg::Es256.as_str());
        }
        out
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
            .map(|v| KeyVersion {
                version: v.version,
                public: PublicKey::Ed25519(v.public_key),
                created_at: v.created_at,
            })
            .collect();
        let eddsa = plan(&ed, self.policy, now)
            .ok_or_else(|| Error::Unavailable("no signing key".into()))?;
        let es256 = match &self.es256 {
            None => None,
            Some(signer) => {
                let es: Vec<KeyVersion> = signer
                    .versions()
                    .await?
                    .into_iter()
                    .map(|v| KeyVersion {
                        version: v.version,
                        public: PublicKey::P256 { x: v.x, y: v.y },
                        created_at: v.created_at,
                    })
                    .collect();
                plan(&es, self.policy, now)
            }
        };
        let plans = Arc::new(Plans { eddsa, es256 });
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some((Instant::now(), plans.clone()));
        }
        Ok(plans)
    }

    /// Signs `claims` as a compact JWS with `alg`, the active key's `kid` and `typ`. Fails
    /// (never falls back to another algorithm) when the backend has no key for `alg`.
    pub async fn sign(&self, alg: Alg, typ: &str, claims: &Value) -> Result<String, Error> {
        let plans = self.plans().await?;
        let plan = plans
            .of(alg)
            .ok_or_else(|| Error::Unavailable(format!("no {} signing key", alg.as_str())))?;
        let header = json!({ "alg": alg.as_str(), "typ": typ, "kid": plan.active.kid });
        let input = jose::signing_input(&header, claims);
        let signature = match (alg, &self.es256) {
            (Alg::EdDsa, _) => {
                self.eddsa
                    .sign(plan.active.version, input.as_bytes())
                    .await?
            }
            (Alg::Es256, Some(es)) => es.sign(plan.active.version, input.as_bytes()).await?,
            (Alg::Es256, None) => return Err(Error::Unavailable("no ES256 signer".into())),
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
        let valid = match &key.public {
            PublicKey::Ed25519(k) => parsed.verify_ed25519(k),
            PublicKey::P256 { x, y } => parsed.verify_es256(x, y),
        };
        Ok(valid.then_some(parsed))
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
    }

    #[test]
    fn algorithms_and_jwks_shapes() {
        assert_eq!(Alg::parse("ES256"), Some(Alg::Es256));
        assert_eq!(Alg::parse("RS256"), None);
        let ec = PublicKey::P256 {
            x: [1; 32],
            y: [2; 32],
        };
        let jwk = ec.jwk("k");
        assert_eq!(
            (&jwk["kty"], &jwk["crv"], &jwk["alg"]),
            (&json!("EC"), &json!("P-256"), &json!("ES256"))
        );
        assert_eq!(ec.thumbprint(), jose::p256_thumbprint(&[1; 32], &[2; 32]));
        assert_ne!(ec.thumbprint(), PublicKey::Ed25519([1; 32]).thumbprint());
    }
}
