//! Vault / OpenBao backend: Transit for signing and encryption, KV v2 for secrets.
//!
//! Every call is a `vaultrs` API function run through [`client::VaultClient::call`]:
//! one `reqwest` transport (TCP or Vault Agent Unix socket) under vaultrs, one timeout,
//! one error mapping, one 403 handling (AppRole: log in again and retry once).

mod client;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use vaultrs::api::transit::requests::{DecryptDataRequest, EncryptDataRequest, SignDataRequest};
use vaultrs::api::transit::responses::{ReadKeyData, ReadKeyResponse};
use vaultrs::api::transit::{HashAlgorithm, KeyType, MarshalingAlgorithm, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::names::validate_name;
use crate::{
    Cipher, JwsAlgorithm, JwsKeyVersion, JwsPublicKey, JwsSigner, KeysError, Probe, SecretStore,
    Signer, VerifyingKeyVersion,
};
use client::VaultClient;

/// Default deadline of one Vault call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the backend authenticates to Vault.
#[derive(Clone)]
pub enum VaultAuth {
    /// AppRole login (`POST auth/<mount>/login`); the token is renewed in the background
    /// (`auth/token/renew-self`), and replaced by a new login when it is not renewable,
    /// when renewal fails, or when Vault answers 403.
    AppRole {
        /// Mount path of the AppRole auth method, usually `approle`.
        mount: String,
        /// The role id.
        role_id: String,
        /// The secret id (redacted by `Debug`).
        secret_id: String,
    },
    /// A Vault Agent (usually at `unix:///.../agent.sock`, `use_auto_auth_token = true`)
    /// injects the token; requests carry no `X-Vault-Token`.
    Agent,
}

impl std::fmt::Debug for VaultAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AppRole { mount, role_id, .. } => f
                .debug_struct("AppRole")
                .field("mount", mount)
                .field("role_id", role_id)
                .field("secret_id", &"<redacted>")
                .finish(),
            Self::Agent => f.write_str("Agent"),
        }
    }
}

/// Settings of the Vault backend. `Debug` redacts the AppRole secret id.
///
/// TLS: `https://` addresses are verified (rustls, ring) against the system trust
/// store (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured), so a private CA is added
/// there. No `VAULT_*` environment variable is read: everything comes from here.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// `https://vault:8200`, `http://127.0.0.1:8100`, or `unix:///path/agent.sock`.
    pub addr: String,
    /// How to authenticate.
    pub auth: VaultAuth,
    /// Mount path of the Transit engine, usually `transit`.
    pub transit_mount: String,
    /// Transit key of type `ed25519` used by [`Signer`].
    pub signing_key: String,
    /// Transit key of type `chacha20-poly1305` used by [`Cipher`].
    pub encryption_key: String,
    /// Mount path of the KV v2 engine, usually `secret`.
    pub kv_mount: String,
    /// Path prefix under the KV mount for [`SecretStore`] names (may be empty).
    pub kv_prefix: String,
    /// Deadline of every HTTP call to Vault (connect included); e.g. [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Transit keys for [`JwsSigner`]s, at most one per algorithm: ES256 needs type
    /// `ecdsa-p256`, RS256 `rsa-2048`, `rsa-3072` or `rsa-4096`. Algorithms not listed are not
    /// offered.
    pub jws_keys: Vec<(JwsAlgorithm, String)>,
}

/// Checks a mount path or prefix: `/`-separated segments that are valid names.
fn validate_path(what: &str, path: &str, allow_empty: bool) -> Result<String, KeysError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return if allow_empty {
            Ok(String::new())
        } else {
            Err(KeysError::Config(format!("{what} is empty")))
        };
    }
    for seg in trimmed.split('/') {
        validate_name(seg).map_err(|e| KeysError::Config(format!("{what}: {e}")))?;
    }
    Ok(trimmed.to_owned())
}

/// Splits Vault's `vault:v<N>:<payload>`.
fn split_vault_prefixed(s: &str) -> Option<(u32, &str)> {
    let rest = s.strip_prefix("vault:v")?;
    let (ver, payload) = rest.split_once(':')?;
    if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit()) || ver.starts_with('0') {
        return None;
    }
    Some((ver.parse().ok()?, payload))
}

#[derive(Debug)]
struct Transit {
    client: Arc<VaultClient>,
    mount: String,
    signing_key: String,
    encryption_key: String,
}

/// The `type` Transit reports, as Vault spells it.
fn key_type_name(t: KeyType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{t:?}"))
}

impl Transit {
    /// `vaultrs::transit::key::read`, checking the key type is one of `expected`.
    async fn read_key(
        &self,
        key: &str,
        expected: &[KeyType],
    ) -> Result<ReadKeyResponse, KeysError> {
        let mount = self.mount.as_str();
        let what = format!("{mount}/keys/{key}");
        let info = self
            .client
            .call(&what, |api| async move {
                vaultrs::transit::key::read(api.as_ref(), mount, key).await
            })
            .await?;
        let got = key_type_name(info.key_type);
        let want: Vec<String> = expected.iter().map(|t| key_type_name(*t)).collect();
        if !want.contains(&got) {
            return Err(KeysError::Config(format!(
                "Transit key {key:?} has type {got:?}, expected {}",
                want.join(" or ")
            )));
        }
        Ok(info)
    }
}

impl Transit {
    /// Every version of an asymmetric key (of one of `types`): its public key as `public`
    /// reads Vault's `public_key`, and its creation time; oldest first.
    async fn public_versions<T>(
        &self,
        key: &str,
        types: &[KeyType],
        public: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<(u32, T, OffsetDateTime)>, KeysError> {
        let info = self.read_key(key, types).await?;
        let ReadKeyData::Asymmetric(keys) = info.keys else {
            return Err(KeysError::Corrupt(
                "Vault answer: data.keys holds no public keys".into(),
            ));
        };
        let mut out = Vec::with_capacity(keys.len());
        for (ver, entry) in keys {
            let version: u32 = ver
                .parse()
                .map_err(|_| KeysError::Corrupt(format!("Vault key version {ver:?}")))?;
            let key = public(&entry.public_key)
                .ok_or_else(|| KeysError::Corrupt(format!("version {version}: public key")))?;
            let created_at = OffsetDateTime::parse(
                &entry.creation_time,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|e| KeysError::Corrupt(format!("version {version}: creation_time: {e}")))?;
            out.push((version, key, created_at));
        }
        out.sort_by_key(|v| v.0);
        Ok(out)
    }

    /// `transit/sign/<key>` with exactly `version` and the options `set` adds; the signature
    /// text after its `vault:v<N>:` prefix.
    async fn sign_with(
        &self,
        key: &str,
        version: u32,
        message: &[u8],
        set: impl Fn(&mut vaultrs::api::transit::requests::SignDataRequestBuilder) + Sync,
    ) -> Result<String, KeysError> {
        if version == 0 {
            return Err(KeysError::NotFound("signing key version 0".into()));
        }
        let mount = self.mount.as_str();
        let input = STANDARD.encode(message);
        let (input, set) = (input.as_str(), &set);
        let answer = self
            .client
            .call(&format!("{mount}/sign/{key}"), |api| async move {
                let mut opts = SignDataRequest::builder();
                opts.key_version(u64::from(version));
                set(&mut opts);
                vaultrs::transit::data::sign(api.as_ref(), mount, key, input, Some(&mut opts)).await
            })
            .await?;
        let (got, encoded) = split_vault_prefixed(&answer.signature)
            .ok_or_else(|| KeysError::Corrupt("Vault signature lacks vault:v<N>: prefix".into()))?;
        if got != version {
            // Fail closed: a signature by another version is useless to verifiers.
            return Err(KeysError::Corrupt(format!(
                "Vault signed with version {got}, requested {version}"
            )));
        }
        Ok(encoded.to_owned())
    }

    /// `transit/keys/<key>/rotate`.
    async fn rotate_key(&self, key: &str) -> Result<(), KeysError> {
        let mount = self.mount.as_str();
        self.client
            .call(&format!("{mount}/keys/{key}/rotate"), |api| async move {
                vaultrs::transit::key::rotate(api.as_ref(), mount, key).await
            })
            .await?;
        Ok(())
    }
}

fn newest<T>(mut versions: Vec<T>) -> Result<T, KeysError> {
    versions
        .pop()
        .ok_or_else(|| KeysError::Corrupt("Vault key has no versions after rotation".into()))
}

#[async_trait::async_trait]
impl Signer for Transit {
    async fn versions(&self) -> Result<Vec<VerifyingKeyVersion>, KeysError> {
        let raw = |b64: &str| STANDARD.decode(b64).ok()?.try_into().ok();
        let versions = self
            .public_versions(&self.signing_key, &[KeyType::Ed25519], raw)
            .await?;
        Ok(versions
            .into_iter()
            .map(|(version, public_key, created_at)| VerifyingKeyVersion {
                version,
                public_key,
                created_at,
            })
            .collect())
    }

    async fn sign(&self, version: u32, message: &[u8]) -> Result<[u8; 64], KeysError> {
        let encoded = self
            .sign_with(&self.signing_key, version, message, |_| {})
            .await?;
        STANDARD
            .decode(encoded)
            .map_err(|_| KeysError::Corrupt("Vault signature base64".into()))?
            .try_into()
            .map_err(|_| KeysError::Corrupt("Vault signature is not 64 bytes".into()))
    }

    async fn rotate(&self) -> Result<VerifyingKeyVersion, KeysError> {
        self.rotate_key(&self.signing_key).await?;
        newest(Signer::versions(self).await?)
    }
}

#[async_trait::async_trait]
impl Cipher for Transit {
    async fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, KeysError> {
        let (mount, key) = (self.mount.as_str(), self.encryption_key.as_str());
        let plaintext_b64 = Zeroizing::new(STANDARD.encode(plaintext));
        let (pt, aad) = (plaintext_b64.as_str(), STANDARD.encode(aad));
        let aad = aad.as_str();
        let answer = self
            .client
            .call(&format!("{mount}/encrypt/{key}"), |api| async move {
                let mut opts = EncryptDataRequest::builder();
                opts.associated_data(aad);
                vaultrs::transit::data::encrypt(api.as_ref(), mount, key, pt, Some(&mut opts)).await
            })
            .await?;
        if split_vault_prefixed(&answer.ciphertext).is_none() {
            return Err(KeysError::Corrupt(
                "Vault ciphertext lacks vault:v<N>: prefix".into(),
            ));
        }
        Ok(answer.ciphertext)
    }

    async fn decrypt(&self, ciphertext: &str, aad: &[u8]) -> Result<Vec<u8>, KeysError> {
        if split_vault_prefixed(ciphertext).is_none() {
            return Err(KeysError::Decrypt);
        }
        let (mount, key) = (self.mount.as_str(), self.encryption_key.as_str());
        let aad = STANDARD.encode(aad);
        let aad = aad.as_str();
        let answer = self
            .client
            .call(&format!("{mount}/decrypt/{key}"), |api| async move {
                let mut opts = DecryptDataRequest::builder();
                opts.associated_data(aad);
                vaultrs::transit::data::decrypt(
                    api.as_ref(),
                    mount,
                    key,
                    ciphertext,
                    Some(&mut opts),
                )
                .await
            })
            .await
            .map_err(|e| match e {
                // Vault answers 400 for a tampered ciphertext or a wrong aad.
                KeysError::Rejected(_) => KeysError::Decrypt,
                other => other,
            })?;
        let plaintext_b64 = Zeroizing::new(answer.plaintext);
        STANDARD
            .decode(plaintext_b64.as_str())
            .map_err(|_| KeysError::Corrupt("Vault plaintext base64".into()))
    }
}

/// A Transit key signing JWS with one algorithm: ES256 asks Vault for the JWS marshaling of
/// ECDSA (`r || s`, base64url), RS256 for PKCS#1 v1.5 (Vault's RSA default is PSS); both hash
/// with SHA-256 in Vault.
#[derive(Debug)]
struct TransitJws {
    transit: Arc<Transit>,
    key: String,
    algorithm: JwsAlgorithm,
}

/// The DER inside a PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix(&format!("-----BEGIN {label}-----"))?
        .strip_suffix(&format!("-----END {label}-----"))?;
    let body: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(body).ok()
}

/// A public key from Vault's `public_key` (a PEM `PUBLIC KEY`, PKIX) for `algorithm`.
fn jws_public_key(algorithm: JwsAlgorithm, pem: &str) -> Option<JwsPublicKey> {
    let der = pem_body(pem, "PUBLIC KEY")?;
    match algorithm {
        JwsAlgorithm::Es256 => {
            use p256::pkcs8::DecodePublicKey as _;
            let key = p256::PublicKey::from_public_key_der(&der).ok()?;
            let point = p256::ecdsa::VerifyingKey::from(&key).to_sec1_point(false);
            let bytes = point.as_bytes();
            let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
            x.copy_from_slice(bytes.get(1..33)?);
            y.copy_from_slice(bytes.get(33..65)?);
            Some(JwsPublicKey::P256 { x, y })
        }
        JwsAlgorithm::Rs256 => {
            use rsa::pkcs8::DecodePublicKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPublicKey::from_public_key_der(&der).ok()?;
            Some(JwsPublicKey::Rsa {
                n: key.n().to_be_bytes_trimmed_vartime().into_vec(),
                e: key.e().to_be_bytes_trimmed_vartime().into_vec(),
            })
        }
    }
}

impl TransitJws {
    fn key_types(&self) -> &'static [KeyType] {
        match self.algorithm {
            JwsAlgorithm::Es256 => &[KeyType::EcdsaP256],
            JwsAlgorithm::Rs256 => &[KeyType::Rsa2048, KeyType::Rsa3072, KeyType::Rsa4096],
        }
    }
}

#[async_trait::async_trait]
impl JwsSigner for TransitJws {
    fn algorithm(&self) -> JwsAlgorithm {
        self.algorithm
    }

    async fn versions(&self) -> Result<Vec<JwsKeyVersion>, KeysError> {
        let versions = self
            .transit
            .public_versions(&self.key, self.key_types(), |pem| {
                jws_public_key(self.algorithm, pem)
            })
            .await?;
        Ok(versions
            .into_iter()
            .map(|(version, public, created_at)| JwsKeyVersion {
                version,
                public,
                created_at,
            })
            .collect())
    }

    async fn sign(&self, version: u32, message: &[u8]) -> Result<Vec<u8>, KeysError> {
        let algorithm = self.algorithm;
        let encoded = self
            .transit
            .sign_with(&self.key, version, message, |opts| {
                opts.hash_algorithm(HashAlgorithm::Sha2_256);
                match algorithm {
                    JwsAlgorithm::Es256 => opts.marshaling_algorithm(MarshalingAlgorithm::Jws),
                    JwsAlgorithm::Rs256 => opts.signature_algorithm(SignatureAlgorithm::Pkcs1v15),
                };
            })
            .await?;
        // JWS marshaling switches Vault to unpadded base64url.
        let raw = match algorithm {
            JwsAlgorithm::Es256 => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('=')),
            JwsAlgorithm::Rs256 => STANDARD.decode(encoded),
        }
        .map_err(|_| KeysError::Corrupt("Vault signature encoding".into()))?;
        if algorithm == JwsAlgorithm::Es256 && raw.len() != 64 {
            return Err(KeysError::Corrupt(
                "Vault ES256 signature is not r || s".into(),
            ));
        }
        Ok(raw)
    }

    async fn rotate(&self) -> Result<JwsKeyVersion, KeysError> {
        self.transit.rotate_key(&self.key).await?;
        newest(self.versions().await?)
    }
}

/// What a [`SecretStore`] value looks like in KV v2: `{"value": "<base64>"}`.
#[derive(Serialize, Deserialize)]
struct KvValue {
    value: String,
}

impl Drop for KvValue {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

#[derive(Debug)]
struct Kv {
    client: Arc<VaultClient>,
    mount: String,
    prefix: String,
}

impl Kv {
    /// The secret's path under the KV mount (vaultrs adds `data/`).
    fn path(&self, name: &str) -> Result<String, KeysError> {
        validate_name(name)?;
        Ok(if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        })
    }
}

#[async_trait::async_trait]
impl SecretStore for Kv {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeysError> {
        let path = self.path(name)?;
        let (mount, p) = (self.mount.as_str(), path.as_str());
        // A soft-deleted version has `data.data: null`, read as `None`.
        let answer = match self
            .client
            .call(&format!("{mount}/data/{p}"), |api| async move {
                vaultrs::kv2::read::<Option<KvValue>>(api.as_ref(), mount, p).await
            })
            .await
        {
            Ok(a) => a,
            Err(KeysError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(data) = answer else {
            return Ok(None);
        };
        STANDARD
            .decode(&data.value)
            .map(Some)
            .map_err(|_| KeysError::Corrupt(format!("KV secret {name:?}: value base64")))
    }

    async fn put(&self, name: &str, value: &[u8]) -> Result<(), KeysError> {
        let path = self.path(name)?;
        let (mount, p) = (self.mount.as_str(), path.as_str());
        let data = KvValue {
            value: STANDARD.encode(value),
        };
        let data = &data;
        self.client
            .call(&format!("{mount}/data/{p}"), |api| async move {
                vaultrs::kv2::set(api.as_ref(), mount, p, data).await
            })
            .await?;
        Ok(())
    }
}

#[derive(Debug)]
struct VaultProbe {
    transit: Arc<Transit>,
    jws: Vec<Arc<TransitJws>>,
}

#[async_trait::async_trait]
impl Probe for VaultProbe {
    async fn check(&self) -> Result<(), KeysError> {
        let t = &self.transit;
        tokio::try_join!(
            t.client.lookup_self(),
            t.read_key(&t.signing_key, &[KeyType::Ed25519]),
            t.read_key(&t.encryption_key, &[KeyType::Chacha20Poly1305]),
        )?;
        for jws in &self.jws {
            jws.versions().await?;
        }
        Ok(())
    }
}

pub(crate) struct VaultBackend {
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) cipher: Arc<dyn Cipher>,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) probe: Arc<dyn Probe>,
    pub(crate) tokens: Arc<dyn crate::TokenPolicies>,
    pub(crate) jws: Vec<Arc<dyn JwsSigner>>,
}

impl VaultBackend {
    pub(crate) async fn open(cfg: VaultConfig) -> Result<Self, KeysError> {
        let transit_mount = validate_path("transit_mount", &cfg.transit_mount, false)?;
        let kv_mount = validate_path("kv_mount", &cfg.kv_mount, false)?;
        let kv_prefix = validate_path("kv_prefix", &cfg.kv_prefix, true)?;
        validate_name(&cfg.signing_key)?;
        validate_name(&cfg.encryption_key)?;
        for (i, (alg, key)) in cfg.jws_keys.iter().enumerate() {
            validate_name(key)?;
            if cfg.jws_keys[..i].iter().any(|(a, _)| a == alg) {
                return Err(KeysError::Config(format!(
                    "two Transit keys for {}",
                    alg.jose_name()
                )));
            }
        }
        let client = VaultClient::connect(&cfg.addr, cfg.auth, cfg.timeout).await?;
        let transit = Arc::new(Transit {
            client: Arc::clone(&client),
            mount: transit_mount,
            signing_key: cfg.signing_key,
            encryption_key: cfg.encryption_key,
        });
        let jws: Vec<Arc<TransitJws>> = cfg
            .jws_keys
            .into_iter()
            .map(|(algorithm, key)| {
                Arc::new(TransitJws {
                    transit: Arc::clone(&transit),
                    key,
                    algorithm,
                })
            })
            .collect();
        Ok(Self {
            jws: jws
                .iter()
                .map(|j| Arc::clone(j) as Arc<dyn JwsSigner>)
                .collect(),
            signer: Arc::clone(&transit) as Arc<dyn Signer>,
            cipher: Arc::clone(&transit) as Arc<dyn Cipher>,
            tokens: Arc::clone(&client) as Arc<dyn crate::TokenPolicies>,
            secrets: Arc::new(Kv {
                client,
                mount: kv_mount,
                prefix: kv_prefix,
            }),
            probe: Arc::new(VaultProbe { transit, jws }),
        })
    }
}

/// Where the client connects.
#[derive(Debug, Clone)]
pub(crate) enum Endpoint {
    /// `http(s)://host:port`, requests to `<base>/v1/...`.
    Tcp(String),
    /// Vault Agent Unix socket.
    Unix(PathBuf),
}

impl Endpoint {
    pub(crate) fn parse(addr: &str) -> Result<Self, KeysError> {
        if let Some(path) = addr.strip_prefix("unix://") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(KeysError::Config(format!(
                    "Vault address {addr:?}: expected unix:///absolute/path"
                )));
            }
            return Ok(Self::Unix(path));
        }
        if (addr.starts_with("http://") || addr.starts_with("https://"))
            && !addr.contains(['?', '#', ' '])
        {
            return Ok(Self::Tcp(addr.trim_end_matches('/').to_owned()));
        }
        Err(KeysError::Config(format!(
            "Vault address {addr:?}: expected http://, https:// or unix:///"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secret_id() {
        let auth = VaultAuth::AppRole {
            mount: "approle".into(),
            role_id: "role-123".into(),
            secret_id: "s3cr3t-value".into(),
        };
        let dbg = format!("{auth:?}");
        assert!(!dbg.contains("s3cr3t-value"), "{dbg}");
        assert!(dbg.contains("role-123"));
    }

    #[test]
    fn endpoints_parse() {
        assert!(matches!(
            Endpoint::parse("unix:///run/agent.sock"),
            Ok(Endpoint::Unix(_))
        ));
        assert!(
            matches!(Endpoint::parse("https://vault:8200/"), Ok(Endpoint::Tcp(a)) if a == "https://vault:8200")
        );
        for bad in ["unix://rel.sock", "vault:8200", "ftp://x", "http://x?y=1"] {
            assert!(
                matches!(Endpoint::parse(bad), Err(KeysError::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn vault_prefix_is_strict() {
        assert_eq!(split_vault_prefixed("vault:v3:abc"), Some((3, "abc")));
        for bad in [
            "vault:v0:a",
            "vault:v01:a",
            "vault:v:a",
            "vault:va:a",
            "local:v1:a",
            "vault:v1",
        ] {
            assert!(split_vault_prefixed(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn pem_blocks_are_matched_by_label() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAEC\nAw==\n-----END PUBLIC KEY-----\n";
        assert_eq!(pem_body(pem, "PUBLIC KEY"), Some(vec![0, 1, 2, 3]));
        assert_eq!(pem_body(pem, "PRIVATE KEY"), None);
        assert_eq!(jws_public_key(JwsAlgorithm::Rs256, pem), None);
    }

    #[test]
    fn mount_paths_are_validated() {
        assert_eq!(
            validate_path("m", "/transit/", false).ok().as_deref(),
            Some("transit")
        );
        assert_eq!(validate_path("m", "", true).ok().as_deref(), Some(""));
        assert!(validate_path("m", "", false).is_err());
        assert!(validate_path("m", "a/../b", false).is_err());
    }
}
