//! PASERK `k4.public` strings and `k4.pid` key ids.
//!
//! `k4.public.` + base64url(32-byte Ed25519 public key); the id is
//! `k4.pid.` + base64url(BLAKE2b-264("k4.pid." || "k4.public.<...>")) per the PASERK `pid` spec.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};

/// Prefix of a v4 public key PASERK.
pub const PUBLIC_PREFIX: &str = "k4.public.";
/// Prefix of a v4 public key id.
pub const PID_PREFIX: &str = "k4.pid.";
const PID_HASH_LEN: usize = 33;
const PID_LEN: usize = PID_PREFIX.len() + 44; // base64url of 33 bytes, no padding
const PUBLIC_LEN: usize = PUBLIC_PREFIX.len() + 43; // base64url of 32 bytes, no padding

/// Why a PASERK string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaserkError {
    /// Wrong prefix, length or base64url.
    #[error("malformed paserk")]
    Malformed,
}

/// `k4.public.` + base64url(public key).
pub fn encode_public(public_key: &[u8; 32]) -> String {
    let mut out = String::with_capacity(PUBLIC_LEN);
    out.push_str(PUBLIC_PREFIX);
    URL_SAFE_NO_PAD.encode_string(public_key, &mut out);
    out
}

/// Parses a `k4.public.` string into the 32 key bytes (not yet checked to be a curve point).
pub fn decode_public(paserk: &str) -> Result<[u8; 32], PaserkError> {
    if paserk.len() != PUBLIC_LEN {
        return Err(PaserkError::Malformed);
    }
    let b64 = paserk
        .strip_prefix(PUBLIC_PREFIX)
        .ok_or(PaserkError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| PaserkError::Malformed)?;
    bytes.try_into().map_err(|_| PaserkError::Malformed)
}

/// A `k4.pid.` key id: the `kid` of a token footer and a keyset entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid(String);

impl Kid {
    /// The id of an Ed25519 public key.
    pub fn from_public_key(public_key: &[u8; 32]) -> Self {
        Self::from_paserk(&encode_public(public_key))
    }

    fn from_paserk(paserk: &str) -> Self {
        let mut hasher =
            Blake2bVar::new(PID_HASH_LEN).unwrap_or_else(|_| unreachable!("33 is a valid size"));
        hasher.update(PID_PREFIX.as_bytes());
        hasher.update(paserk.as_bytes());
        let mut digest = [0u8; PID_HASH_LEN];
        hasher
            .finalize_variable(&mut digest)
            .unwrap_or_else(|_| unreachable!("buffer matches the output size"));
        let mut out = String::with_capacity(PID_LEN);
        out.push_str(PID_PREFIX);
        URL_SAFE_NO_PAD.encode_string(digest, &mut out);
        Self(out)
    }

    /// Checks the shape of a kid string (`k4.pid.` and 33 base64url bytes).
    pub fn parse(kid: &str) -> Result<Self, PaserkError> {
        if kid.len() != PID_LEN {
            return Err(PaserkError::Malformed);
        }
        let b64 = kid.strip_prefix(PID_PREFIX).ok_or(PaserkError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| PaserkError::Malformed)?;
        if bytes.len() != PID_HASH_LEN {
            return Err(PaserkError::Malformed);
        }
        Ok(Self(kid.to_owned()))
    }

    /// The `k4.pid.` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Kid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Kid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_roundtrip_and_bounds() {
        let pk = [9u8; 32];
        let s = encode_public(&pk);
        assert!(s.starts_with("k4.public."));
        assert_eq!(decode_public(&s), Ok(pk));
        assert_eq!(
            decode_public(&s.replace("k4.", "k3.")),
            Err(PaserkError::Malformed)
        );
        assert_eq!(decode_public(&format!("{s}A")), Err(PaserkError::Malformed));
        assert_eq!(decode_public("k4.public."), Err(PaserkError::Malformed));
    }

    #[test]
    fn kid_shape() {
        let kid = Kid::from_public_key(&[1u8; 32]);
        assert_eq!(kid.as_str().len(), PID_LEN);
        assert_eq!(Kid::parse(kid.as_str()), Ok(kid.clone()));
        assert!(Kid::parse("k4.pid.short").is_err());
        assert!(Kid::parse(&kid.as_str().replace("k4.pid.", "k4.lid.")).is_err());
        assert_ne!(kid, Kid::from_public_key(&[2u8; 32]));
    }
}
