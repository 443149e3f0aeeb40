//! Vault / OpenBao backend.

use std::sync::Arc;
use std::time::Duration;

use crate::{Cipher, KeysError, Probe, SecretStore, Signer};

/// How the backend authenticates to Vault.
#[derive(Clone)]
pub enum VaultAuth {
    /// AppRole login (`POST auth/<mount>/login`), token renewed in the background.
    AppRole {
        /// Mount path of the AppRole auth method, usually `approle`.
        mount: String,
        /// The role id.
        role_id: String,
        /// The secret id (redacted by `Debug`).
        secret_id: String,
    },
    /// A Vault Agent injects the token; no credentials here.
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

/// Settings of the Vault backend.
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
    /// Deadline of every HTTP call to Vault.
    pub timeout: Duration,
}

pub(crate) struct VaultBackend {
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) cipher: Arc<dyn Cipher>,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) probe: Arc<dyn Probe>,
}

impl VaultBackend {
    pub(crate) async fn open(_cfg: VaultConfig) -> Result<Self, KeysError> {
        Err(KeysError::Config(
            "vault backend not implemented yet".into(),
        ))
    }
}
