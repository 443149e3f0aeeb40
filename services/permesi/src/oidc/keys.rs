//! Token signing keys: which version signs, which are published in the JWKS, and signing and
//! verifying through the key backend's [`keys::Signer`] (the private key never leaves it).
//!
//! Rotation: a new version (made by the backend's `rotate`, e.g. Vault's
//! `transit/keys/permesi-oidc/rotate` or `permesi` key rotation) is published in the JWKS for
//! [`RotationPolicy::prepublish`] before it signs anything, so relying parties that cache the
//! JWKS already know it when the first token signed by it arrives. The previous version stays
//! published for [`RotationPolicy::retire_after`] after its successor took over (longer than
//! any token it signed lives), then disappears.

use std::{
    sync::{Arc, RwLock},
    time::Instant,
};

use keys::{Signer, VerifyingKeyVersion};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::jose;
use crate::error::Error;

/// How long the version list is cached in memory before the backend is asked again.
pub const REFRESH: std::time::Duration = std::time::Duration::from_mins(1);

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
    /// Raw Ed25519 public key.
    pub public_key: [u8; 32],
}

/// Which version signs and which are published, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPlan {
    /// The signing version.
    pub active: PublishedKey,
    /// Every published version (active, prepublished next, retiring), oldest first.
    pub published: Vec<PublishedKey>,
}

fn published(v: &VerifyingKeyVersion) -> PublishedKey {
    PublishedKey {
        version: v.version,
        kid: jose::ed25519_thumbprint(&v.public_key),
        public_key: v.public_key,
    }
}

/// Plans the keys at `now`: the newest version whose prepublication is over signs (the first
/// version signs at once); later ones are prepublished; older ones are published until
/// `retire_after` past their successor's activation. `None` without versions.
pub fn plan(
    versions: &[VerifyingKeyVersion],
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

/// The plan and when it was read.
type Cached = Option<(Instant, Arc<KeyPlan>)>;

/// The signing keys of the provider, cached.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    signer: Arc<dyn Signer>,
    policy: RotationPolicy,
    cache: Arc<RwLock<Cached>>,
}

impl SigningKeys {
    /// Keys over the backend's signer.
    pub fn new(signer: Arc<dyn Signer>, policy: RotationPolicy) -> Self {
        Self {
            signer,
            policy,
            cache: Arc::new(RwLock::new(None)),
        }
    }

    /// The current plan, from the cache when it is younger than [`REFRESH`].
    pub async fn plan(&self) -> Result<Arc<KeyPlan>, Error> {
        if let Ok(cache) = self.cache.read()
            && let Some((at, plan)) = cache.as_ref()
            && at.elapsed() < REFRESH
        {
            return Ok(plan.clone());
        }
        let versions = self.signer.versions().await?;
        let plan = Arc::new(
            plan(&versions, self.policy, OffsetDateTime::now_utc())
                .ok_or_else(|| Error::Unavailable("no signing key".into()))?,
        );
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some((Instant::now(), plan.clone()));
        }
        Ok(plan)
    }

    /// Signs `claims` as a compact JWS (`EdDSA`, the active key's `kid`, `typ`).
    pub async fn sign(&self, typ: &str, claims: &Value) -> Result<String, Error> {
        let plan = self.plan().await?;
        let header = json!({ "alg": "EdDSA", "typ": typ, "kid": plan.active.kid });
        let input = jose::signing_input(&header, claims);
        let signature = self
            .signer
            .sign(plan.active.version, input.as_bytes())
            .await?;
        Ok(format!("{input}.{}", jose::b64(&signature)))
    }

    /// Parses `token` and checks it was signed by one of our published keys with `EdDSA`
    /// (the header's `alg` must say so, the `kid` must be ours). Claims are not checked here.
    pub async fn verify(&self, token: &str) -> Result<Option<jose::Parsed>, Error> {
        let Some(parsed) = jose::parse(token) else {
            return Ok(None);
        };
        if parsed.alg() != "EdDSA" {
            return Ok(None);
        }
        let plan = self.plan().await?;
        let Some(key) = plan
            .published
            .iter()
            .find(|k| Some(k.kid.as_str()) == parsed.kid())
        else {
            return Ok(None);
        };
        Ok(parsed.verify_ed25519(&key.public_key).then_some(parsed))
    }

    /// The JWK Set of every published key.
    pub async fn jwks(&self) -> Result<Value, Error> {
        let plan = self.plan().await?;
        let keys: Vec<Value> = plan
            .published
            .iter()
            .map(|k| {
                json!({
                    "kty": "OKP", "crv": "Ed25519", "x": jose::b64(&k.public_key),
                    "kid": k.kid, "use": "sig", "alg": "EdDSA",
                })
            })
            .collect();
        Ok(json!({ "keys": keys }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn version(n: u32, created_at: OffsetDateTime) -> VerifyingKeyVersion {
        VerifyingKeyVersion {
            version: n,
            public_key: [u8::try_from(n).unwrap(); 32],
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
}
