//! permesi settings: defaults < `PERMESI_CONFIG` TOML file < `PERMESI_*` environment.

use std::{path::PathBuf, time::Duration};

use admission_token::{CacheOptions, KeysetSource, SystemClock};
use serde::Deserialize;
use server::client_ip::TrustedProxies;
use server::{
    ListenAddr, Secret,
    cli::ServiceSettings,
    key_backend::{BackendKind, KeySettings, VaultAuthKind},
    middleware::HttpPolicy,
    settings::{LogFormat, SettingsError, comma_list},
};

use crate::{
    admission_gate::GateConfig,
    sessions::SessionPolicy,
    throttle::ThrottlePolicy,
    verification::{Mailer, Policy},
};

/// Every permesi setting. Each field `x` is `PERMESI_X` in the environment and `x` in the file.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `HOST:PORT` or `unix:/path.sock`.
    pub listen: ListenAddr,
    /// PostgreSQL, the system of record (required).
    pub database_url: Option<Secret<String>>,
    /// PostgreSQL pool size.
    pub database_max_connections: u32,
    /// Valkey/Redis for the session cache, replay protection and rate limits; in-memory when
    /// unset (a single instance only).
    pub redis_url: Option<Secret<String>>,
    /// `local` (key files in `keys_dir`, the default) or `vault` (Transit and KV v2).
    pub keys_backend: BackendKind,
    /// Folder of the local key backend.
    pub keys_dir: PathBuf,
    /// Name of the signing key (a file, or a Transit `ed25519` key).
    pub keys_signing_key: String,
    /// Name of the data encryption key (a file, or a Transit `chacha20-poly1305` key).
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
    /// Mount of the KV v2 engine (the OPAQUE seed and the index, audit and client-secret keys).
    pub vault_kv_mount: String,
    /// Path prefix under the KV mount.
    pub vault_kv_prefix: String,
    /// Deadline of each Vault call, in milliseconds.
    pub vault_timeout_ms: u64,
    /// Transit `ecdsa-p256` key for ES256 ID tokens; empty: ES256 is not offered on Vault.
    pub vault_es256_key: String,
    /// Transit `rsa-2048` (or 3072, 4096) key for RS256 ID tokens; empty: RS256 is not
    /// offered on Vault.
    pub vault_rs256_key: String,
    /// With `keys_backend = vault`: the Vault policy an operator token must hold to claim the
    /// platform or elevate (checked by a token self-lookup).
    pub operator_vault_policy: String,
    /// How long an operator's elevation lasts, in seconds.
    pub operator_elevation_secs: u32,
    /// `auto`, `pretty` or `json`.
    pub log_format: LogFormat,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Longest time a request may take, in milliseconds.
    pub request_timeout_ms: u64,
    /// genesis's published keyset, fetched and cached (5 minutes; refreshed on an unknown key
    /// id at most every 10 s). One of `admission_paserk_url`, `_file`, `_json` is required.
    pub admission_paserk_url: Option<String>,
    /// The keyset from a file (read at start).
    pub admission_paserk_file: Option<PathBuf>,
    /// The keyset inline, as JSON.
    pub admission_paserk_json: Option<String>,
    /// `iss` admission tokens must carry (genesis's `issuer`).
    pub admission_issuer: String,
    /// `aud` admission tokens must carry (genesis's `audience`).
    pub admission_audience: String,
    /// Origin of the console, where verification links point (`<base>/verify-email#token=`).
    pub email_base_url: String,
    /// `From` of outgoing mail.
    pub email_from: String,
    /// SMTP relay (`smtps://user:pass@host:465`, `smtp://host:587?tls=required`). Without
    /// it mail is written to `email_mail_dir` (development only).
    pub email_smtp_url: Option<Secret<String>>,
    /// Development mail folder, one `.eml` file per message.
    pub email_mail_dir: PathBuf,
    /// Lifetime of a verification link, in seconds.
    pub email_token_ttl_secs: u32,
    /// Minimum time between two verification mails to one account, in seconds.
    pub email_resend_cooldown_secs: u32,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed for the client address
    /// (comma-separated). Empty: the TCP peer is the client.
    #[serde(deserialize_with = "comma_list")]
    pub trusted_proxies: Vec<String>,
    /// Unsettled login attempts per account (from any network) before delays start; a login
    /// start counts, a successful login settles it. TOTP/recovery codes and passkey starts
    /// have budgets of the same size of their own.
    pub login_free_failures: u32,
    /// Attempts per client network (IPv4 address, IPv6 /`ipv6_prefix_len`), any accounts,
    /// before delays start.
    pub login_free_failures_per_ip: u32,
    /// IPv6 clients count per network of this prefix length (32 to 128) in throttles.
    pub ipv6_prefix_len: u8,
    /// First delay after the free attempts, in seconds; it doubles with each further attempt.
    pub login_delay_base_secs: u32,
    /// Longest delay, in seconds.
    pub login_delay_max_secs: u32,
    /// A session ends after this many seconds without a request.
    pub session_idle_secs: u32,
    /// A session ends this many seconds after login, however active.
    pub session_absolute_secs: u32,
    /// `Secure` on the session cookie; turn off only for plain-HTTP localhost development.
    pub session_cookie_secure: bool,
    /// Browser origins allowed to call permesi (comma-separated in the environment).
    #[serde(deserialize_with = "comma_list")]
    pub cors_origins: Vec<String>,
    /// WebAuthn relying party id: the console's registrable domain (`localhost` in dev, which
    /// also covers `permesi.localhost` behind HAProxy).
    pub passkeys_rp_id: String,
    /// Relying party name shown by authenticators.
    pub passkeys_rp_name: String,
    /// Origins allowed to run passkey ceremonies (comma-separated): the console's.
    #[serde(deserialize_with = "comma_list")]
    pub passkeys_origins: Vec<String>,
    /// Days a deleted organization, project, environment or application is kept before the
    /// hourly purge removes it for good (1 to 3650).
    pub tenancy_retention_days: u32,
    /// Days anonymous security events (failed logins, refused attempts) are kept (1 to 3650).
    pub security_events_retention_days: u32,
    /// Most anonymous security events kept; the oldest beyond go first.
    pub security_events_max_rows: u32,
    /// The OpenID Provider's issuer URL (`iss`, discovery at
    /// `<issuer>/.well-known/openid-configuration`): the public origin of this service.
    pub oidc_issuer: String,
    /// The console's login page; the browser comes with `?request=<id>` and goes back to
    /// `<issuer>/oauth/authorize?request=<id>` after logging in.
    pub oidc_login_url: String,
    /// The console's consent page (`?request=<id>`).
    pub oidc_consent_url: String,
    /// Lifetime of access and ID tokens, in seconds (60 to 3600).
    pub oidc_access_token_ttl_secs: u32,
    /// Lifetime of a refresh token, in seconds; every rotation starts it again.
    pub oidc_refresh_token_ttl_secs: u32,
    /// How long a new signing key version is published in the JWKS before it signs, seconds.
    pub oidc_key_prepublish_secs: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: ListenAddr::Tcp(([127, 0, 0, 1], 8001).into()),
            database_url: None,
            database_max_connections: 10,
            redis_url: None,
            keys_backend: BackendKind::Local,
            keys_dir: PathBuf::from("var/permesi/keys"),
            keys_signing_key: "permesi-oidc".to_owned(),
            keys_encryption_key: "permesi-data".to_owned(),
            vault_addr: String::new(),
            vault_auth: VaultAuthKind::Approle,
            vault_approle_mount: "approle".to_owned(),
            vault_role_id: String::new(),
            vault_secret_id: None,
            vault_transit_mount: "transit".to_owned(),
            vault_kv_mount: "secret".to_owned(),
            vault_kv_prefix: "permesi/permesi".to_owned(),
            vault_timeout_ms: 5_000,
            vault_es256_key: String::new(),
            vault_rs256_key: String::new(),
            operator_vault_policy: "permesi-operators".to_owned(),
            operator_elevation_secs: 900,
            log_format: LogFormat::Auto,
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            cors_origins: server::settings::default_cors_origins(),
            passkeys_rp_id: "localhost".to_owned(),
            passkeys_rp_name: "permesi".to_owned(),
            passkeys_origins: vec![
                "http://localhost:8080".to_owned(),
                "https://permesi.localhost".to_owned(),
            ],
            admission_paserk_url: None,
            admission_paserk_file: None,
            admission_paserk_json: None,
            email_base_url: "http://localhost:8080".to_owned(),
            email_from: "permesi <no-reply@permesi.localhost>".to_owned(),
            email_smtp_url: None,
            email_mail_dir: PathBuf::from("var/permesi/mail"),
            email_token_ttl_secs: 86_400,
            email_resend_cooldown_secs: 60,
            trusted_proxies: Vec::new(),
            login_free_failures: 5,
            login_free_failures_per_ip: 50,
            ipv6_prefix_len: server::client_ip::DEFAULT_IPV6_PREFIX,
            login_delay_base_secs: 1,
            login_delay_max_secs: 900,
            session_idle_secs: 1_800,
            session_absolute_secs: 43_200,
            session_cookie_secure: true,
            admission_issuer: "genesis".to_owned(),
            admission_audience: "permesi".to_owned(),
            tenancy_retention_days: 30,
            security_events_retention_days: 30,
            security_events_max_rows: 1_000_000,
            oidc_issuer: "http://localhost:8001".to_owned(),
            oidc_login_url: "http://localhost:8080/login".to_owned(),
            oidc_consent_url: "http://localhost:8080/consent".to_owned(),
            oidc_access_token_ttl_secs: 600,
            oidc_refresh_token_ttl_secs: 30 * 86_400,
            oidc_key_prepublish_secs: 3_600,
        }
    }
}

impl Settings {
    /// The HTTP limits and CORS policy.
    pub fn http_policy(&self) -> HttpPolicy {
        HttpPolicy {
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            cors_origins: self.cors_origins.clone(),
        }
    }

    /// The key backend: local files for permesi's token signing and data encryption keys.
    /// The WebAuthn relying party.
    pub fn relying_party(
        &self,
    ) -> Result<
        (
            crate::mfa::passkeys::RelyingParty,
            webauthn_rs::prelude::Webauthn,
        ),
        SettingsError,
    > {
        let rp = crate::mfa::passkeys::RelyingParty {
            id: self.passkeys_rp_id.clone(),
            name: self.passkeys_rp_name.clone(),
            origins: self.passkeys_origins.clone(),
        };
        let webauthn = rp.build().map_err(|reason| SettingsError::Invalid {
            setting: "PERMESI_PASSKEYS_ORIGINS".to_owned(),
            reason,
        })?;
        Ok((rp, webauthn))
    }

    /// The key backend: local files, or Vault Transit and KV v2.
    pub fn keys_config(&self) -> Result<keys::BackendConfig, SettingsError> {
        KeySettings {
            prefix: "PERMESI",
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
            vault_es256_key: &self.vault_es256_key,
            vault_rs256_key: &self.vault_rs256_key,
        }
        .to_config()
    }
}

impl Settings {
    /// The OpenID Provider's settings.
    pub fn oidc_config(&self) -> Result<crate::oidc::OidcConfig, SettingsError> {
        let invalid = |setting: &str, reason: &str| SettingsError::Invalid {
            setting: setting.to_owned(),
            reason: reason.to_owned(),
        };
        let issuer = self.oidc_issuer.trim_end_matches('/');
        let absolute = |u: &str| {
            (u.starts_with("https://") || u.starts_with("http://"))
                && !u.contains(['?', '#'])
                && u.len() > "http://".len()
        };
        if !absolute(issuer) {
            return Err(invalid(
                "PERMESI_OIDC_ISSUER",
                "must be an http(s) URL without query or fragment",
            ));
        }
        for (name, url) in [
            ("PERMESI_OIDC_LOGIN_URL", &self.oidc_login_url),
            ("PERMESI_OIDC_CONSENT_URL", &self.oidc_consent_url),
        ] {
            if !absolute(url) {
                return Err(invalid(
                    name,
                    "must be an http(s) URL without query or fragment",
                ));
            }
        }
        if !(60..=3_600).contains(&self.oidc_access_token_ttl_secs) {
            return Err(invalid(
                "PERMESI_OIDC_ACCESS_TOKEN_TTL_SECS",
                "must be 60 to 3600",
            ));
        }
        if self.oidc_refresh_token_ttl_secs < 60 {
            return Err(invalid(
                "PERMESI_OIDC_REFRESH_TOKEN_TTL_SECS",
                "must be at least 60",
            ));
        }
        Ok(crate::oidc::OidcConfig {
            issuer: issuer.to_owned(),
            login_url: self.oidc_login_url.clone(),
            consent_url: self.oidc_consent_url.clone(),
            access_ttl: time::Duration::seconds(i64::from(self.oidc_access_token_ttl_secs)),
            refresh_ttl: time::Duration::seconds(i64::from(self.oidc_refresh_token_ttl_secs)),
        })
    }

    /// Signing key rotation timing: prepublished for the setting, retired after the longest
    /// token lifetime plus the longest JWKS cache time we advertise.
    pub fn oidc_rotation(&self) -> crate::oidc::keys::RotationPolicy {
        crate::oidc::keys::RotationPolicy {
            prepublish: time::Duration::seconds(i64::from(self.oidc_key_prepublish_secs)),
            retire_after: time::Duration::seconds(
                i64::from(self.oidc_access_token_ttl_secs) + 3_600,
            ),
        }
    }
}

impl Settings {
    /// Where genesis's keyset comes from: exactly one of the three `admission_paserk_*`.
    pub fn admission_source(&self) -> Result<KeysetSource, SettingsError> {
        let invalid = |name: &str, reason: String| SettingsError::Invalid {
            setting: format!("PERMESI_ADMISSION_PASERK_{name}"),
            reason,
        };
        match (
            &self.admission_paserk_url,
            &self.admission_paserk_file,
            &self.admission_paserk_json,
        ) {
            (Some(url), None, None) => KeysetSource::url(
                url,
                CacheOptions::default(),
                std::sync::Arc::new(SystemClock),
            )
            .map_err(|e| invalid("URL", e.to_string())),
            (None, Some(path), None) => {
                KeysetSource::file(path).map_err(|e| invalid("FILE", e.to_string()))
            }
            (None, None, Some(json)) => {
                KeysetSource::inline(json).map_err(|e| invalid("JSON", e.to_string()))
            }
            (None, None, None) => Err(invalid(
                "URL",
                "is required (or PERMESI_ADMISSION_PASERK_FILE / _JSON)".to_owned(),
            )),
            _ => Err(invalid(
                "URL",
                "set exactly one of PERMESI_ADMISSION_PASERK_URL, _FILE, _JSON".to_owned(),
            )),
        }
    }

    /// Verification-link policy.
    pub fn verification_policy(&self) -> Result<Policy, SettingsError> {
        Policy::new(
            &self.email_base_url,
            time::Duration::seconds(i64::from(self.email_token_ttl_secs)),
            time::Duration::seconds(i64::from(self.email_resend_cooldown_secs)),
        )
        .map_err(|e| SettingsError::Invalid {
            setting: "PERMESI_EMAIL_BASE_URL".to_owned(),
            reason: e.to_string(),
        })
    }

    /// The mail transport: SMTP when configured, else the development folder.
    pub fn mailer(&self) -> Result<Mailer, SettingsError> {
        match &self.email_smtp_url {
            Some(url) => Mailer::smtp(url.expose()).map_err(|_| SettingsError::Invalid {
                setting: "PERMESI_EMAIL_SMTP_URL".to_owned(),
                reason: "not a valid smtp:// or smtps:// URL".to_owned(),
            }),
            None => Ok(Mailer::Folder(self.email_mail_dir.clone())),
        }
    }

    /// Delays after failed logins.
    pub fn throttle_policy(&self) -> ThrottlePolicy {
        ThrottlePolicy {
            free_per_account: self.login_free_failures,
            free_per_network: self.login_free_failures_per_ip,
            base: Duration::from_secs(u64::from(self.login_delay_base_secs.max(1))),
            max: Duration::from_secs(u64::from(self.login_delay_max_secs.max(1))),
            window: Duration::from_hours(1),
            ipv6_prefix: self.ipv6_prefix_len,
        }
    }

    /// The trusted proxies.
    pub fn trusted_proxies(&self) -> Result<TrustedProxies, SettingsError> {
        TrustedProxies::from_setting("PERMESI", &self.trusted_proxies)
    }

    /// Session lifetimes and cookie flags.
    pub fn session_policy(&self) -> Result<SessionPolicy, SettingsError> {
        SessionPolicy::new(
            time::Duration::seconds(i64::from(self.session_idle_secs)),
            time::Duration::seconds(i64::from(self.session_absolute_secs)),
            self.session_cookie_secure,
        )
        .map_err(|_| SettingsError::Invalid {
            setting: "PERMESI_SESSION_IDLE_SECS".to_owned(),
            reason: "idle and absolute must be positive, idle at most absolute".to_owned(),
        })
    }

    /// How long and how many anonymous security events are kept.
    pub fn security_event_retention(&self) -> crate::audit::SecurityEventRetention {
        crate::audit::SecurityEventRetention {
            max_age: time::Duration::days(i64::from(self.security_events_retention_days)),
            max_rows: i64::from(self.security_events_max_rows.max(1)),
        }
    }

    /// How long deleted tenancy rows are kept.
    pub fn tenancy_retention(&self) -> time::Duration {
        time::Duration::days(i64::from(self.tenancy_retention_days))
    }

    /// What admission tokens must say.
    pub fn gate_config(&self) -> GateConfig {
        GateConfig::new(&self.admission_issuer, &self.admission_audience)
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
        if self.database_url.is_none() {
            return Err(SettingsError::Invalid {
                setting: "PERMESI_DATABASE_URL".to_owned(),
                reason: "is required".to_owned(),
            });
        }
        server::settings::validate_http_limits(
            "PERMESI",
            self.max_body_bytes,
            self.request_timeout_ms,
        )?;
        self.verification_policy()?;
        self.keys_config()?;
        self.relying_party()?;
        self.session_policy()?;
        self.trusted_proxies()?;
        self.mailer()?;
        if !(1..=30 * 86_400).contains(&self.email_token_ttl_secs) {
            return Err(SettingsError::Invalid {
                setting: "PERMESI_EMAIL_TOKEN_TTL_SECS".to_owned(),
                reason: "must be between 1 and 2592000".to_owned(),
            });
        }
        if !(32..=128).contains(&self.ipv6_prefix_len) {
            return Err(SettingsError::Invalid {
                setting: "PERMESI_IPV6_PREFIX_LEN".to_owned(),
                reason: "must be between 32 and 128".to_owned(),
            });
        }
        if !(1..=3650).contains(&self.security_events_retention_days) {
            return Err(SettingsError::Invalid {
                setting: "PERMESI_SECURITY_EVENTS_RETENTION_DAYS".to_owned(),
                reason: "must be between 1 and 3650".to_owned(),
            });
        }
        if !(1..=3650).contains(&self.tenancy_retention_days) {
            return Err(SettingsError::Invalid {
                setting: "PERMESI_TENANCY_RETENTION_DAYS".to_owned(),
                reason: "must be between 1 and 3650".to_owned(),
            });
        }
        self.admission_source().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_config_file_loads_and_validates() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/examples/permesi.toml"
        );
        server::cli::settings_from_file::<crate::Permesi>(
            std::path::Path::new(path),
            &[("PERMESI_DATABASE_URL", "postgres://x@localhost/x")],
        )
        .expect("config/examples/permesi.toml matches the settings and is valid");
    }
}
