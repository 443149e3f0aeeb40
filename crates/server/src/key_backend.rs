//! Choosing a key backend from a service's flat settings (`keys_backend`, `keys_dir`,
//! `vault_*`), validated at start with errors naming the setting.

use std::{path::Path, time::Duration};

use serde::Deserialize;

use crate::{Secret, settings::SettingsError};

/// Which key backend a service uses.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Key files in `keys_dir` (the default: a fresh machine needs no Vault).
    #[default]
    Local,
    /// Vault or OpenBao: Transit and KV v2.
    Vault,
}

/// How a service authenticates to Vault.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VaultAuthKind {
    /// AppRole (`vault_role_id`, `vault_secret_id`), token renewed in the background.
    #[default]
    Approle,
    /// A Vault Agent at `vault_addr` (usually `unix:///...`) adds the token.
    Agent,
}

/// The key-backend settings of one service, borrowed from its settings struct.
#[derive(Debug, Clone, Copy)]
pub struct KeySettings<'a> {
    /// Environment prefix, to name settings in errors.
    pub prefix: &'a str,
    /// `keys_backend`.
    pub backend: BackendKind,
    /// `keys_dir`.
    pub dir: &'a Path,
    /// Name of the Ed25519 signing key (file or Transit key).
    pub signing_key: &'a str,
    /// Name of the encryption key (file or Transit `chacha20-poly1305` key).
    pub encryption_key: &'a str,
    /// `vault_addr`.
    pub vault_addr: &'a str,
    /// `vault_auth`.
    pub vault_auth: VaultAuthKind,
    /// `vault_approle_mount`.
    pub vault_approle_mount: &'a str,
    /// `vault_role_id`.
    pub vault_role_id: &'a str,
    /// `vault_secret_id`.
    pub vault_secret_id: Option<&'a Secret<String>>,
    /// `vault_transit_mount`.
    pub vault_transit_mount: &'a str,
    /// `vault_kv_mount`.
    pub vault_kv_mount: &'a str,
    /// `vault_kv_prefix`.
    pub vault_kv_prefix: &'a str,
    /// `vault_timeout_ms`.
    pub vault_timeout_ms: u64,
    /// `vault_es256_key`: Transit `ecdsa-p256` key for ES256, empty for none.
    pub vault_es256_key: &'a str,
    /// `vault_rs256_key`: Transit `rsa-2048`/`3072`/`4096` key for RS256, empty for none.
    pub vault_rs256_key: &'a str,
}

impl KeySettings<'_> {
    fn missing(&self, name: &str) -> SettingsError {
        SettingsError::Invalid {
            setting: format!("{}_{name}", self.prefix),
            reason: "is required with keys_backend = vault".to_owned(),
        }
    }

    /// The backend configuration, or the first missing or invalid setting.
    pub fn to_config(&self) -> Result<keys::BackendConfig, SettingsError> {
        match self.backend {
            BackendKind::Local => Ok(keys::BackendConfig::Local(keys::LocalConfig {
                dir: self.dir.to_owned(),
                signing_key: self.signing_key.to_owned(),
                encryption_key: self.encryption_key.to_owned(),
            })),
            BackendKind::Vault => {
                if self.vault_addr.is_empty() {
                    return Err(self.missing("VAULT_ADDR"));
                }
                let auth = match self.vault_auth {
                    VaultAuthKind::Agent => keys::VaultAuth::Agent,
                    VaultAuthKind::Approle => {
                        if self.vault_role_id.is_empty() {
                            return Err(self.missing("VAULT_ROLE_ID"));
                        }
                        let secret_id = self
                            .vault_secret_id
                            .ok_or_else(|| self.missing("VAULT_SECRET_ID"))?;
                        keys::VaultAuth::AppRole {
                            mount: self.vault_approle_mount.to_owned(),
                            role_id: self.vault_role_id.to_owned(),
                            secret_id: secret_id.expose().clone(),
                        }
                    }
                };
                if !(100..=60_000).contains(&self.vault_timeout_ms) {
                    return Err(SettingsError::Invalid {
                        setting: format!("{}_VAULT_TIMEOUT_MS", self.prefix),
                        reason: "must be between 100 and 60000".to_owned(),
                    });
                }
                Ok(keys::BackendConfig::Vault(keys::VaultConfig {
                    addr: self.vault_addr.to_owned(),
                    auth,
                    transit_mount: self.vault_transit_mount.to_owned(),
                    signing_key: self.signing_key.to_owned(),
                    encryption_key: self.encryption_key.to_owned(),
                    kv_mount: self.vault_kv_mount.to_owned(),
                    kv_prefix: self.vault_kv_prefix.to_owned(),
                    timeout: Duration::from_millis(self.vault_timeout_ms),
                    jws_keys: [
                        (keys::JwsAlgorithm::Es256, self.vault_es256_key),
                        (keys::JwsAlgorithm::Rs256, self.vault_rs256_key),
                    ]
                    .into_iter()
                    .filter(|(_, key)| !key.is_empty())
                    .map(|(alg, key)| (alg, key.to_owned()))
                    .collect(),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(secret: Option<&Secret<String>>) -> KeySettings<'_> {
        KeySettings {
            prefix: "GENESIS",
            backend: BackendKind::Vault,
            dir: Path::new("/x"),
            signing_key: "genesis-admission",
            encryption_key: "genesis",
            vault_addr: "https://vault:8200",
            vault_auth: VaultAuthKind::Approle,
            vault_approle_mount: "approle",
            vault_role_id: "role",
            vault_secret_id: secret,
            vault_transit_mount: "transit",
            vault_kv_mount: "secret",
            vault_kv_prefix: "permesi",
            vault_timeout_ms: 5000,
            vault_es256_key: "",
            vault_rs256_key: "permesi-rs256",
        }
    }

    #[test]
    fn approle_needs_its_secret_id_named_in_the_error() {
        let err = vault(None).to_config().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid setting GENESIS_VAULT_SECRET_ID: is required with keys_backend = vault"
        );
        let secret = Secret::new("s".to_owned());
        let Ok(keys::BackendConfig::Vault(config)) = vault(Some(&secret)).to_config() else {
            panic!("not a Vault configuration");
        };
        // Only the JWS keys that are named are offered.
        assert_eq!(
            config.jws_keys,
            [(keys::JwsAlgorithm::Rs256, "permesi-rs256".to_owned())]
        );
    }

    #[test]
    fn agent_needs_no_credentials_and_local_is_the_default() {
        let agent = KeySettings {
            vault_auth: VaultAuthKind::Agent,
            vault_addr: "unix:///run/vault/agent.sock",
            ..vault(None)
        };
        assert!(matches!(
            agent.to_config(),
            Ok(keys::BackendConfig::Vault(_))
        ));
        assert_eq!(BackendKind::default(), BackendKind::Local);
    }
}
