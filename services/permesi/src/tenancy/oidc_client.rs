//! An application's OpenID Connect client settings beyond its redirects and grants: the keys it
//! signs `private_key_jwt` assertions with, its subject type, and its ID token algorithm.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    error::Error,
    oidc::{SubjectType, keys::Alg},
};

/// Most keys a client may register.
pub const MAX_KEYS: usize = 10;
/// Largest JWK Set accepted, serialized.
pub const MAX_JWKS_BYTES: usize = 8 * 1024;

/// An application's OIDC client settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcClientSettings {
    /// `public` or `pairwise`.
    pub subject_type: SubjectType,
    /// `EdDSA`, `ES256` or `RS256` (one the provider signs with).
    pub id_token_signed_response_alg: Alg,
    /// Public keys for `private_key_jwt` client authentication: a JWK Set of Ed25519 keys
    /// (`{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "...", "kid": "..."}]}`); `null` for
    /// none. Private key members are refused.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
}

fn is_b64url_32(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a client JWK Set: an object with 1 to [`MAX_KEYS`] Ed25519 public keys, no private
/// key material, at most [`MAX_JWKS_BYTES`].
pub fn validate_jwks(jwks: &Value) -> Result<(), Error> {
    let invalid = || Error::Invalid("invalid_jwks");
    let text = jwks.to_string();
    // PostgreSQL's JSONB refuses `\u0000`: refused here as bad input, not there as a 503.
    if text.len() > MAX_JWKS_BYTES || text.contains("\\u0000") {
        return Err(invalid());
    }
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(invalid)?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(invalid());
    }
    for key in keys {
        let key = key.as_object().ok_or_else(invalid)?;
        let private = ["d", "p", "q", "dp", "dq", "qi", "k"];
        if private.iter().any(|m| key.contains_key(*m)) {
            return Err(Error::Invalid("private_key_in_jwks"));
        }
        let field = |name: &str| key.get(name).and_then(Value::as_str);
        if field("kty") != Some("OKP")
            || field("crv") != Some("Ed25519")
            || !field("x").is_some_and(is_b64url_32)
            || key.get("alg").is_some_and(|a| a.as_str() != Some("EdDSA"))
        {
            return Err(invalid());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn only_public_ed25519_key_sets_are_accepted() {
        assert!(
            validate_jwks(&json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "a"}]}))
                .is_ok()
        );
        for (bad, code) in [
            (json!({"keys": []}), "invalid_jwks"),
            (json!([]), "invalid_jwks"),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-256", "x": X, "y": X}]}),
                "invalid_jwks",
            ),
            (
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "short"}]}),
                "invalid_jwks",
            ),
            (
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "a\u{0}"}]}),
                "invalid_jwks",
            ),
            (
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "alg": "HS256"}]}),
                "invalid_jwks",
            ),
            (
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "d": X}]}),
                "private_key_in_jwks",
            ),
            (
                json!({"keys": [{"kty": "oct", "k": X}]}),
                "private_key_in_jwks",
            ),
        ] {
            match validate_jwks(&bad) {
                Err(Error::Invalid(got)) => assert_eq!(got, code, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let many: Vec<Value> = (0..=MAX_KEYS)
            .map(|i| json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": i.to_string()}))
            .collect();
        assert!(validate_jwks(&json!({ "keys": many })).is_err());
    }
}
