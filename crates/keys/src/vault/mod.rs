//! Vault / OpenBao backend: Transit for signing and encryption, KV v2 for secrets.
//!
//! Every call goes through [`client::VaultClient::call`]: one `reqwest` client (TCP or
//! Vault Agent Unix socket), one timeout, one error mapping, one 403 handling
//! (AppRole: log in again and retry once).

mod client;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::names::validate_name;
use crate::{Cipher, KeysError, Probe, SecretStore, Signer, VerifyingKeyVersion};
use client::{Method, VaultClient};

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
/// TLS: `https://` addresses are verified against the Mozilla roots and the system
/// trust store (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured), so a private CA is
/// added there.
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

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, KeysError> {
    let mut cur = v;
    for p in path {
        cur = cur
            .get(p)
            .ok_or_else(|| KeysError::Corrupt(format!("Vault answer lacks {}", path.join("."))))?;
    }
    Ok(cur)
}

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, KeysError> {
    field(v, path)?.as_str().ok_or_else(|| {
        KeysError::Corrupt(format!("Vault answer: {} is not a string", path.join(".")))
    })
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

impl Transit {
    /// `GET transit/keys/<key>`, checking the key type.
    async fn read_key(&self, key: &str, expected_type: &str) -> Result<Value, KeysError> {
        let body = self
            .client
            .call(Method::GET, &format!("{}/keys/{key}", self.mount), None)
            .await?;
        let data = field(&body, &["data"])?;
        let ty = str_field(data, &["type"])?;
        if ty != expected_type {
            return Err(KeysError::Config(format!(
                "Transit key {key:?} has type {ty:?}, expected {expected_type:?}"
            )));
        }
        Ok(body)
    }
}

#[async_trait::async_trait]
impl Signer for Transit {
    async fn versions(&self) -> Result<Vec<VerifyingKeyVersion>, KeysError> {
        let body = self.read_key(&self.signing_key, "ed25519").await?;
        let keys = field(&body, &["data", "keys"])?
            .as_object()
            .ok_or_else(|| KeysError::Corrupt("Vault answer: data.keys is not an object".into()))?;
        let mut out = Vec::with_capacity(keys.len());
        for (ver, info) in keys {
            let version: u32 = ver
                .parse()
                .map_err(|_| KeysError::Corrupt(format!("Vault key version {ver:?}")))?;
            let pk = STANDARD
                .decode(str_field(info, &["public_key"])?)
                .map_err(|_| KeysError::Corrupt(format!("version {version}: public key base64")))?;
            let public_key: [u8; 32] = pk.try_into().map_err(|_| {
                KeysError::Corrupt(format!("version {version}: public key is not 32 bytes"))
            })?;
            let created_at = OffsetDateTime::parse(
                str_field(info, &["creation_time"])?,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|e| KeysError::Corrupt(format!("version {version}: creation_time: {e}")))?;
            out.push(VerifyingKeyVersion {
                version,
                public_key,
                created_at,
            });
        }
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    async fn sign(&self, version: u32, message: &[u8]) -> Result<[u8; 64], KeysError> {
        if version == 0 {
            return Err(KeysError::NotFound("signing key version 0".into()));
        }
        let body = json!({ "input": STANDARD.encode(message), "key_version": version });
        let answer = self
            .client
            .call(
                Method::POST,
                &format!("{}/sign/{}", self.mount, self.signing_key),
                Some(&body),
            )
            .await?;
        let sig = str_field(&answer, &["data", "signature"])?;
        let (got, b64) = split_vault_prefixed(sig)
            .ok_or_else(|| KeysError::Corrupt("Vault signature lacks vault:v<N>: prefix".into()))?;
        if got != version {
            // Fail closed: a signature by another version is useless to verifiers.
            return Err(KeysError::Corrupt(format!(
                "Vault signed with version {got}, requested {version}"
            )));
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| KeysError::Corrupt("Vault signature base64".into()))?;
        raw.try_into()
            .map_err(|_| KeysError::Corrupt("Vault signature is not 64 bytes".into()))
    }

    async fn rotate(&self) -> Result<VerifyingKeyVersion, KeysError> {
        self.client
            .call(
                Method::POST,
                &format!("{}/keys/{}/rotate", self.mount, self.signing_key),
                Some(&json!({})),
            )
            .await?;
        self.versions()
            .await?
            .pop()
            .ok_or_else(|| KeysError::Corrupt("Vault key has no versions after rotation".into()))
    }
}

#[async_trait::async_trait]
impl Cipher for Transit {
    async fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, KeysError> {
        let plaintext_b64 = Zeroizing::new(STANDARD.encode(plaintext));
        let body = json!({ "plaintext": *plaintext_b64, "associated_data": STANDARD.encode(aad) });
        let answer = self
            .client
            .call(
                Method::POST,
                &format!("{}/encrypt/{}", self.mount, self.encryption_key),
                Some(&body),
            )
            .await?;
        let ct = str_field(&answer, &["data", "ciphertext"])?;
        if split_vault_prefixed(ct).is_none() {
            return Err(KeysError::Corrupt(
                "Vault ciphertext lacks vault:v<N>: prefix".into(),
            ));
        }
        Ok(ct.to_owned())
    }

    async fn decrypt(&self, ciphertext: &str, aad: &[u8]) -> Result<Vec<u8>, KeysError> {
        if split_vault_prefixed(ciphertext).is_none() {
            return Err(KeysError::Decrypt);
        }
        let body = json!({ "ciphertext": ciphertext, "associated_data": STANDARD.encode(aad) });
        let answer = self
            .client
            .call(
                Method::POST,
                &format!("{}/decrypt/{}", self.mount, self.encryption_key),
                Some(&body),
            )
            .await
            .map_err(|e| match e {
                // Vault answers 400 for a tampered ciphertext or a wrong aad.
                KeysError::Rejected(_) => KeysError::Decrypt,
                other => other,
            })?;
        STANDARD
            .decode(str_field(&answer, &["data", "plaintext"])?)
            .map_err(|_| KeysError::Corrupt("Vault plaintext base64".into()))
    }
}

#[derive(Debug)]
struct Kv {
    client: Arc<VaultClient>,
    mount: String,
    prefix: String,
}

impl Kv {
    fn path(&self, name: &str) -> Result<String, KeysError> {
        validate_name(name)?;
        Ok(if self.prefix.is_empty() {
            format!("{}/data/{name}", self.mount)
        } else {
            format!("{}/data/{}/{name}", self.mount, self.prefix)
        })
    }
}

#[async_trait::async_trait]
impl SecretStore for Kv {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeysError> {
        let path = self.path(name)?;
        let answer = match self.client.call(Method::GET, &path, None).await {
            Ok(a) => a,
            Err(KeysError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // A soft-deleted version has `data.data: null`.
        let data = field(&answer, &["data", "data"])?;
        if data.is_null() {
            return Ok(None);
        }
        let value = str_field(data, &["value"])?;
        STANDARD
            .decode(value)
            .map(Some)
            .map_err(|_| KeysError::Corrupt(format!("KV secret {name:?}: value base64")))
    }

    async fn put(&self, name: &str, value: &[u8]) -> Result<(), KeysError> {
        let path = self.path(name)?;
        let value_b64 = Zeroizing::new(STANDARD.encode(value));
        let body = json!({ "data": { "value": *value_b64 } });
        self.client.call(Method::POST, &path, Some(&body)).await?;
        Ok(())
    }
}

#[derive(Debug)]
struct VaultProbe {
    transit: Arc<Transit>,
}

#[async_trait::async_trait]
impl Probe for VaultProbe {
    async fn check(&self) -> Result<(), KeysError> {
        let t = &self.transit;
        tokio::try_join!(
            t.client.call(Method::GET, "auth/token/lookup-self", None),
            t.read_key(&t.signing_key, "ed25519"),
            t.read_key(&t.encryption_key, "chacha20-poly1305"),
        )?;
        Ok(())
    }
}

pub(crate) struct VaultBackend {
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) cipher: Arc<dyn Cipher>,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) probe: Arc<dyn Probe>,
}

impl VaultBackend {
    pub(crate) async fn open(cfg: VaultConfig) -> Result<Self, KeysError> {
        let transit_mount = validate_path("transit_mount", &cfg.transit_mount, false)?;
        let kv_mount = validate_path("kv_mount", &cfg.kv_mount, false)?;
        let kv_prefix = validate_path("kv_prefix", &cfg.kv_prefix, true)?;
        validate_name(&cfg.signing_key)?;
        validate_name(&cfg.encryption_key)?;
        let client = VaultClient::connect(&cfg.addr, cfg.auth, cfg.timeout).await?;
        let transit = Arc::new(Transit {
            client: Arc::clone(&client),
            mount: transit_mount,
            signing_key: cfg.signing_key,
            encryption_key: cfg.encryption_key,
        });
        Ok(Self {
            signer: Arc::clone(&transit) as Arc<dyn Signer>,
            cipher: Arc::clone(&transit) as Arc<dyn Cipher>,
            secrets: Arc::new(Kv {
                client,
                mount: kv_mount,
                prefix: kv_prefix,
            }),
            probe: Arc::new(VaultProbe { transit }),
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
