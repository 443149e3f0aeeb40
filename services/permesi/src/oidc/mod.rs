//! permesi as an OpenID Provider: the pure parts (request validation, PKCE, scopes, subjects,
//! claims, the refresh-token state machine) here and in [`jose`] and [`keys`]; the flows over
//! the database in [`provider`]; HTTP in `api::oauth`.
//!
//! Choices (see `docs/oidc.md`): authorization code flow only, PKCE `S256` for every client,
//! exact redirect URIs, EdDSA-signed ID tokens and `at+jwt` access tokens, opaque rotating
//! refresh tokens with reuse detection, codes and refresh tokens stored as SHA-256 only.

pub mod jose;
pub mod keys;
pub mod provider;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::sessions::AuthMethod;

/// Lifetime of an authorization code.
pub const CODE_TTL: Duration = Duration::seconds(60);
/// Lifetime of a pending authorization request (login and consent happen within it).
pub const REQUEST_TTL: Duration = Duration::minutes(10);
/// How long after a refresh token was used presenting it again returns the same successor
/// (a client that lost the response, two tabs refreshing at once) instead of revoking.
pub const REFRESH_RETRY_WINDOW: Duration = Duration::seconds(30);
/// Longest lifetime of a `private_key_jwt` client assertion.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::minutes(5);
/// Name of the pairwise-subject key in the secret store.
pub const PAIRWISE_KEY_NAME: &str = "permesi-oidc-pairwise-key";
/// Name of the key refresh-token successors are derived with.
pub const REFRESH_KEY_NAME: &str = "permesi-oidc-refresh-key";
/// The scopes permesi itself defines.
pub const STANDARD_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
/// `client_assertion_type` of `private_key_jwt`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Provider settings.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer URL (`iss`), without a trailing slash.
    pub issuer: String,
    /// The console's login page; `?request=<id>` is appended.
    pub login_url: String,
    /// The console's consent page; `?request=<id>` is appended.
    pub consent_url: String,
    /// Access and ID token lifetime.
    pub access_ttl: Duration,
    /// Refresh token lifetime (each rotation starts it again).
    pub refresh_ttl: Duration,
}

impl OidcConfig {
    /// An endpoint under the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// 256 random bits as base64url text, and the SHA-256 stored for it.
pub fn new_secret() -> (Zeroizing<String>, [u8; 32]) {
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, raw.as_mut_slice());
    let text = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_slice()));
    let hash = hash_secret(&text);
    (text, hash)
}

/// The stored form of a code, refresh token or request id: SHA-256 of its text.
pub fn hash_secret(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Whether `verifier` matches an `S256` `challenge` (RFC 7636 section 4.6). The verifier must
/// be 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !ok {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// Whether `challenge` has the shape of an `S256` challenge (43 base64url characters).
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Exact, byte-for-byte redirect URI matching against the registered list.
pub fn redirect_registered(registered: &[String], presented: &str) -> bool {
    registered.iter().any(|r| r == presented)
}

/// Splits a space-separated `scope` parameter: distinct, in order. `None` when it is not a
/// valid scope list (RFC 6749 section 3.3).
pub fn parse_scopes(raw: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in raw.split(' ') {
        if s.is_empty() {
            continue;
        }
        if !crate::tenancy::validate::scope(s) {
            return None;
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Some(out)
}

/// `prompt` values (OIDC Core section 3.1.2.1); `select_account` is treated like none given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: no interaction; fail instead.
    pub none: bool,
    /// `login`: authenticate again.
    pub login: bool,
    /// `consent`: ask for consent again.
    pub consent: bool,
}

impl Prompt {
    /// Parses the parameter; `None` for unknown values or `none` combined with another.
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        let mut prompt = Self::default();
        for value in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return None,
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return None;
        }
        Some(prompt)
    }
}

/// A validated authorization request, stored while the user logs in or consents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Exactly one of the registered redirect URIs.
    pub redirect_uri: String,
    /// Granted scopes asked for (subset of the application's).
    pub scopes: Vec<String>,
    /// Echoed back.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// The `S256` challenge.
    pub code_challenge: String,
    /// Interaction requirements.
    pub prompt: Prompt,
    /// Longest acceptable time since authentication, in seconds.
    pub max_age: Option<i64>,
    /// Passed to the console's login page.
    pub login_hint: Option<String>,
    /// RFC 8707 resource (the access token's audience).
    pub resource: Option<String>,
}

/// RFC 8176 `amr` values of a session's methods, with `mfa` when there are two or more kinds.
pub fn amr(methods: &[AuthMethod]) -> Vec<String> {
    let mut out: Vec<String> = methods.iter().map(|m| m.as_str().to_owned()).collect();
    out.sort();
    out.dedup();
    let factors = out.iter().filter(|m| m.as_str() != "mfa").count();
    if factors >= 2 && !out.iter().any(|m| m == "mfa") {
        out.push("mfa".to_owned());
    }
    out
}

/// `acr` for an `amr`: `urn:permesi:acr:mfa` with more than one factor or a hardware key
/// (a passkey is possession plus a user-verified unlock), else `urn:permesi:acr:pwd`.
pub fn acr(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "mfa" || m == "hwk" || m == "swk") {
        "urn:permesi:acr:mfa"
    } else {
        "urn:permesi:acr:pwd"
    }
}

/// How an application sees its users' ids.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// The user id itself, the same for every application.
    Public,
    /// A per-application value: applications cannot correlate users.
    Pairwise,
}

impl SubjectType {
    /// The stored and published form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }

    /// The inverse of [`SubjectType::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "public" => Some(Self::Public),
            "pairwise" => Some(Self::Pairwise),
            _ => None,
        }
    }
}

/// Key of pairwise subjects and refresh-token successors (from the secret store).
#[derive(Clone)]
pub struct MacKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

impl MacKey {
    /// A key from 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice()).expect("any key length");
        for part in parts {
            mac.update(part);
            mac.update(b"\0");
        }
        mac.finalize().into_bytes().into()
    }
}

/// The `sub` an application sees: the user id, or for pairwise applications
/// base64url(HMAC(key, "permesi/pairwise/v1" || application id || user id)).
pub fn subject(kind: SubjectType, key: &MacKey, application: Uuid, user: Uuid) -> String {
    match kind {
        SubjectType::Public => user.to_string(),
        SubjectType::Pairwise => URL_SAFE_NO_PAD.encode(key.mac(&[
            b"permesi/pairwise/v1",
            application.as_bytes(),
            user.as_bytes(),
        ])),
    }
}

/// The successor of a refresh token, derived from it: presenting a used token again within
/// the retry window yields the same successor without it ever being stored in clear.
pub fn refresh_successor(key: &MacKey, presented: &str) -> Zeroizing<String> {
    Zeroizing::new(URL_SAFE_NO_PAD.encode(key.mac(&[b"permesi/refresh/v1", presented.as_bytes()])))
}

/// The stored state of a presented refresh token and its successors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshState {
    /// When it was used (rotated), if it was.
    pub used_at: Option<OffsetDateTime>,
    /// Whether it (its family) is revoked.
    pub revoked: bool,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// How many successors it has.
    pub successors: u32,
    /// Whether its only successor has itself been used.
    pub successor_used: bool,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Unused and valid: mark used, issue its successor.
    Rotate,
    /// Used moments ago, its one successor still unused: issue that successor again.
    Retry,
    /// Used before (outside the window, or the successor moved on): revoke the family.
    Reuse,
    /// Expired or revoked: refuse.
    Invalid,
}

/// The refresh-token state machine.
pub fn decide_refresh(state: &RefreshState, now: OffsetDateTime) -> RefreshDecision {
    if state.revoked || now >= state.expires_at {
        return RefreshDecision::Invalid;
    }
    match state.used_at {
        None => RefreshDecision::Rotate,
        Some(used)
            if now - used <= REFRESH_RETRY_WINDOW
                && state.successors == 1
                && !state.successor_used =>
        {
            RefreshDecision::Retry
        }
        Some(_) => RefreshDecision::Reuse,
    }
}

/// The `private_key_jwt` checks that need no key: `iss` = `sub` = client id, `aud` naming the
/// token endpoint or the issuer, `exp` in the future and at most [`MAX_ASSERTION_LIFETIME`]
/// away, `jti` present. Returns the `jti` and `exp`.
pub fn check_assertion_claims(
    parsed: &jose::Parsed,
    client_id: &str,
    audiences: &[&str],
    now: OffsetDateTime,
) -> Option<(String, OffsetDateTime)> {
    let exp = OffsetDateTime::from_unix_timestamp(parsed.int_claim("exp")?).ok()?;
    let ok = parsed.str_claim("iss") == Some(client_id)
        && parsed.str_claim("sub") == Some(client_id)
        && audiences.iter().any(|a| parsed.audience_contains(a))
        && exp > now
        && exp <= now + MAX_ASSERTION_LIFETIME
        && parsed
            .int_claim("nbf")
            .is_none_or(|nbf| nbf <= now.unix_timestamp() + 5);
    let jti = parsed
        .str_claim("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)?;
    ok.then(|| (jti.to_owned(), exp))
}

/// The Ed25519 key of a client's JWK Set that may verify an assertion: `alg` must be exactly
/// `EdDSA` (never `none`, never an HMAC that would use a public key as a secret), the key an
/// `OKP`/`Ed25519` one, matched by `kid` when the assertion names one.
pub fn client_key(jwks: &serde_json::Value, parsed: &jose::Parsed) -> Option<[u8; 32]> {
    if parsed.alg() != "EdDSA" {
        return None;
    }
    jwks.get("keys")?.as_array()?.iter().find_map(|k| {
        let kid_ok = parsed
            .kid()
            .is_none_or(|kid| k.get("kid").and_then(|v| v.as_str()) == Some(kid));
        let type_ok = k.get("kty").and_then(|v| v.as_str()) == Some("OKP")
            && k.get("crv").and_then(|v| v.as_str()) == Some("Ed25519")
            && k.get("alg")
                .and_then(|v| v.as_str())
                .is_none_or(|a| a == "EdDSA");
        if !(kid_ok && type_ok) {
            return None;
        }
        let x = jose::unb64(k.get("x")?.as_str()?)?;
        <[u8; 32]>::try_from(x.as_slice()).ok()
    })
}

#[cfg(test)]
mod tests;
