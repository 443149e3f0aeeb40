//! Key backends for permesi.
//!
//! This crate gives the services three capabilities, each behind an object-safe
//! async trait, so that private key material never leaves the backend:
//!
//! - [`Signer`]: Ed25519 signatures with an explicitly chosen key version
//!   (genesis signs PASETO v4.public admission tokens, permesi signs OIDC tokens);
//! - [`Es256Signer`]: ECDSA P-256 signatures in the JWS form, for OpenID Connect clients that
//!   ask for ES256 (local backend only so far: `<name>.ecdsa-p256.json`, made on first use);
//! - [`Cipher`]: AEAD encryption with associated data, producing self-describing text;
//! - [`SecretStore`]: small named secrets (e.g. the OPAQUE server seed).
//!
//! Two backends implement them, chosen by [`BackendConfig`] and opened with
//! [`KeyBackend::open`]:
//!
//! - **local** (always built): versioned key files under one directory (0700, files
//!   0600, every write atomic: temp file, fsync, rename, fsync dir). Ed25519 via
//!   `ed25519-dalek`, XChaCha20-Poly1305 via `chacha20poly1305`. This is the default
//!   so a fresh machine runs the stack without Vault.
//! - **vault** (cargo feature `vault`, on by default): Vault or OpenBao Transit
//!   (`ed25519` for signing, `chacha20-poly1305` for encryption) and KV v2 for secrets,
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

/// One version of an ECDSA P-256 (ES256) signing key, as far as verifiers are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcVerifyingKeyVersion {
    /// Version number, starting at 1, increasing by one per rotation.
    pub version: u32,
    /// The public point's affine x coordinate (32 bytes, big-endian).
    pub x: [u8; 32],
    /// The public point's affine y coordinate.
    pub y: [u8; 32],
    /// When this version was created.
    pub created_at: time::OffsetDateTime,
}

/// ES256 signing (ECDSA over P-256 with SHA-256) with versioned keys that never leave the
/// backend. Signatures are in the JWS form (RFC 7518 section 3.4): `r || s`, 32 bytes each.
#[async_trait::async_trait]
pub trait Es256Signer: Send + Sync + std::fmt::Debug {
    /// Every version with its public key, oldest first.
    async fn versions(&self) -> Result<Vec<EcVerifyingKeyVersion>, KeysError>;
    /// Signs with exactly `version`; an error, never a fallback to another key.
    async fn sign(&self, version: u32, message: &[u8]) -> Result<[u8; 64], KeysError>;
    /// Adds a new key version (it becomes the newest); returns it.
    async fn rotate(&self) -> Result<EcVerifyingKeyVersion, KeysError>;
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
    es256: Option<Arc<dyn Es256Signer>>,
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
                    es256: Some(b.es256),
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
                    es256: None,
                })
            }
        }
    }

    /// The Ed25519 signer.
    pub fn signer(&self) -> Arc<dyn Signer> {
        Arc::clone(&self.signer)
    }

    /// The ES256 signer: the local backend's `<signing key>.ecdsa-p256.json`, created on first
    /// use. `None` on Vault (Transit `ecdsa-p256` keys are not wired yet).
    pub fn es256_signer(&self) -> Option<Arc<dyn Es256Signer>> {
        self.es256.clone()
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
