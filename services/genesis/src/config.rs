//! genesis settings: defaults < `GENESIS_CONFIG` TOML file < `GENESIS_*` environment.

use std::path::PathBuf;

use serde::Deserialize;
use server::{
    ListenAddr, Secret,
    cli::ServiceSettings,
    key_backend::{BackendKind, KeySettings, VaultAuthKind},
    middleware::HttpPolicy,
    settings::{LogFormat, SettingsError, comma_list},
};
use time::Duration;

use server::client_ip::TrustedProxies;

use crate::{
    admission::{ActionPolicy, AdmissionConfig, RotationPolicy},
    ratelimit::{Rate, RateLimiter},
};

fn invalid(name: &str, reason: &dyn std::fmt::Display) -> SettingsError {
    SettingsError::Invalid {
        setting: format!("GENESIS_{name}"),
        reason: reason.to_string(),
    }
}

/// Every genesis setting. Each field `x` is `GENESIS_X` in the environment and `x` in the file.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `HOST:PORT` or `unix:/path.sock`.
    pub listen: ListenAddr,
    /// PostgreSQL, optional: only the audit of minted token ids uses it.
    pub database_url: Option<Secret<String>>,
    /// PostgreSQL pool size.
    pub database_max_connections: u32,
    /// Valkey/Redis for replay protection across replicas; in-memory when unset.
    pub redis_url: Option<Secret<String>>,
    /// `local` (key files in `keys_dir`, the default) or `vault` (Transit and KV v2).
    pub keys_backend: BackendKind,
    /// Folder of the local key backend.
    pub keys_dir: PathBuf,
    /// Name of the Ed25519 admission signing key (a file, or a Transit `ed25519` key).
    pub keys_signing_key: String,
    /// Name of the encryption key (a file, or a Transit `chacha20-poly1305` key).
    pub keys_encryption_key: String,
    /// Vault or OpenBao address: `https://vault:8200`, or `unix:///run/vault/agent.sock`.
    pub vault_addr: String,
    /// `approle` or `agent`.
    pub vault_auth: VaultAuthKind,
    /// Mount of the AppRole auth method.
    pub vault_approle_mount: String,
    /// AppRole role id.
    pub vault_role_id: String,
    /// AppRole secret id.
    pub vault_secret_id: Option<Secret<String>>,
    /// Mount of the Transit engine.
    pub vault_transit_mount: String,
    /// Mount of the KV v2 engine (the proof-of-work MAC key lives there).
    pub vault_kv_mount: String,
    /// Path prefix under the KV mount.
    pub vault_kv_prefix: String,
    /// Deadline of each Vault call, in milliseconds.
    pub vault_timeout_ms: u64,
    /// `auto`, `pretty` or `json`.
    pub log_format: LogFormat,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Longest time a request may take, in milliseconds.
    pub request_timeout_ms: u64,
    /// Browser origins allowed to call genesis (comma-separated in the environment).
    #[serde(deserialize_with = "comma_list")]
    pub cors_origins: Vec<String>,
    /// `iss` of minted tokens; permesi expects the same value.
    pub issuer: String,
    /// `aud` of minted tokens.
    pub audience: String,
    /// Lifetime of an admission token, in seconds (10..=900).
    pub token_ttl_secs: u32,
    /// Lifetime of a challenge, in seconds (10..=3600).
    pub challenge_ttl_secs: u32,
    /// Admitted actions and their proof-of-work difficulty in leading zero bits.
    pub pow_actions: String,
    /// Mints per second (per replica) above which challenges get harder; 0 disables.
    pub pow_boost_threshold: u64,
    /// Extra bits of work while above the threshold.
    pub pow_boost_bits: u8,
    /// How long a rotated key is published before it signs, in seconds (at least the
    /// verifiers' keyset cache TTL, 300 by default).
    pub key_prepublish_secs: u32,
    /// Requests per second per client IP, and the burst above it.
    pub rate_limit_per_ip: f64,
    /// Burst per client IP.
    pub rate_limit_per_ip_burst: f64,
    /// Requests per second for the whole replica, and the burst above it.
    pub rate_limit_global: f64,
    /// Burst for the whole replica.
    pub rate_limit_global_burst: f64,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed (comma-separated).
    #[serde(deserialize_with = "comma_list")]
    pub trusted_proxies: Vec<String>,
    /// IPv6 clients share a rate-limit bucket per network of this prefix length (32 to 128);
    /// IPv4 clients get one per address.
    pub ipv6_prefix_len: u8,
    /// Record minted token ids (not tokens) in PostgreSQL, off the request path.
    pub audit_minted: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: ListenAddr::Tcp(([127, 0, 0, 1], 8000).into()),
            database_url: None,
            database_max_connections: 5,
            redis_url: None,
            keys_backend: BackendKind::Local,
            keys_dir: PathBuf::from("var/genesis/keys"),
            keys_signing_key: "genesis-admission".to_owned(),
            keys_encryption_key: "genesis".to_owned(),
            vault_addr: String::new(),
            vault_auth: VaultAuthKind::Approle,
            vault_approle_mount: "approle".to_owned(),
            vault_role_id: String::new(),
            vault_secret_id: None,
            vault_transit_mount: "transit".to_owned(),
            vault_kv_mount: "secret".to_owned(),
            vault_kv_prefix: "permesi/genesis".to_owned(),
            vault_timeout_ms: 5_000,
            log_format: LogFormat::Auto,
            max_body_bytes: 16 * 1024,
            request_timeout_ms: 10_000,
            cors_origins: server::settings::default_cors_origins(),
            issuer: "genesis".to_owned(),
            audience: "permesi".to_owned(),
            token_ttl_secs: 120,
            challenge_ttl_secs: 120,
            pow_actions: DEFAULT_ACTIONS.to_owned(),
            pow_boost_threshold: 2_000,
            pow_boost_bits: 4,
            key_prepublish_secs: 600,
            rate_limit_per_ip: 10.0,
            rate_limit_per_ip_burst: 30.0,
            rate_limit_global: 20_000.0,
            rate_limit_global_burst: 40_000.0,
            trusted_proxies: Vec::new(),
            ipv6_prefix_len: server::client_ip::DEFAULT_IPV6_PREFIX,
            audit_minted: false,
        }
    }
}

/// Actions permesi asks admission for, and their default work.
pub const DEFAULT_ACTIONS: &str = "signup:16,login:14,verify_email:12,resend_verification:14,passkey_login:14,mfa:12,password_reset:14";

impl Settings {
    /// The mint's configuration.
    pub fn admission(&self) -> Result<AdmissionConfig, SettingsError> {
        let actions =
            ActionPolicy::parse(&self.pow_actions).map_err(|e| invalid("POW_ACTIONS", &e))?;
        Ok(AdmissionConfig {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            token_ttl: Duration::seconds(i64::from(self.token_ttl_secs)),
            challenge_ttl: Duration::seconds(i64::from(self.challenge_ttl_secs)),
            actions,
            rotation: RotationPolicy {
                prepublish: Duration::seconds(i64::from(self.key_prepublish_secs)),
                // The last token a retired key signed lives token_ttl, plus verifier leeway.
                retire_after: Duration::seconds(i64::from(self.token_ttl_secs) + 60),
            },
            boost_bits: self.pow_boost_bits,
            // The local signer signs with the key the public key came from; a Vault signer is
            // outside this process, so each of its signatures is checked before use.
            signature_check: match self.keys_backend {
                BackendKind::Local => admission_token::SignatureCheck::Trusted,
                BackendKind::Vault => admission_token::SignatureCheck::Verify,
            },
        })
    }

    /// The rate limits.
    pub fn rate_limiter(&self) -> RateLimiter {
        RateLimiter::new(
            Rate {
                per_second: self.rate_limit_per_ip,
                burst: self.rate_limit_per_ip_burst,
            },
            Rate {
                per_second: self.rate_limit_global,
                burst: self.rate_limit_global_burst,
            },
            self.ipv6_prefix_len,
        )
    }

    /// The trusted proxies.
    pub fn trusted_proxies(&self) -> Result<TrustedProxies, SettingsError> {
        TrustedProxies::from_setting("GENESIS", &self.trusted_proxies)
    }

    /// The HTTP limits and CORS policy.
    pub fn http_policy(&self) -> HttpPolicy {
        HttpPolicy {
            max_body_bytes: self.max_body_bytes,
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms),
            cors_origins: self.cors_origins.clone(),
        }
    }

    /// The key backend: local files, or Vault Transit and KV v2.
    pub fn keys_config(&self) -> Result<keys::BackendConfig, SettingsError> {
        KeySettings {
            prefix: "GENESIS",
            backend: self.keys_backend,
            dir: &self.keys_dir,
            signing_key: &self.keys_signing_key,
            encryption_key: &self.keys_encryption_key,
            vault_addr: &self.vault_addr,
            vault_auth: self.vault_auth,
            vault_approle_mount: &self.vault_approle_mount,
            vault_role_id: &self.vault_role_id,
            vault_secret_id: self.vault_secret_id.as_ref(),
            vault_transit_mount: &self.vault_transit_mount,
            vault_kv_mount: &self.vault_kv_mount,
            vault_kv_prefix: &self.vault_kv_prefix,
            vault_timeout_ms: self.vault_timeout_ms,
            vault_es256_key: "",
            vault_rs256_key: "",
        }
        .to_config()
    }
}

impl ServiceSettings for Settings {
    fn listen(&self) -> &ListenAddr {
        &self.listen
    }

    fn log_format(&self) -> LogFormat {
        self.log_format
    }

    fn database_url(&self) -> Option<&Secret<String>> {
        self.database_url.as_ref()
    }

    fn validate(&self) -> Result<(), SettingsError> {
        self.keys_config()?;
        self.admission()?;
        self.trusted_proxies()?;
        let ranges: [(&str, bool); 9] = [
            (
                "IPV6_PREFIX_LEN",
                (32..=128).contains(&self.ipv6_prefix_len),
            ),
            ("TOKEN_TTL_SECS", (10..=900).contains(&self.token_ttl_secs)),
            (
                "CHALLENGE_TTL_SECS",
                (10..=3600).contains(&self.challenge_ttl_secs),
            ),
            ("POW_BOOST_BITS", self.pow_boost_bits <= 16),
            (
                "KEY_PREPUBLISH_SECS",
                self.key_prepublish_secs <= 7 * 86_400,
            ),
            ("RATE_LIMIT_PER_IP", self.rate_limit_per_ip > 0.0),
            (
                "RATE_LIMIT_PER_IP_BURST",
                self.rate_limit_per_ip_burst >= 1.0,
            ),
            ("RATE_LIMIT_GLOBAL", self.rate_limit_global > 0.0),
            (
                "RATE_LIMIT_GLOBAL_BURST",
                self.rate_limit_global_burst >= 1.0,
            ),
        ];
        if let Some((name, _)) = ranges.iter().find(|(_, ok)| !ok) {
            return Err(invalid(
                name,
                &"out of range (see config/examples/genesis.toml)",
            ));
        }
        for (name, value) in [("ISSUER", &self.issuer), ("AUDIENCE", &self.audience)] {
            if value.is_empty() || value.len() > admission_token::MAX_CLAIM_LEN {
                return Err(invalid(name, &"must be 1 to 256 characters"));
            }
        }
        server::settings::validate_http_limits(
            "GENESIS",
            self.max_body_bytes,
            self.request_timeout_ms,
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_config_file_loads_and_validates() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/examples/genesis.toml"
        );
        server::cli::settings_from_file::<crate::Genesis>(
            std::path::Path::new(path),
            &[("GENESIS_DATABASE_URL", "postgres://x@localhost/x")],
        )
        .expect("config/examples/genesis.toml matches the settings and is valid");
    }
}
