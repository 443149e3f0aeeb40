//! Local file backend: versioned key files and a secrets folder in one private directory.
//!
//! Layout under `dir` (0700):
//! ```text
//! <signing_key>.ed25519.json             all versions of the signing key   (0600)
//! <signing_key>.ecdsa-p256.json          ES256 key, made on first use      (0600)
//! <signing_key>.rsa-2048.json            RS256 key, made on first use      (0600)
//! <encryption_key>.xchacha20poly1305.json all versions of the encryption key (0600)
//! secrets/<name>                          one file per secret               (0600)
//! ```
//! A key file is JSON: `{"format":"permesi-keys/1","algorithm":..,"name":..,
//! "versions":[{"version":1,"created_at":"<RFC 3339>","secret":"<base64url 32 bytes>"}]}`
//! (RSA keys: the secret is the PKCS#8 DER private key, since a key derived from a seed would
//! depend on one library version's prime search).
//! Versions are contiguous from 1; rotation appends one and rewrites the file atomically.
//! Another process (a CLI) may rotate the same directory: `versions` and `rotate` reread
//! the file, and a request for a version newer than the loaded ones rereads it (at most
//! once a second).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signer as _, SigningKey};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::{Zeroize, Zeroizing};

use crate::fsutil::{ensure_private_dir, read_private_file, write_atomic};
use crate::names::validate_name;
use crate::{
    Cipher, JwsAlgorithm, JwsKeyVersion, JwsPublicKey, JwsSigner, KeysError, Probe, SecretStore,
    Signer, VerifyingKeyVersion,
};

/// Settings of the local file backend. Holds no secrets (a directory and key names).
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Directory holding the key files and `secrets/`; created with mode 0700.
    pub dir: PathBuf,
    /// Name of the Ed25519 signing key (file `<dir>/<name>.ed25519.json`).
    pub signing_key: String,
    /// Name of the encryption key (file `<dir>/<name>.xchacha20poly1305.json`).
    pub encryption_key: String,
}

const FORMAT: &str = "permesi-keys/1";
/// Prefix of local ciphertexts: `local:v<N>:<base64url(nonce || ciphertext || tag)>`.
const CT_PREFIX: &str = "local:v";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Minimum time between two rereads of a key file triggered by an unknown version.
const RELOAD_COOLDOWN: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------
// Key material

/// What a key ring holds per version, built from the version's stored secret.
trait Material: Send + Sync + Sized + 'static {
    const ALGORITHM: &'static str;
    /// The secret of a new version: 32 random bytes unless the algorithm needs another form.
    fn generate() -> Result<Zeroizing<Vec<u8>>, KeysError> {
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        OsRng.fill_bytes(secret.as_mut());
        Ok(secret)
    }
    /// The key from its stored secret; a description of what is wrong otherwise.
    fn from_secret(secret: &[u8]) -> Result<Self, String>;
}

/// A 32-byte secret, or why not.
fn seed32(secret: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
    let mut out = Zeroizing::new([0u8; 32]);
    if secret.len() != out.len() {
        return Err(format!("secret is {} bytes, expected 32", secret.len()));
    }
    out.copy_from_slice(secret);
    Ok(out)
}

/// Ed25519 signing key (zeroized on drop by ed25519-dalek).
struct Ed25519(SigningKey);

impl Material for Ed25519 {
    const ALGORITHM: &'static str = "ed25519";
    fn from_secret(secret: &[u8]) -> Result<Self, String> {
        Ok(Self(SigningKey::from_bytes(&*seed32(secret)?)))
    }
}

/// A key that signs JWS with one algorithm.
trait JwsMaterial: Material {
    const JWS: JwsAlgorithm;
    fn public(&self) -> JwsPublicKey;
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeysError>;
}

/// ECDSA P-256 signing key (ES256).
struct P256(p256::ecdsa::SigningKey);

impl Material for P256 {
    const ALGORITHM: &'static str = "ecdsa-p256";
    fn from_secret(secret: &[u8]) -> Result<Self, String> {
        // 32 random bytes are a valid scalar (non-zero, below the group order) except with
        // probability about 2^-32; map the rare others deterministically to a valid one.
        let mut bytes = seed32(secret)?;
        loop {
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(bytes.as_slice()) {
                return Ok(Self(key));
            }
            bytes[0] &= 0x7f;
            bytes[31] |= 1;
        }
    }
}

impl JwsMaterial for P256 {
    const JWS: JwsAlgorithm = JwsAlgorithm::Es256;

    fn public(&self) -> JwsPublicKey {
        let point = self.0.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        x.copy_from_slice(&bytes[1..33]);
        y.copy_from_slice(&bytes[33..65]);
        JwsPublicKey::P256 { x, y }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeysError> {
        use p256::ecdsa::signature::Signer as _;
        let signature: p256::ecdsa::Signature = self.0.sign(message);
        Ok(signature.to_bytes().to_vec())
    }
}

/// RSA 2048 signing key (RS256), signing through ring (constant-time modular arithmetic).
struct Rsa2048 {
    pair: ring::rsa::KeyPair,
    public: JwsPublicKey,
}

impl Material for Rsa2048 {
    const ALGORITHM: &'static str = "rsa-2048";

    fn generate() -> Result<Zeroizing<Vec<u8>>, KeysError> {
        use rsa::pkcs8::EncodePrivateKey as _;
        let key = rsa::RsaPrivateKey::new(&mut rand_rsa::rng(), 2048)
            .map_err(|e| KeysError::Unavailable(format!("RSA key generation: {e}")))?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeysError::Unavailable(format!("RSA key encoding: {e}")))?;
        Ok(Zeroizing::new(der.as_bytes().to_vec()))
    }

    fn from_secret(secret: &[u8]) -> Result<Self, String> {
        let pair = ring::rsa::KeyPair::from_pkcs8(secret)
            .map_err(|e| format!("not an RSA PKCS#8 key: {e}"))?;
        if pair.public().modulus_len() != 256 {
            return Err("RSA key is not 2048 bits".into());
        }
        let parts = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        Ok(Self {
            public: JwsPublicKey::Rsa {
                n: parts.n,
                e: parts.e,
            },
            pair,
        })
    }
}

impl JwsMaterial for Rsa2048 {
    const JWS: JwsAlgorithm = JwsAlgorithm::Rs256;

    fn public(&self) -> JwsPublicKey {
        self.public.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeysError> {
        let mut signature = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| KeysError::Unavailable("RSA signing failed".into()))?;
        Ok(signature)
    }
}

/// XChaCha20-Poly1305 key (the cipher zeroizes its key on drop).
struct XChaCha(XChaCha20Poly1305);

impl Material for XChaCha {
    const ALGORITHM: &'static str = "xchacha20poly1305";
    fn from_secret(secret: &[u8]) -> Result<Self, String> {
        Ok(Self(XChaCha20Poly1305::new((&*seed32(secret)?).into())))
    }
}

#[allow(clippy::struct_field_names)] // `version.version` reads as intended here
struct Version<M> {
    version: u32,
    created_at: OffsetDateTime,
    key: M,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    algorithm: String,
    name: String,
    versions: Vec<KeyFileVersion>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileVersion {
    version: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    secret: String,
}

impl Drop for KeyFileVersion {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl KeyFileVersion {
    fn generate<M: Material>(version: u32) -> Result<Self, KeysError> {
        let secret = M::generate()?;
        Ok(Self {
            version,
            // Whole seconds: the value is shown to verifiers and needs no more.
            created_at: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or_else(|_| OffsetDateTime::now_utc()),
            secret: URL_SAFE_NO_PAD.encode(secret.as_slice()),
        })
    }

    fn key<M: Material>(&self) -> Result<M, KeysError> {
        let bad = |why: String| KeysError::Corrupt(format!("version {}: {why}", self.version));
        let raw = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(self.secret.as_bytes())
                .map_err(|_| bad("bad base64".into()))?,
        );
        M::from_secret(&raw).map_err(bad)
    }
}

// ---------------------------------------------------------------------------------------
// Key ring: one key file, all its versions

struct KeyRing<M> {
    name: String,
    path: PathBuf,
    versions: RwLock<Arc<Vec<Version<M>>>>,
    /// Serializes writers of the file within this process.
    write: Mutex<()>,
    last_reload: Mutex<Option<Instant>>,
}

impl<M> std::fmt::Debug for KeyRing<M>
where
    M: Material,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.snapshot().len();
        f.debug_struct("KeyRing")
            .field("name", &self.name)
            .field("algorithm", &M::ALGORITHM)
            .field("path", &self.path)
            .field("versions", &n)
            .finish_non_exhaustive()
    }
}

fn lock_poisoned() -> KeysError {
    KeysError::Unavailable("key ring lock poisoned".into())
}

impl<M: Material> KeyRing<M> {
    /// Opens the key file, creating it with version 1 when missing.
    fn open(dir: &Path, name: &str) -> Result<Self, KeysError> {
        validate_name(name)?;
        let path = dir.join(format!("{name}.{}.json", M::ALGORITHM));
        let ring = Self {
            name: name.to_owned(),
            path,
            versions: RwLock::new(Arc::new(Vec::new())),
            write: Mutex::new(()),
            last_reload: Mutex::new(None),
        };
        let guard = ring.write.lock().map_err(|_| lock_poisoned())?;
        let file = if let Some(file) = ring.read_file()? {
            file
        } else {
            let file = KeyFile {
                format: FORMAT.into(),
                algorithm: M::ALGORITHM.into(),
                name: name.to_owned(),
                versions: vec![KeyFileVersion::generate::<M>(1)?],
            };
            ring.write_file(&file)?;
            tracing::info!(key = name, algorithm = M::ALGORITHM, "created local key");
            file
        };
        ring.install(&file)?;
        drop(guard);
        Ok(ring)
    }

    fn read_file(&self) -> Result<Option<KeyFile>, KeysError> {
        let Some(bytes) = read_private_file(&self.path)?.map(Zeroizing::new) else {
            return Ok(None);
        };
        let file: KeyFile = serde_json::from_slice(&bytes)
            .map_err(|e| KeysError::Corrupt(format!("{}: {e}", self.path.display())))?;
        let bad = |why: String| KeysError::Corrupt(format!("{}: {why}", self.path.display()));
        if file.format != FORMAT {
            return Err(bad(format!("unknown format {:?}", file.format)));
        }
        if file.algorithm != M::ALGORITHM {
            return Err(bad(format!(
                "algorithm {:?}, expected {}",
                file.algorithm,
                M::ALGORITHM
            )));
        }
        if file.name != self.name {
            return Err(bad(format!(
                "holds key {:?}, expected {:?}",
                file.name, self.name
            )));
        }
        if file.versions.is_empty() {
            return Err(bad("no key versions".into()));
        }
        for (i, v) in file.versions.iter().enumerate() {
            if usize::try_from(v.version).ok() != Some(i + 1) {
                return Err(bad("versions are not 1, 2, 3...".into()));
            }
        }
        Ok(Some(file))
    }

    fn write_file(&self, file: &KeyFile) -> Result<(), KeysError> {
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(file).map_err(|e| KeysError::Corrupt(e.to_string()))?,
        );
        write_atomic(&self.path, &json)
    }

    /// Builds the in-memory versions from a parsed file and makes them current.
    fn install(&self, file: &KeyFile) -> Result<Arc<Vec<Version<M>>>, KeysError> {
        let versions = file
            .versions
            .iter()
            .map(|v| {
                Ok(Version {
                    version: v.version,
                    created_at: v.created_at,
                    key: v.key::<M>()?,
                })
            })
            .collect::<Result<Vec<_>, KeysError>>()?;
        let versions = Arc::new(versions);
        *self.versions.write().map_err(|_| lock_poisoned())? = Arc::clone(&versions);
        Ok(versions)
    }

    fn snapshot(&self) -> Arc<Vec<Version<M>>> {
        match self.versions.read() {
            Ok(v) => Arc::clone(&v),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Rereads the file (rotations by another process become visible).
    fn reload(&self) -> Result<Arc<Vec<Version<M>>>, KeysError> {
        let file = self
            .read_file()?
            .ok_or_else(|| KeysError::Corrupt(format!("{} disappeared", self.path.display())))?;
        if let Ok(mut t) = self.last_reload.lock() {
            *t = Some(Instant::now());
        }
        self.install(&file)
    }

    /// The versions, rereading the file when `version` is newer than any loaded one
    /// (and the last reread is older than [`RELOAD_COOLDOWN`]).
    fn with_version(&self, version: u32) -> Result<Arc<Vec<Version<M>>>, KeysError> {
        let snap = self.snapshot();
        let latest = snap.last().map_or(0, |v| v.version);
        if version <= latest {
            return Ok(snap);
        }
        let due = self
            .last_reload
            .lock()
            .is_ok_and(|t| t.is_none_or(|t| t.elapsed() >= RELOAD_COOLDOWN));
        if due { self.reload() } else { Ok(snap) }
    }

    /// Appends a fresh version to the file (read, append, atomic write) and loads it.
    fn rotate(&self) -> Result<Arc<Vec<Version<M>>>, KeysError> {
        let _guard = self.write.lock().map_err(|_| lock_poisoned())?;
        let mut file = self
            .read_file()?
            .ok_or_else(|| KeysError::Corrupt(format!("{} disappeared", self.path.display())))?;
        let next = file
            .versions
            .last()
            .map_or(Some(1), |v| v.version.checked_add(1))
            .ok_or_else(|| KeysError::Corrupt("key version overflow".into()))?;
        file.versions.push(KeyFileVersion::generate::<M>(next)?);
        self.write_file(&file)?;
        tracing::info!(key = %self.name, algorithm = M::ALGORITHM, version = next, "rotated local key");
        self.install(&file)
    }
}

fn find<M>(versions: &[Version<M>], version: u32) -> Option<&Version<M>> {
    let idx = usize::try_from(version.checked_sub(1)?).ok()?;
    versions.get(idx).filter(|v| v.version == version)
}

/// Runs blocking file work off the async workers.
async fn blocking<T, F>(f: F) -> Result<T, KeysError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, KeysError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KeysError::Unavailable(format!("blocking task failed: {e}")))?
}

// ---------------------------------------------------------------------------------------
// JWS signers (ES256, RS256): their key files are created on first use, so services that never
// ask for them (genesis) get no such keys.

struct LocalJwsSigner<M> {
    dir: PathBuf,
    name: String,
    ring: tokio::sync::OnceCell<Arc<KeyRing<M>>>,
}

impl<M: JwsMaterial> std::fmt::Debug for LocalJwsSigner<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalJwsSigner")
            .field("algorithm", &M::JWS)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<M: JwsMaterial> LocalJwsSigner<M> {
    fn new(dir: PathBuf, name: String) -> Self {
        Self {
            dir,
            name,
            ring: tokio::sync::OnceCell::new(),
        }
    }

    async fn ring(&self) -> Result<Arc<KeyRing<M>>, KeysError> {
        self.ring
            .get_or_try_init(|| {
                let (dir, name) = (self.dir.clone(), self.name.clone());
                async move { blocking(move || KeyRing::<M>::open(&dir, &name).map(Arc::new)).await }
            })
            .await
            .cloned()
    }
}

fn jws_public_versions<M: JwsMaterial>(versions: &[Version<M>]) -> Vec<JwsKeyVersion> {
    versions
        .iter()
        .map(|v| JwsKeyVersion {
            version: v.version,
            public: v.key.public(),
            created_at: v.created_at,
        })
        .collect()
}

#[async_trait::async_trait]
impl<M: JwsMaterial> JwsSigner for LocalJwsSigner<M> {
    fn algorithm(&self) -> JwsAlgorithm {
        M::JWS
    }

    async fn versions(&self) -> Result<Vec<JwsKeyVersion>, KeysError> {
        let ring = self.ring().await?;
        let versions = blocking(move || ring.reload()).await?;
        Ok(jws_public_versions(&versions))
    }

    async fn sign(&self, version: u32, message: &[u8]) -> Result<Vec<u8>, KeysError> {
        let ring = self.ring().await?;
        let versions = if version > ring.snapshot().last().map_or(0, |v| v.version) {
            blocking(move || ring.with_version(version)).await?
        } else {
            ring.snapshot()
        };
        let v = find(&versions, version).ok_or_else(|| {
            KeysError::NotFound(format!("{} key version {version}", M::JWS.jose_name()))
        })?;
        v.key.sign(message)
    }

    async fn rotate(&self) -> Result<JwsKeyVersion, KeysError> {
        let ring = self.ring().await?;
        let versions = blocking(move || ring.rotate()).await?;
        jws_public_versions(&versions)
            .pop()
            .ok_or_else(|| KeysError::Corrupt("no key versions after rotation".into()))
    }
}

// ---------------------------------------------------------------------------------------
// Signer

#[derive(Debug)]
struct LocalSigner {
    ring: Arc<KeyRing<Ed25519>>,
}

fn public_versions(versions: &[Version<Ed25519>]) -> Vec<VerifyingKeyVersion> {
    versions
        .iter()
        .map(|v| VerifyingKeyVersion {
            version: v.version,
            public_key: v.key.0.verifying_key().to_bytes(),
            created_at: v.created_at,
        })
        .collect()
}

#[async_trait::async_trait]
impl Signer for LocalSigner {
    async fn versions(&self) -> Result<Vec<VerifyingKeyVersion>, KeysError> {
        let ring = Arc::clone(&self.ring);
        let versions = blocking(move || ring.reload()).await?;
        Ok(public_versions(&versions))
    }

    async fn sign(&self, version: u32, message: &[u8]) -> Result<[u8; 64], KeysError> {
        let versions = if version > self.ring.snapshot().last().map_or(0, |v| v.version) {
            let ring = Arc::clone(&self.ring);
            blocking(move || ring.with_version(version)).await?
        } else {
            self.ring.snapshot()
        };
        let v = find(&versions, version)
            .ok_or_else(|| KeysError::NotFound(format!("signing key version {version}")))?;
        Ok(v.key.0.sign(message).to_bytes())
    }

    async fn rotate(&self) -> Result<VerifyingKeyVersion, KeysError> {
        let ring = Arc::clone(&self.ring);
        let versions = blocking(move || ring.rotate()).await?;
        public_versions(&versions)
            .pop()
            .ok_or_else(|| KeysError::Corrupt("no key versions after rotation".into()))
    }
}

// ---------------------------------------------------------------------------------------
// Cipher

#[derive(Debug)]
struct LocalCipher {
    ring: Arc<KeyRing<XChaCha>>,
}

/// Splits `local:v<N>:<base64url>` into the version and the decoded bytes.
fn parse_ciphertext(text: &str) -> Option<(u32, Vec<u8>)> {
    let rest = text.strip_prefix(CT_PREFIX)?;
    let (ver, b64) = rest.split_once(':')?;
    // Strict decimal: digits only, no sign, no leading zero.
    if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit()) || ver.starts_with('0') {
        return None;
    }
    let version: u32 = ver.parse().ok()?;
    let raw = URL_SAFE_NO_PAD.decode(b64.as_bytes()).ok()?;
    (raw.len() >= NONCE_LEN + TAG_LEN).then_some((version, raw))
}

#[async_trait::async_trait]
impl Cipher for LocalCipher {
    async fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, KeysError> {
        let versions = self.ring.snapshot();
        let v = versions
            .last()
            .ok_or_else(|| KeysError::Corrupt("no encryption key version".into()))?;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = v
            .key
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| KeysError::Corrupt("encryption failed".into()))?;
        let mut raw = Vec::with_capacity(NONCE_LEN + ct.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        Ok(format!(
            "{CT_PREFIX}{}:{}",
            v.version,
            URL_SAFE_NO_PAD.encode(raw)
        ))
    }

    async fn decrypt(&self, ciphertext: &str, aad: &[u8]) -> Result<Vec<u8>, KeysError> {
        let (version, raw) = parse_ciphertext(ciphertext).ok_or(KeysError::Decrypt)?;
        let versions = if version > self.ring.snapshot().last().map_or(0, |v| v.version) {
            let ring = Arc::clone(&self.ring);
            blocking(move || ring.with_version(version)).await?
        } else {
            self.ring.snapshot()
        };
        let v = find(&versions, version)
            .ok_or_else(|| KeysError::NotFound(format!("encryption key version {version}")))?;
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        v.key
            .0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| KeysError::Decrypt)
    }
}

// ---------------------------------------------------------------------------------------
// Secret store

#[derive(Debug)]
struct LocalSecrets {
    dir: PathBuf,
}

#[async_trait::async_trait]
impl SecretStore for LocalSecrets {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeysError> {
        validate_name(name)?;
        let path = self.dir.join(name);
        blocking(move || read_private_file(&path)).await
    }

    async fn put(&self, name: &str, value: &[u8]) -> Result<(), KeysError> {
        validate_name(name)?;
        let path = self.dir.join(name);
        let value = Zeroizing::new(value.to_vec());
        blocking(move || write_atomic(&path, &value)).await
    }
}

// ---------------------------------------------------------------------------------------
// Probe and assembly

#[derive(Debug)]
struct LocalProbe {
    signing: Arc<KeyRing<Ed25519>>,
    encryption: Arc<KeyRing<XChaCha>>,
    secrets_dir: PathBuf,
}

#[async_trait::async_trait]
impl Probe for LocalProbe {
    async fn check(&self) -> Result<(), KeysError> {
        let signing = Arc::clone(&self.signing);
        let encryption = Arc::clone(&self.encryption);
        let secrets_dir = self.secrets_dir.clone();
        blocking(move || {
            signing.reload()?;
            encryption.reload()?;
            std::fs::read_dir(&secrets_dir)?;
            Ok(())
        })
        .await
    }
}

pub(crate) struct LocalBackend {
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) cipher: Arc<dyn Cipher>,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) probe: Arc<dyn Probe>,
    pub(crate) jws: Vec<Arc<dyn JwsSigner>>,
}

impl LocalBackend {
    pub(crate) async fn open(cfg: LocalConfig) -> Result<Self, KeysError> {
        validate_name(&cfg.signing_key)?;
        validate_name(&cfg.encryption_key)?;
        blocking(move || {
            ensure_private_dir(&cfg.dir)?;
            let secrets_dir = cfg.dir.join("secrets");
            ensure_private_dir(&secrets_dir)?;
            let signing = Arc::new(KeyRing::<Ed25519>::open(&cfg.dir, &cfg.signing_key)?);
            let encryption = Arc::new(KeyRing::<XChaCha>::open(&cfg.dir, &cfg.encryption_key)?);
            Ok(Self {
                jws: vec![
                    Arc::new(LocalJwsSigner::<P256>::new(
                        cfg.dir.clone(),
                        cfg.signing_key.clone(),
                    )),
                    Arc::new(LocalJwsSigner::<Rsa2048>::new(
                        cfg.dir.clone(),
                        cfg.signing_key.clone(),
                    )),
                ],
                signer: Arc::new(LocalSigner {
                    ring: Arc::clone(&signing),
                }),
                cipher: Arc::new(LocalCipher {
                    ring: Arc::clone(&encryption),
                }),
                secrets: Arc::new(LocalSecrets {
                    dir: secrets_dir.clone(),
                }),
                probe: Arc::new(LocalProbe {
                    signing,
                    encryption,
                    secrets_dir,
                }),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertext_parsing_is_strict() {
        let body = URL_SAFE_NO_PAD.encode([0u8; NONCE_LEN + TAG_LEN]);
        assert_eq!(
            parse_ciphertext(&format!("local:v1:{body}")).map(|p| p.0),
            Some(1)
        );
        assert_eq!(
            parse_ciphertext(&format!("local:v12:{body}")).map(|p| p.0),
            Some(12)
        );
        for bad in [
            format!("local:v01:{body}"),
            format!("local:v0:{body}"),
            format!("local:v+1:{body}"),
            format!("local:v:{body}"),
            format!("local:v99999999999:{body}"),
            format!("vault:v1:{body}"),
            format!("local:v1:{body}="),
            format!(
                "local:v1:{}",
                URL_SAFE_NO_PAD.encode([0u8; NONCE_LEN + TAG_LEN - 1])
            ),
            "local:v1".to_owned(),
        ] {
            assert!(parse_ciphertext(&bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn jws_keys_are_made_on_first_use_sign_verifiably_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::open(LocalConfig {
            dir: dir.path().join("k"),
            signing_key: "oidc".into(),
            encryption_key: "data".into(),
        })
        .await
        .unwrap();
        let algorithms: Vec<_> = backend.jws.iter().map(|s| s.algorithm()).collect();
        assert_eq!(algorithms, JwsAlgorithm::ALL);
        for (signer, file) in backend.jws.iter().zip(["ecdsa-p256", "rsa-2048"]) {
            let file = dir.path().join(format!("k/oidc.{file}.json"));
            assert!(!file.exists(), "no key until one is asked for");
            let v1 = signer.versions().await.unwrap();
            assert_eq!(v1.len(), 1);
            assert!(file.exists());
            assert_eq!(v1[0].public.algorithm(), signer.algorithm());
            let signature = signer.sign(1, b"message").await.unwrap();
            let expected_len = match &v1[0].public {
                JwsPublicKey::P256 { .. } => 64,
                JwsPublicKey::Rsa { n, e } => {
                    assert_eq!((n.len(), e.as_slice()), (256, &[1, 0, 1][..]));
                    256
                }
            };
            assert_eq!(signature.len(), expected_len);
            assert!(v1[0].public.verify(b"message", &signature));
            assert!(!v1[0].public.verify(b"other", &signature));
            assert!(matches!(
                signer.sign(2, b"m").await,
                Err(KeysError::NotFound(_))
            ));
            let v2 = signer.rotate().await.unwrap();
            assert_eq!(v2.version, 2);
            assert_ne!(v2.public, v1[0].public);
            let signature = signer.sign(2, b"m").await.unwrap();
            assert!(v2.public.verify(b"m", &signature));
            assert!(!v1[0].public.verify(b"m", &signature));
            // Another process (a restart) reads the same versions back from the file.
            let reopened = LocalBackend::open(LocalConfig {
                dir: dir.path().join("k"),
                signing_key: "oidc".into(),
                encryption_key: "data".into(),
            })
            .await
            .unwrap();
            let again = reopened
                .jws
                .iter()
                .find(|s| s.algorithm() == signer.algorithm())
                .unwrap();
            assert_eq!(
                again.versions().await.unwrap(),
                signer.versions().await.unwrap()
            );
        }
    }
}
