//! Offline verification, in a fixed order.
//!
//! Size bound; `v4.public.` header; base64url body and footer; footer JSON and `kid`; key
//! lookup (and the key's `not_after`); Ed25519 signature over the PAE; claims JSON; `iss`;
//! `aud`; `action`; `exp`; `nbf` and `iat`; `exp - iat <= max_ttl`. Nothing from the payload
//! is looked at before the signature has verified.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::claims::{Claims, Jti};
use crate::keyset::Keyset;
use crate::pae::pae;
use crate::paserk::Kid;

/// The only header accepted and produced.
pub const HEADER: &str = "v4.public.";
/// Default clock leeway for time claims.
pub const DEFAULT_LEEWAY: Duration = Duration::seconds(30);
/// Default maximum `exp - iat`.
pub const DEFAULT_MAX_TTL: Duration = Duration::minutes(10);
/// Default maximum token length, in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 2048;
const MAX_FOOTER_LEN: usize = 256;
const SIG_LEN: usize = 64;

/// Why a token was refused. [`VerifyError::code`] is stable and safe to return to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Longer than the configured maximum.
    #[error("token too large")]
    TooLarge,
    /// Not `v4.public.` (e.g. `v4.local.`, `v3.public.`).
    #[error("unsupported token header")]
    UnsupportedHeader,
    /// Bad structure, base64url, footer or claims JSON.
    #[error("malformed token")]
    Malformed,
    /// The footer's kid is not in the keyset.
    #[error("unknown kid")]
    UnknownKid,
    /// The key is past its `not_after`.
    #[error("key retired")]
    RetiredKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iss` differs from the expected issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` differs from the expected audience.
    #[error("wrong audience")]
    WrongAudience,
    /// `action` differs from the expected action.
    #[error("wrong action")]
    WrongAction,
    /// `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `exp - iat` exceeds the maximum TTL (or is not positive).
    #[error("token lifetime too long")]
    TtlTooLong,
    /// The keyset could not be loaded (source unreachable and nothing cached).
    #[error("keyset unavailable")]
    KeysetUnavailable,
}

impl VerifyError {
    /// Stable ASCII code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::UnsupportedHeader => "unsupported_header",
            Self::Malformed => "malformed",
            Self::UnknownKid => "unknown_kid",
            Self::RetiredKey => "retired_kid",
            Self::BadSignature => "bad_signature",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::WrongAction => "wrong_action",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::TtlTooLong => "ttl_too_long",
            Self::KeysetUnavailable => "keyset_unavailable",
        }
    }
}

/// What a verifier expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Clock leeway for `exp`, `nbf`, `iat` (default 30 s).
    pub leeway: Duration,
    /// Maximum `exp - iat` (default 10 min).
    pub max_ttl: Duration,
    /// Maximum token length in bytes (default 2048).
    pub max_token_len: usize,
}

impl VerifierConfig {
    /// Defaults for leeway, TTL and size.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: DEFAULT_LEEWAY,
            max_ttl: DEFAULT_MAX_TTL,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

/// A token that passed every check. Replay (`jti` single use) is the caller's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The claims.
    pub claims: Claims,
    /// The key that signed it.
    pub kid: Kid,
}

impl VerifiedToken {
    /// The token id, to record as used.
    pub fn jti(&self) -> &Jti {
        &self.claims.jti
    }

    /// The expiry.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.claims.exp
    }

    /// How long a replay record must live: until `exp + leeway` (at least one second).
    pub fn replay_ttl(&self, now: OffsetDateTime, leeway: Duration) -> Duration {
        (self.claims.exp + leeway - now).max(Duration::seconds(1))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Footer {
    pub(crate) kid: Kid,
}

impl Footer {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!("footer serializes"))
    }
}

/// Steps 1-4: the token split and decoded, nothing trusted yet.
#[derive(Debug)]
pub(crate) struct ParsedToken {
    message: Vec<u8>,
    signature: [u8; SIG_LEN],
    footer: Vec<u8>,
    pub(crate) kid: Kid,
}

impl ParsedToken {
    pub(crate) fn parse(token: &str, max_len: usize) -> Result<Self, VerifyError> {
        if token.len() > max_len {
            return Err(VerifyError::TooLarge);
        }
        let rest = token
            .strip_prefix(HEADER)
            .ok_or(VerifyError::UnsupportedHeader)?;
        let (body_b64, footer_b64) = rest.split_once('.').ok_or(VerifyError::Malformed)?;
        if footer_b64.contains('.') || footer_b64.len() > MAX_FOOTER_LEN * 4 / 3 + 4 {
            return Err(VerifyError::Malformed);
        }
        let mut body = URL_SAFE_NO_PAD
            .decode(body_b64)
            .map_err(|_| VerifyError::Malformed)?;
        let footer = URL_SAFE_NO_PAD
            .decode(footer_b64)
            .map_err(|_| VerifyError::Malformed)?;
        if body.len() <= SIG_LEN || footer.len() > MAX_FOOTER_LEN {
            return Err(VerifyError::Malformed);
        }
        let parsed: Footer = serde_json::from_slice(&footer).map_err(|_| VerifyError::Malformed)?;
        let sig_bytes = body.split_off(body.len() - SIG_LEN);
        let mut signature = [0u8; SIG_LEN];
        signature.copy_from_slice(&sig_bytes);
        Ok(Self {
            message: body,
            signature,
            footer,
            kid: parsed.kid,
        })
    }
}

/// Offline verifier over a keyset that is already in hand (see [`crate::TokenVerifier`] for
/// one that loads and refreshes the keyset).
#[derive(Debug, Clone)]
pub struct Verifier {
    config: VerifierConfig,
}

impl Verifier {
    /// A verifier with these expectations.
    pub fn new(config: VerifierConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Verifies `token` for `expected_action` against `keyset` at `now`.
    pub fn verify(
        &self,
        token: &str,
        expected_action: &str,
        keyset: &Keyset,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, VerifyError> {
        let parsed = self.parse(token)?;
        self.verify_parsed(parsed, keyset, expected_action, now)
    }

    pub(crate) fn parse(&self, token: &str) -> Result<ParsedToken, VerifyError> {
        ParsedToken::parse(token, self.config.max_token_len)
    }

    pub(crate) fn verify_parsed(
        &self,
        parsed: ParsedToken,
        keyset: &Keyset,
        expected_action: &str,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, VerifyError> {
        let cfg = &self.config;
        // 5. key lookup
        let (entry, key) = keyset.get(&parsed.kid).ok_or(VerifyError::UnknownKid)?;
        if entry.not_after.is_some_and(|na| now > na + cfg.leeway) {
            return Err(VerifyError::RetiredKey);
        }
        // 6. signature over PAE(header, message, footer, implicit assertion = "")
        let m2 = pae(&[HEADER.as_bytes(), &parsed.message, &parsed.footer, b""]);
        key.verify_strict(&m2, &Signature::from_bytes(&parsed.signature))
            .map_err(|_| VerifyError::BadSignature)?;
        // 7. claims
        let claims: Claims =
            serde_json::from_slice(&parsed.message).map_err(|_| VerifyError::Malformed)?;
        // 8-10. who and what
        if claims.iss != cfg.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if claims.aud != cfg.audience {
            return Err(VerifyError::WrongAudience);
        }
        if claims.action != expected_action {
            return Err(VerifyError::WrongAction);
        }
        // 11-13. when
        if now >= claims.exp + cfg.leeway {
            return Err(VerifyError::Expired);
        }
        if claims.nbf > now + cfg.leeway || claims.iat > now + cfg.leeway {
            return Err(VerifyError::NotYetValid);
        }
        // 14. lifetime
        let ttl = claims.exp - claims.iat;
        if ttl > cfg.max_ttl || ttl <= Duration::ZERO {
            return Err(VerifyError::TtlTooLong);
        }
        Ok(VerifiedToken {
            claims,
            kid: parsed.kid,
        })
    }
}
