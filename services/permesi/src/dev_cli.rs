//! permesi's own subcommands: development helpers and operator tools.
//!
//! - `permesi signup-verify-url`: the newest verification link in the development mail folder
//!   (`just signup-verify-url`); `permesi reset-password-url` the newest password-reset link.
//! - `permesi operator-token`: a one-time operator token for claiming the platform or
//!   elevating (local key backend; `just operator-token`).
//! - `permesi audit verify`: checks the audit log's chain and prints its head.
//! - `permesi oidc-keys list|rotate`: the OIDC signing keys and their roles; a new version,
//!   prepublished before it signs (`just oidc-keys-rotate`).

#![allow(clippy::print_stdout)]

use clap::Subcommand;
use server::cli::StartError;

use crate::{
    audit::{AUDIT_KEY_NAME, Action, Actor, AuditLog, ChainKey, Context, Outcome, Record},
    config::Settings,
    oidc::keys::{Alg, SigningKeys},
};

/// permesi's own subcommands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DevCommand {
    /// Print the newest email-verification link written to `email_mail_dir`.
    SignupVerifyUrl,
    /// Print the newest password-reset link written to `email_mail_dir`.
    ResetPasswordUrl,
    /// Print a one-time operator token (valid 24 h) for `POST /v1/admin/claim` or
    /// `/v1/admin/elevate` (local key backend only).
    OperatorToken,
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The OpenID Connect token signing keys.
    #[command(subcommand)]
    OidcKeys(OidcKeysCommand),
}

/// `permesi oidc-keys ...`.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum OidcKeysCommand {
    /// Every published key: algorithm, version, kid, and whether it signs, is prepublished or
    /// is retiring.
    List,
    /// Make a new version of one algorithm's key. It is in the JWKS within a minute and signs
    /// after `oidc_key_prepublish_secs`; the previous one stays published for the tokens it
    /// signed. Audited as `oauth.key_rotated`.
    Rotate {
        /// `EdDSA`, `ES256` or `RS256`.
        #[arg(long, default_value = "EdDSA", value_parser = alg_arg)]
        alg: Alg,
    },
}

fn alg_arg(raw: &str) -> Result<Alg, String> {
    Alg::parse(raw).ok_or_else(|| format!("{raw:?} is not EdDSA, ES256 or RS256"))
}

/// Prints the newest link to `path` in the development mail folder.
fn newest_link(settings: &Settings, path: &str, what: &str) -> Result<(), StartError> {
    match crate::verification::latest_link_to(&settings.email_mail_dir, path)? {
        Some(link) => println!("{link}"),
        None => {
            return Err(failure(format!(
                "no {what} mail in {} yet",
                settings.email_mail_dir.display()
            )));
        }
    }
    Ok(())
}

async fn backend(settings: &Settings) -> Result<keys::KeyBackend, StartError> {
    keys::KeyBackend::open(settings.keys_config()?)
        .await
        .map_err(|e| failure(format!("keys: {e}")))
}

async fn audit_log(backend: &keys::KeyBackend) -> Result<AuditLog, StartError> {
    let key = backend
        .secrets()
        .get(AUDIT_KEY_NAME)
        .await
        .map_err(|e| failure(format!("keys: {e}")))?
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| failure(format!("no {AUDIT_KEY_NAME} in the key backend")))?;
    Ok(AuditLog::new(ChainKey::new(key)))
}

/// `permesi audit ...`.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum AuditCommand {
    /// Recompute the chain: exit 0 and print the head when intact, exit 2 naming the first
    /// broken entry otherwise.
    Verify,
}

fn failure(message: String) -> StartError {
    StartError::Io(std::io::Error::other(message))
}

async fn pool(settings: &Settings) -> Result<sqlx::PgPool, StartError> {
    let url = settings
        .database_url
        .as_ref()
        .ok_or_else(|| failure("PERMESI_DATABASE_URL is required".into()))?;
    sqlx::PgPool::connect(url.expose())
        .await
        .map_err(|e| failure(format!("database: {e}")))
}

/// Runs a subcommand.
pub async fn run(settings: &Settings, command: DevCommand) -> Result<(), StartError> {
    match command {
        DevCommand::SignupVerifyUrl => {
            newest_link(settings, crate::verification::VERIFY_PATH, "verification")
        }
        DevCommand::ResetPasswordUrl => {
            newest_link(settings, crate::auth::reset::RESET_PATH, "password reset")
        }
        DevCommand::OperatorToken => {
            if !matches!(
                settings.keys_backend,
                server::key_backend::BackendKind::Local
            ) {
                return Err(failure(format!(
                    "with keys_backend = vault, operators present a Vault token holding the \
                     {:?} policy",
                    settings.operator_vault_policy
                )));
            }
            let pool = pool(settings).await?;
            crate::app::MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| failure(format!("migrations: {e}")))?;
            let token = crate::operators::issue_local_token(&pool, time::OffsetDateTime::now_utc())
                .await
                .map_err(|e| failure(e.to_string()))?;
            println!("{token}");
            Ok(())
        }
        DevCommand::OidcKeys(command) => oidc_keys(settings, command).await,
        DevCommand::Audit(AuditCommand::Verify) => {
            let backend = backend(settings).await?;
            let log = audit_log(&backend).await?;
            let pool = pool(settings).await?;
            match log
                .verify(&pool)
                .await
                .map_err(|e| failure(e.to_string()))?
            {
                Ok(report) => {
                    match report.head {
                        Some((seq, mac)) => println!(
                            "audit log intact: {} entries; head {seq} {}",
                            report.entries,
                            server::to_hex(&mac)
                        ),
                        None => println!("audit log intact: empty"),
                    }
                    Ok(())
                }
                Err(broken) => Err(failure(format!(
                    "audit log broken at entry {}: {}",
                    broken.seq, broken.reason
                ))),
            }
        }
    }
}

/// `permesi oidc-keys list|rotate`.
async fn oidc_keys(settings: &Settings, command: OidcKeysCommand) -> Result<(), StartError> {
    let backend = backend(settings).await?;
    let keys = SigningKeys::new(
        backend.signer(),
        backend.jws_signers(),
        settings.oidc_rotation(),
    );
    let text = |e: crate::error::Error| failure(e.to_string());
    if let OidcKeysCommand::Rotate { alg } = command {
        // The database and the audit key first: a rotation that cannot be audited is not made.
        let pool = pool(settings).await?;
        let log = audit_log(&backend).await?;
        let key = keys.rotate(alg).await.map_err(text)?;
        let entry = Record::new(
            &Context::default(),
            Actor::System,
            Action::OAuthKeyRotated,
            Outcome::Success,
        )
        .target("signing_key", &key.kid)
        .detail("alg", alg.as_str())
        .detail("version", key.version);
        log.append_alone(&pool, &entry, time::OffsetDateTime::now_utc())
            .await
            .map_err(|e| failure(e.to_string()))?;
        println!(
            "{} key version {} ({}) made; it signs after {} s",
            alg.as_str(),
            key.version,
            key.kid,
            settings.oidc_key_prepublish_secs
        );
    }
    for key in keys.plans().await.map_err(text)?.statuses() {
        println!(
            "{:<6} v{:<3} {:<13} {}",
            key.alg.as_str(),
            key.version,
            key.role.as_str(),
            key.kid
        );
    }
    Ok(())
}
