//! The published keyset document (`/paserk.json`).

use std::collections::HashSet;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use keys::VerifyingKeyVersion;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::paserk::{self, Kid};

/// Largest keyset document accepted, in bytes.
pub const MAX_KEYSET_BYTES: usize = 64 * 1024;
/// Most keys a keyset may hold.
pub const MAX_KEYS: usize = 16;

/// Why a keyset was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysetError {
    /// Larger than [`MAX_KEYSET_BYTES`].
    #[error("keyset document too large")]
    TooLarge,
    /// Not valid JSON of the expected shape.
    #[error("keyset document malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading the file failed.
    #[error("keyset file: {0}")]
    Io(#[from] std::io::Error),
    /// No keys, or more than [`MAX_KEYS`].
    #[error("keyset must hold 1..={MAX_KEYS} keys")]
    KeyCount,
    /// A `paserk` that is not a valid `k4.public` Ed25519 key.
    #[error("invalid k4.public key")]
    BadPaserk,
    /// A `kid` that is not the PASERK id of its key.
    #[error("kid does not match its key")]
    KidMismatch,
    /// The same kid twice.
    #[error("duplicate kid")]
    DuplicateKid,
    /// Not exactly one `active` key, or `active_kid` not naming it.
    #[error("keyset needs exactly one active key, named by active_kid")]
    ActiveKey,
    /// The version asked to be active is not in the list given to the builder.
    #[error("unknown key version {0}")]
    UnknownVersion(u32),
}

/// Life-cycle state of a published key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Signs new tokens.
    Active,
    /// Published ahead of use, so verifiers know it before the first token it signs.
    Next,
    /// No longer signs; kept until the last token it signed has expired (`not_after`).
    Retiring,
}

impl KeyStatus {
    /// Wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Next => "next",
            Self::Retiring => "retiring",
        }
    }
}

/// One published key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysetEntry {
    /// `k4.pid.` id of the key.
    pub kid: Kid,
    /// `k4.public.` key.
    pub paserk: String,
    /// Life-cycle state.
    pub status: KeyStatus,
    /// When the key was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// After this instant verifiers refuse tokens signed by this key.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub not_after: Option<OffsetDateTime>,
}

#[derive(Serialize, Deserialize)]
struct KeysetDocument {
    active_kid: Kid,
    keys: Vec<KeysetEntry>,
}

/// A validated keyset: every kid is the PASERK id of its key, kids are unique, exactly one key
/// is active, and every key is a valid Ed25519 point (parsed once, here).
#[derive(Debug, Clone)]
pub struct Keyset {
    active_kid: Kid,
    entries: Vec<KeysetEntry>,
    parsed: Vec<VerifyingKey>,
}

impl Keyset {
    /// Validates entries and builds the keyset.
    pub fn new(active_kid: Kid, entries: Vec<KeysetEntry>) -> Result<Self, KeysetError> {
        if entries.is_empty() || entries.len() > MAX_KEYS {
            return Err(KeysetError::KeyCount);
        }
        let mut seen = HashSet::new();
        let mut parsed = Vec::with_capacity(entries.len());
        for entry in &entries {
            let bytes = paserk::decode_public(&entry.paserk).map_err(|_| KeysetError::BadPaserk)?;
            let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeysetError::BadPaserk)?;
            if Kid::from_public_key(&bytes) != entry.kid {
                return Err(KeysetError::KidMismatch);
            }
            if !seen.insert(entry.kid.clone()) {
                return Err(KeysetError::DuplicateKid);
            }
            parsed.push(key);
        }
        let mut active = entries.iter().filter(|e| e.status == KeyStatus::Active);
        match (active.next(), active.next()) {
            (Some(only), None) if only.kid == active_kid => {}
            _ => return Err(KeysetError::ActiveKey),
        }
        Ok(Self {
            active_kid,
            entries,
            parsed,
        })
    }

    /// Starts a builder.
    pub fn builder() -> KeysetBuilder {
        KeysetBuilder::default()
    }

    /// From signer versions (oldest first): `active_version` is active, newer ones are `next`,
    /// older ones `retiring` with `retiring_not_after` (the caller passes only the versions it
    /// still wants published).
    pub fn from_versions(
        versions: &[VerifyingKeyVersion],
        active_version: u32,
        retiring_not_after: Option<OffsetDateTime>,
    ) -> Result<Self, KeysetError> {
        if !versions.iter().any(|v| v.version == active_version) {
            return Err(KeysetError::UnknownVersion(active_version));
        }
        let mut builder = Self::builder();
        for v in versions {
            builder = match v.version.cmp(&active_version) {
                std::cmp::Ordering::Less => builder.key(v, KeyStatus::Retiring, retiring_not_after),
                std::cmp::Ordering::Equal => builder.key(v, KeyStatus::Active, None),
                std::cmp::Ordering::Greater => builder.key(v, KeyStatus::Next, None),
            };
        }
        builder.build()
    }

    /// Parses and validates a JSON document (bounded to [`MAX_KEYSET_BYTES`]).
    pub fn from_json(json: &str) -> Result<Self, KeysetError> {
        Self::from_slice(json.as_bytes())
    }

    /// Parses and validates JSON bytes (bounded to [`MAX_KEYSET_BYTES`]).
    pub fn from_slice(json: &[u8]) -> Result<Self, KeysetError> {
        if json.len() > MAX_KEYSET_BYTES {
            return Err(KeysetError::TooLarge);
        }
        let doc: KeysetDocument = serde_json::from_slice(json)?;
        Self::new(doc.active_kid, doc.keys)
    }

    /// Reads a JSON file (bounded to [`MAX_KEYSET_BYTES`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeysetError> {
        use std::io::Read as _;
        let file = std::fs::File::open(path)?;
        let mut buf = Vec::new();
        file.take(MAX_KEYSET_BYTES as u64 + 1)
            .read_to_end(&mut buf)?;
        Self::from_slice(&buf)
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&KeysetDocument {
            active_kid: self.active_kid.clone(),
            keys: self.entries.clone(),
        })
        .unwrap_or_else(|_| unreachable!("keyset serializes"))
    }

    /// The active key's id.
    pub fn active_kid(&self) -> &Kid {
        &self.active_kid
    }

    /// All entries, in document order.
    pub fn entries(&self) -> &[KeysetEntry] {
        &self.entries
    }

    /// The entry and parsed key for `kid`.
    pub fn get(&self, kid: &Kid) -> Option<(&KeysetEntry, &VerifyingKey)> {
        let i = self.entries.iter().position(|e| &e.kid == kid)?;
        Some((&self.entries[i], &self.parsed[i]))
    }

    /// Whether `kid` is listed.
    pub fn contains(&self, kid: &Kid) -> bool {
        self.entries.iter().any(|e| &e.kid == kid)
    }
}

impl Serialize for Keyset {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        KeysetDocument {
            active_kid: self.active_kid.clone(),
            keys: self.entries.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Keyset {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let doc = KeysetDocument::deserialize(deserializer)?;
        Self::new(doc.active_kid, doc.keys).map_err(serde::de::Error::custom)
    }
}

/// Builds a [`Keyset`] key by key.
#[derive(Debug, Default)]
pub struct KeysetBuilder {
    entries: Vec<KeysetEntry>,
}

impl KeysetBuilder {
    /// Adds a signer version with a status and optional `not_after`.
    #[must_use]
    pub fn key(
        mut self,
        version: &VerifyingKeyVersion,
        status: KeyStatus,
        not_after: Option<OffsetDateTime>,
    ) -> Self {
        self.entries.push(KeysetEntry {
            kid: Kid::from_public_key(&version.public_key),
            paserk: paserk::encode_public(&version.public_key),
            status,
            created_at: version.created_at,
            not_after,
        });
        self
    }

    /// Validates and builds; the single `active` entry becomes `active_kid`.
    pub fn build(self) -> Result<Keyset, KeysetError> {
        let active = self
            .entries
            .iter()
            .find(|e| e.status == KeyStatus::Active)
            .map(|e| e.kid.clone())
            .ok_or(KeysetError::ActiveKey)?;
        Keyset::new(active, self.entries)
    }
}
