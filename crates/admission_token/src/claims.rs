//! Token claims.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Longest `iss`, `aud` or `action` accepted, in bytes.
pub const MAX_CLAIM_LEN: usize = 256;
const JTI_BYTES: usize = 16;
const JTI_LEN: usize = 22; // base64url of 16 bytes, no padding
const MAX_TIME_LEN: usize = 64;

/// Why claims could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// `iss`, `aud` or `action` empty or longer than [`MAX_CLAIM_LEN`].
    #[error("claim empty or too long")]
    BadLength,
    /// TTL not positive, or the expiry cannot be represented.
    #[error("invalid ttl")]
    InvalidTtl,
    /// A `jti` that is not 16 bytes of base64url.
    #[error("malformed jti")]
    MalformedJti,
}

/// Token id: 128 random bits, base64url without padding (22 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jti(String);

impl Jti {
    /// A fresh random id.
    pub fn random<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; JTI_BYTES];
        rng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Checks the shape: 22 base64url characters decoding to 16 bytes.
    pub fn parse(jti: &str) -> Result<Self, ClaimsError> {
        if jti.len() != JTI_LEN {
            return Err(ClaimsError::MalformedJti);
        }
        match URL_SAFE_NO_PAD.decode(jti) {
            Ok(bytes) if bytes.len() == JTI_BYTES => Ok(Self(jti.to_owned())),
            _ => Err(ClaimsError::MalformedJti),
        }
    }

    /// The base64url string (the key to use for single-use bookkeeping).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Jti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Jti {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Jti {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The claims of an admission token. Times are RFC 3339 strings on the wire (PASETO's
/// registered claims); this crate writes UTC with `Z` and whole seconds, and reads any RFC 3339
/// offset (`Z` and `+00:00` alike). Unknown claims are ignored when reading, so a mint can add a
/// claim before every verifier knows it; duplicate claims are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (genesis's configured name or URL).
    pub iss: String,
    /// Audience (the permesi deployment).
    pub aud: String,
    /// The action admitted (`signup`, `login`, ...).
    pub action: String,
    /// Issued at.
    #[serde(with = "rfc3339")]
    pub iat: OffsetDateTime,
    /// Not before.
    #[serde(with = "rfc3339")]
    pub nbf: OffsetDateTime,
    /// Expires at.
    #[serde(with = "rfc3339")]
    pub exp: OffsetDateTime,
    /// Token id, for single use.
    pub jti: Jti,
}

impl Claims {
    /// Claims valid from `now` (truncated to whole seconds, UTC) for `ttl`, with a random `jti`.
    pub fn new<R: RngCore + CryptoRng + ?Sized>(
        iss: impl Into<String>,
        aud: impl Into<String>,
        action: impl Into<String>,
        now: OffsetDateTime,
        ttl: Duration,
        rng: &mut R,
    ) -> Result<Self, ClaimsError> {
        let (iss, aud, action) = (iss.into(), aud.into(), action.into());
        for s in [&iss, &aud, &action] {
            if s.is_empty() || s.len() > MAX_CLAIM_LEN {
                return Err(ClaimsError::BadLength);
            }
        }
        if ttl < Duration::seconds(1) {
            return Err(ClaimsError::InvalidTtl);
        }
        let now = now
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(now);
        let exp = now.checked_add(ttl).ok_or(ClaimsError::InvalidTtl)?;
        Ok(Self {
            iss,
            aud,
            action,
            iat: now,
            nbf: now,
            exp,
            jti: Jti::random(rng),
        })
    }
}

mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let utc = t.to_offset(time::UtcOffset::UTC);
        let text = utc.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if text.len() > super::MAX_TIME_LEN {
            return Err(serde::de::Error::custom("time too long"));
        }
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use time::macros::datetime;

    #[test]
    fn writes_z_reads_both_offsets() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = datetime!(2026-11-23 09:00:00.750 UTC);
        let c = Claims::new(
            "genesis",
            "permesi",
            "signup",
            now,
            Duration::seconds(120),
            &mut rng,
        )
        .expect("claims");
        let json = serde_json::to_string(&c).expect("json");
        assert!(json.contains(r#""iat":"2026-11-23T09:00:00Z""#), "{json}");
        assert!(json.contains(r#""exp":"2026-11-23T09:02:00Z""#), "{json}");
        let plus = json.replace("Z\"", "+00:00\"");
        let back: Claims = serde_json::from_str(&plus).expect("+00:00 accepted");
        assert_eq!(back, c);
        assert_eq!(c.jti.as_str().len(), 22);
    }

    #[test]
    fn rejects_bad_input() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = datetime!(2026-11-23 09:00:00 UTC);
        assert_eq!(
            Claims::new("", "a", "b", now, Duration::seconds(1), &mut rng).err(),
            Some(ClaimsError::BadLength)
        );
        assert_eq!(
            Claims::new("i", "a", "b", now, Duration::ZERO, &mut rng).err(),
            Some(ClaimsError::InvalidTtl)
        );
        assert_eq!(Jti::parse("short").err(), Some(ClaimsError::MalformedJti));
        assert_eq!(
            Jti::parse("AAAAAAAAAAAAAAAAAAAAAB").err(),
            Some(ClaimsError::MalformedJti)
        ); // trailing bits
        assert!(Jti::parse("AAAAAAAAAAAAAAAAAAAAAA").is_ok());
    }
}
