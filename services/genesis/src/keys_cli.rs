//! `genesis keys list|rotate|validate`: the admission signing key's life cycle, from the
//! command line, against the same key backend the service uses.

#![allow(clippy::print_stdout)]

use admission_token::{Keyset, Kid};
use clap::Subcommand;
use server::cli::StartError;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{admission::rotation, config::Settings};

/// Key subcommands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum KeysCommand {
    /// Manage the admission signing key.
    #[command(subcommand)]
    Keys(KeysAction),
}

/// What to do with the keys.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum KeysAction {
    /// List every key version, its PASERK id and its state now.
    List,
    /// Add a new key version; it is published at once and signs after the prepublish window.
    Rotate,
    /// Check that the active key signs and verifies and the keyset is well formed.
    Validate,
}

fn failed(what: &str, e: impl std::fmt::Display) -> StartError {
    StartError::Io(std::io::Error::other(format!("{what}: {e}")))
}

/// Runs a keys subcommand.
pub async fn run(settings: &Settings, command: KeysCommand) -> Result<(), StartError> {
    let KeysCommand::Keys(action) = command;
    let backend = keys::KeyBackend::open(settings.keys_config()?)
        .await
        .map_err(|e| failed("key backend", e))?;
    let signer = backend.signer();
    let policy = settings.admission()?.rotation;
    let now = OffsetDateTime::now_utc();
    match action {
        KeysAction::List => {
            let versions = signer.versions().await.map_err(|e| failed("versions", e))?;
            let plan = rotation::plan(&versions, policy, now);
            println!(
                "{:<8} {:<10} {:<26} {:<26} KID",
                "VERSION", "STATUS", "CREATED", "NOT AFTER"
            );
            for v in &versions {
                let published = plan
                    .as_ref()
                    .and_then(|p| p.published.iter().find(|p| p.key.version == v.version));
                let (status, not_after) =
                    published.map_or(("unpublished", None), |p| (p.status.as_str(), p.not_after));
                println!(
                    "{:<8} {:<10} {:<26} {:<26} {}",
                    v.version,
                    status,
                    v.created_at.format(&Rfc3339).unwrap_or_default(),
                    not_after
                        .and_then(|t| t.format(&Rfc3339).ok())
                        .unwrap_or_else(|| "-".into()),
                    Kid::from_public_key(&v.public_key).as_str()
                );
            }
        }
        KeysAction::Rotate => {
            let v = signer.rotate().await.map_err(|e| failed("rotate", e))?;
            let activates = v.created_at + policy.prepublish;
            println!(
                "created version {} ({}); published now, signs from {}",
                v.version,
                Kid::from_public_key(&v.public_key).as_str(),
                activates.format(&Rfc3339).unwrap_or_default()
            );
        }
        KeysAction::Validate => {
            let versions = signer.versions().await.map_err(|e| failed("versions", e))?;
            let plan = rotation::plan(&versions, policy, now)
                .ok_or_else(|| failed("keys", "no key versions"))?;
            let mut builder = Keyset::builder();
            for p in &plan.published {
                builder = builder.key(&p.key, p.status, p.not_after);
            }
            let keyset = builder.build().map_err(|e| failed("keyset", e))?;
            Keyset::from_json(&keyset.to_json()).map_err(|e| failed("keyset roundtrip", e))?;
            let probe = b"genesis keys validate";
            let sig = signer
                .sign(plan.active.version, probe)
                .await
                .map_err(|e| failed("sign", e))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&plan.active.public_key)
                .map_err(|e| failed("public key", e))?;
            vk.verify_strict(probe, &ed25519_dalek::Signature::from_bytes(&sig))
                .map_err(|e| failed("signature check", e))?;
            println!(
                "ok: {} published key(s), active version {} ({})",
                plan.published.len(),
                plan.active.version,
                keyset.active_kid().as_str()
            );
        }
    }
    Ok(())
}
