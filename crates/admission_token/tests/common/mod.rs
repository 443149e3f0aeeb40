//! Shared test helpers: an in-memory `Signer` over ed25519-dalek and a raw token builder.
#![allow(dead_code)]

use std::sync::Mutex;

use admission_token::pae::pae;
use admission_token::{Claims, Keyset, Kid};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use keys::{KeysError, Signer, VerifyingKeyVersion};
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::{Duration, OffsetDateTime};

pub const ISS: &str = "https://genesis.permesi.localhost";
pub const AUD: &str = "https://api.permesi.localhost";

/// Deterministic key for `(seed, version)`.
pub fn signing_key(seed: u8, version: u32) -> SigningKey {
    let mut bytes = [seed; 32];
    bytes[..4].copy_from_slice(&version.to_be_bytes());
    SigningKey::from_bytes(&bytes)
}

/// An in-memory signer with versioned keys.
#[derive(Debug)]
pub struct MemSigner {
    seed: u8,
    keys: Mutex<Vec<(VerifyingKeyVersion, SigningKey)>>,
    /// When set, `sign` uses this key whatever the version asked (a broken backend).
    pub wrong_key: Option<SigningKey>,
}

impl MemSigner {
    pub fn new(seed: u8, versions: u32, created_at: OffsetDateTime) -> Self {
        let keys = (1..=versions)
            .map(|v| {
                let sk = signing_key(seed, v);
                let vk = VerifyingKeyVersion {
                    version: v,
                    public_key: sk.verifying_key().to_bytes(),
                    created_at: created_at + Duration::minutes(i64::from(v)),
                };
                (vk, sk)
            })
            .collect();
        Self {
            seed,
            keys: Mutex::new(keys),
            wrong_key: None,
        }
    }

    pub fn version(&self, v: u32) -> VerifyingKeyVersion {
        self.keys
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k.version == v)
            .unwrap()
            .0
            .clone()
    }

    pub fn all_versions(&self) -> Vec<VerifyingKeyVersion> {
        self.keys
            .lock()
            .unwrap()
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn key(&self, v: u32) -> SigningKey {
        self.keys
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k.version == v)
            .unwrap()
            .1
            .clone()
    }

    pub fn public(&self, v: u32) -> [u8; 32] {
        self.version(v).public_key
    }

    pub fn kid(&self, v: u32) -> Kid {
        Kid::from_public_key(&self.public(v))
    }

    /// Keyset with `active` active, older retiring, newer next.
    pub fn keyset(&self, active: u32) -> Keyset {
        Keyset::from_versions(&self.all_versions(), active, None).unwrap()
    }
}

#[async_trait::async_trait]
impl Signer for MemSigner {
    async fn versions(&self) -> Result<Vec<VerifyingKeyVersion>, KeysError> {
        Ok(self.all_versions())
    }

    async fn sign(&self, version: u32, message: &[u8]) -> Result<[u8; 64], KeysError> {
        if let Some(wrong) = &self.wrong_key {
            return Ok(wrong.sign(message).to_bytes());
        }
        let keys = self.keys.lock().unwrap();
        let (_, sk) = keys
            .iter()
            .find(|(k, _)| k.version == version)
            .ok_or_else(|| KeysError::NotFound(format!("version {version}")))?;
        Ok(sk.sign(message).to_bytes())
    }

    async fn rotate(&self) -> Result<VerifyingKeyVersion, KeysError> {
        let mut keys = self.keys.lock().unwrap();
        let v = u32::try_from(keys.len()).unwrap() + 1;
        let sk = signing_key(self.seed, v);
        let vk = VerifyingKeyVersion {
            version: v,
            public_key: sk.verifying_key().to_bytes(),
            created_at: OffsetDateTime::now_utc(),
        };
        keys.push((vk.clone(), sk));
        Ok(vk)
    }
}

/// Claims for `action`, valid from `now` for `ttl_secs`.
pub fn claims(action: &str, now: OffsetDateTime, ttl_secs: i64) -> Claims {
    let mut rng = StdRng::seed_from_u64(now.unix_timestamp().unsigned_abs());
    Claims::new(ISS, AUD, action, now, Duration::seconds(ttl_secs), &mut rng).unwrap()
}

/// Builds a `v4.public` token by hand from raw message and footer bytes.
pub fn sign_raw(sk: &SigningKey, message: &[u8], footer: &[u8]) -> String {
    let m2 = pae(&[b"v4.public.", message, footer, b""]);
    let sig = sk.sign(&m2).to_bytes();
    let mut body = message.to_vec();
    body.extend_from_slice(&sig);
    format!(
        "v4.public.{}.{}",
        URL_SAFE_NO_PAD.encode(body),
        URL_SAFE_NO_PAD.encode(footer)
    )
}

/// The `{"kid":...}` footer for a key.
pub fn footer_for(sk: &SigningKey) -> String {
    format!(
        r#"{{"kid":"{}"}}"#,
        Kid::from_public_key(&sk.verifying_key().to_bytes())
    )
}

/// A fixed instant.
pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}
