//! Key backends for permesi.
//!
//! This crate gives the services three capabilities, each behind an object-safe
//! async trait, so that private key material never leaves the backend:
//!
//! - [`Signer`]: Ed25519 signatures with an explicitly chosen key version
//!   (genesis signs PASETO v4.public admission tokens, permesi signs OIDC tokens);
//! - [`JwsSigner`]: the other JWS algorithms OpenID Connect clients may ask for, ES256 (ECDSA
//!   P-256) and RS256 (RSASSA-PKCS1-v1_5 with SHA-256), one signer per algorithm;
//! - [`Cipher`]: AEAD encryption with associated data, producing self-describing text;
//! - [`SecretStore`]: small named secrets (e.g. the OPAQUE server seed).
//!
//! Two backends implement them, chosen by [`BackendConfig`] and opened with
//! [`KeyBackend::open`]:
//!
//! - **local** (always built): versioned key files under one directory (0700, files
//!   0600, every write atomic: temp file, fsync, rename, fsync dir). Ed25519 via
//!   `ed25519-dalek`, XChaCha20-Poly1305 via `chacha20poly1305`, ES256 via `p256`, RS256 via
//!   `ring` (constant-time RSA; `rsa` only generates the 2048-bit keys, stored as PKCS#8).
//!   The JWS keys are `<signing key>.ecdsa-p256.json` and `<signing key>.rsa-2048.json`,
//!   made on first use. This is the default so a fresh machine runs the stack without Vault.
//! - **vault** (cargo feature `vault`, on by default): Vault or OpenBao Transit
//!   (`ed25519` for signing, `chacha20-poly1305` for encryption, and when configured
//!   `ecdsa-p256` and `rsa-2048`/`3072`/`4096` keys for JWS) and KV v2 for secrets,
//!   authenticated by AppRole (with background token renewal) or through a Vault Agent
//!   listening on a Unix socket.
//!
//! ## Vault transport choice
//! Every Vault API call goes through `vaultrs` 0.8's functions (`transit::key::{read,
//! rotate}`, `transit::data::{sign, encrypt, decrypt}`, `kv2::{read, set}`,
//! `auth::approle::login`, `token::{renew_self, lookup_self}`), so request and response
//! shapes are vaultrs's. What vaultrs cannot do is reach a Vault Agent over a Unix
//! socket: `VaultClient::new` builds its own `reqwest` client. So the backend builds
//! that client with `VaultClient::new` (every setting explicit, no `VAULT_*`
//! environment variable read) and then replaces its public `http` field with a
//! `rustify` client over a `reqwest` 0.13 client built here (the reqwest major version
//! vaultrs and rustify use): TCP, or `.unix_socket(path)` for `unix://` addresses,
//! with the per-call timeout (connect included). TCP and Unix-socket deployments thus
//! share one code path: the same vaultrs calls, one error mapping from vaultrs's
//! `ClientError` (Vault's status codes, reqwest timeouts and connection errors), one
//! timeout. The token lives in vaultrs's middleware: each login or renewal that yields
//! a new token swaps in a vaultrs client carrying it, on the same transport; Agent mode
//! uses a client with no token, so no `X-Vault-Token` is sent.
//!
//! TLS is rustls without a bundled crypto provider (`rustls-no-provider`): opening a
//! Vault backend installs rustls's ring provider as the process default unless the
//! process already installed one (which is then used).
//!
//! ## What this crate does not depend on
//! No web framework, no database. With `default-features = false` it has no Vault or
//! HTTP client either: just the traits and the local backend.
//!
//! ## Failure policy
//! Fail closed: a signer that cannot sign with exactly the requested version returns
//! an error, never a signature from another key. Every Vault call has a timeout.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod fsutil;
mod local;
mod names;
#[cfg(feature = "vault")]
mod vault;

use std::sync::Arc;

pub use error::KeysError;
pub use local::LocalConfig;
pub use names::validate_name;
#[cfg(feature = "vault")]
pub use vault::{DEFAULT_TIMEOUT as DEFAULT_VAULT_TIMEOUT, VaultAuth, VaultConfig};

/// One version of an Ed25519 signing key, as far as verifiers are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKeyVersion {
    /// Version number, starting at 1, increasing by one per rotation.
    pub version: u32,
    /// The raw 32-byte Ed25519 public key.
    pub public_key: [u8; 32],
    /// When this version was created.
    pub created_at: time::OffsetDateTime,
}

/// Ed25519 signing with versioned keys that never leave the backend.
#[async_trait::async_trait]
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// Every version of the Ed25519 signing key with its public key, oldest first.
    async fn versions(&self) -> Result<Vec<VerifyingKeyVersion>, KeysError>;
    /// Signs with exactly `version`; an error, never a fallback to another key.
    async fn sign(&self, version: u32, message: &[u8]) -> Result<[u8; 64], KeysError>;
    /// Adds a new key version (it becomes the newest); returns it.
    async fn rotate(&self) -> Result<VerifyingKeyVersion, KeysError>;
}

/// A JWS algorithm a [`JwsSigner`] signs with (Ed25519 has its own [`Signer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    /// ECDSA over P-256 with SHA-256; signatures are `r || s`, 32 bytes each (RFC 7518 3.4).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256; signatures are as long as the modulus (RFC 7518 3.3).
    Rs256,
}

impl JwsAlgorithm {
    /// Every algorithm, in the order services list them.
    pub const ALL: [Self; 2] = [Self::Es256, Self::Rs256];

    /// The JOSE name (`ES256`, `RS256`).
    pub fn jose_name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

/// The public half of a JWS signing key, in the form a JWK carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwsPublicKey {
    /// A P-256 point's affine coordinates (32 bytes each, big-endian).
    P256 {
        /// x.
        x: [u8; 32],
        /// y.
        y: [u8; 32],
    },
    /// An RSA modulus and public exponent, big-endian without leading zeros.
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
}

impl JwsPublicKey {
    /// The algorithm this key verifies: ES256 for P-256, RS256 for RSA.
    pub fn algorithm(&self) -> JwsAlgorithm {
        match self {
            Self::P256 { .. } => JwsAlgorithm::Es256,
            Self::Rsa { .. } => JwsAlgorithm::Rs256,
        }
    }

    /// Whether `signature` (in the JWS form) is this key's signature of `message` with its
    /// [`JwsPublicKey::algorithm`]. RSA keys under 2048 bits never verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::P256 { x, y } => {
                use p256::ecdsa::signature::Verifier as _;
                let mut sec1 = [0u8; 65];
                sec1[0] = 4;
                sec1[1..33].copy_from_slice(x);
                sec1[33..].copy_from_slice(y);
                let Ok(key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1) else {
                    return false;
                };
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|s| key.verify(message, &s).is_ok())
            }
            Self::Rsa { n, e } => ring::signature::RsaPublicKeyComponents { n, e }
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    message,
                    signature,
                )
                .is_ok(),
        }
    }
}

/// One version of a JWS signing key, as far as verifiers are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsKeyVersion {
    /// Version number, starting at 1, increasing by one per rotation.
    pub version: u32,
    /// Its public key.
    pub public: JwsPublicKey,
    /// When this version was created.
    pub created_at: time::OffsetDateTime,
}

/// JWS signing with one algorithm and versioned keys that never leave the backend.
/// Signatures are in the JWS form of [`JwsSigner::algorithm`].
#[async_trait::async_trait]
pub trait JwsSigner: Send + Sync + std::fmt::Debug {
    /// The algorithm every signature is made with.
    fn algorithm(&self) -> JwsAlgorithm;
    /// Every version with its public key, oldest first.
    async fn versions(&self) -> Result<Vec<JwsKeyVersion>, KeysError>;
    /// Signs with exactly `version`; an error, never a fallback to another key.
    async fn sign(&self, version: u32, message: &[u8]) -> Result<Vec<u8>, KeysError>;
    /// Adds a new key version (it becomes the newest); returns it.
    async fn rotate(&self) -> Result<JwsKeyVersion, KeysError>;
}

/// Authenticated encryption with associated data.
#[async_trait::async_trait]
pub trait Cipher: Send + Sync + std::fmt::Debug {
    /// AEAD-encrypts; `aad` is bound to the ciphertext. Output is self-describing
    /// text (`local:v<N>:...` or `vault:v<N>:...`, the key version inside), so that
    /// values encrypted before a rotation still decrypt.
    async fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, KeysError>;
    /// Decrypts text produced by [`Cipher::encrypt`] with the same `aad`;
    /// [`KeysError::Decrypt`] when it was tampered with or the `aad` differs.
    async fn decrypt(&self, ciphertext: &str, aad: &[u8]) -> Result<Vec<u8>, KeysError>;
}

/// Small named secrets (seeds, tokens), stored by the backend.
///
/// Names are checked by [`validate_name`]: 1 to 128 characters of `A-Z a-z 0-9 . _ -`,
/// not starting with `.`; no `/`, no `..`.
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// The secret called `name`, or `None` when it does not exist.
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeysError>;
    /// Creates or replaces the secret called `name`.
    async fn put(&self, name: &str, value: &[u8]) -> Result<(), KeysError>;
}

/// Which backend to open, with its settings. `Debug` never prints secrets.
#[derive(Debug, Clone)]
pub enum BackendConfig {
    /// Key files in a local directory.
    Local(LocalConfig),
    /// Vault or OpenBao (Transit + KV v2).
    #[cfg(feature = "vault")]
    Vault(VaultConfig),
}

/// Looks up what a presented Vault token may do (operator checks). Only the Vault backend has
/// one: a local backend has no tokens to inspect.
#[async_trait::async_trait]
pub trait TokenPolicies: Send + Sync + std::fmt::Debug {
    /// The policies (token and identity) of `token`, by a self-lookup made *with* that token,
    /// so it needs no privilege of ours. An invalid or expired token is [`KeysError::Denied`].
    async fn policies_of(&self, token: &str) -> Result<Vec<String>, KeysError>;
}

/// Readiness probe, implemented by each backend.
#[async_trait::async_trait]
trait Probe: Send + Sync + std::fmt::Debug {
    async fn check(&self) -> Result<(), KeysError>;
}

/// The three capabilities from one backend, cheap to clone.
#[derive(Clone, Debug)]
pub struct KeyBackend {
    kind: &'static str,
    signer: Arc<dyn Signer>,
    cipher: Arc<dyn Cipher>,
    secrets: Arc<dyn SecretStore>,
    probe: Arc<dyn Probe>,
    tokens: Option<Arc<dyn TokenPolicies>>,
    jws: Vec<Arc<dyn JwsSigner>>,
}

impl KeyBackend {
    /// Opens the configured backend.
    ///
    /// Local: creates the directory (0700) and the signing and encryption keys
    /// (version 1) on first start, and refuses a directory or key file readable by
    /// group or others. Vault: builds the client and, for AppRole, logs in and starts
    /// the background token renewal (it stops when the last clone is dropped).
    pub async fn open(config: BackendConfig) -> Result<Self, KeysError> {
        match config {
            BackendConfig::Local(cfg) => {
                let b = local::LocalBackend::open(cfg).await?;
                Ok(Self {
                    kind: "local",
                    signer: b.signer,
                    cipher: b.cipher,
                    secrets: b.secrets,
                    probe: b.probe,
                    tokens: None,
                    jws: b.jws,
                })
            }
            #[cfg(feature = "vault")]
            BackendConfig::Vault(cfg) => {
                let b = vault::VaultBackend::open(cfg).await?;
                Ok(Self {
                    kind: "vault",
                    signer: b.signer,
                    cipher: b.cipher,
                    secrets: b.secrets,
                    probe: b.probe,
                    tokens: Some(b.tokens),
                    jws: b.jws,
                })
            }
        }
    }

    /// The Ed25519 signer.
    pub fn signer(&self) -> Arc<dyn Signer> {
        Arc::clone(&self.signer)
    }

    /// The JWS signers besides Ed25519, one per algorithm: on the local backend ES256 and
    /// RS256 (their key files are made on first use); on Vault those whose Transit key is
    /// configured ([`VaultConfig::jws_keys`]).
    pub fn jws_signers(&self) -> Vec<Arc<dyn JwsSigner>> {
        self.jws.clone()
    }

    /// The AEAD cipher.
    pub fn cipher(&self) -> Arc<dyn Cipher> {
        Arc::clone(&self.cipher)
    }

    /// The secret store.
    pub fn secrets(&self) -> Arc<dyn SecretStore> {
        Arc::clone(&self.secrets)
    }

    /// Readiness probe: cheap; local = the key dir is readable and keys parse;
    /// vault = token valid and transit keys readable (with the expected types).
    pub async fn check(&self) -> Result<(), KeysError> {
        self.probe.check().await
    }

    /// Vault token lookups (`None` on the local backend).
    pub fn token_policies(&self) -> Option<Arc<dyn TokenPolicies>> {
        self.tokens.clone()
    }

    /// `"local"` or `"vault"`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}
