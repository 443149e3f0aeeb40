//! Compact JWS: encoding what permesi signs, and parsing and Ed25519-verifying what it reads
//! (its own tokens, clients' `private_key_jwt` assertions). Nothing here trusts a header: the
//! caller decides which algorithm and key a token must use, then checks it against both.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

/// Longest token accepted for parsing (bytes); anything longer is refused unread.
pub const MAX_TOKEN: usize = 8 * 1024;

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url without padding.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// `base64url(header) . base64url(claims)`, the bytes that get signed.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    let mut out = b64(header.to_string().as_bytes());
    out.push('.');
    out.push_str(&b64(claims.to_string().as_bytes()));
    out
}

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
    /// What the signature covers.
    pub signing_input: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl Parsed {
    /// The `alg` header, `""` when absent.
    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// The `kid` header.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The `typ` header.
    pub fn typ(&self) -> Option<&str> {
        self.header.get("typ").and_then(Value::as_str)
    }

    /// A string claim.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric date claim.
    pub fn int_claim(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }

    /// Whether `aud` (a string or an array of strings) contains `wanted`.
    pub fn audience_contains(&self, wanted: &str) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(a)) => a == wanted,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(wanted)),
            _ => false,
        }
    }

    /// Whether the signature is a valid Ed25519 signature by `public_key` over the input.
    pub fn verify_ed25519(&self, public_key: &[u8; 32]) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
            return false;
        };
        let Ok(signature) = <[u8; 64]>::try_from(self.signature.as_slice()) else {
            return false;
        };
        key.verify_strict(
            self.signing_input.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .is_ok()
    }
}

/// Splits and decodes a compact JWS (three parts, JSON objects in the first two). `None` for
/// anything else, including JWE (five parts) and unsecured JWTs with an empty signature.
pub fn parse(token: &str) -> Option<Parsed> {
    if token.len() > MAX_TOKEN {
        return None;
    }
    let mut parts = token.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || signature.is_empty() {
        return None;
    }
    let object = |part: &str| match serde_json::from_slice(&unb64(part)?) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    Some(Parsed {
        header: object(header)?,
        claims: object(claims)?,
        signing_input: token[..header.len() + 1 + claims.len()].to_owned(),
        signature: unb64(signature)?,
    })
}

/// RFC 7638 thumbprint: SHA-256 of the key's required members in lexicographic order, no
/// whitespace. `members` must already be sorted.
fn thumbprint(members: &[(&str, &str)]) -> String {
    use sha2::Digest;
    let body: Vec<String> = members
        .iter()
        .map(|(name, value)| format!(r#""{name}":"{value}""#))
        .collect();
    b64(&sha2::Sha256::digest(
        format!("{{{}}}", body.join(",")).as_bytes(),
    ))
}

/// RFC 7638 thumbprint of an Ed25519 public key (the `kid` permesi publishes).
pub fn ed25519_thumbprint(public_key: &[u8; 32]) -> String {
    thumbprint(&[("crv", "Ed25519"), ("kty", "OKP"), ("x", &b64(public_key))])
}

/// RFC 7638 thumbprint of a P-256 public key.
pub fn p256_thumbprint(x: &[u8; 32], y: &[u8; 32]) -> String {
    thumbprint(&[
        ("crv", "P-256"),
        ("kty", "EC"),
        ("x", &b64(x)),
        ("y", &b64(y)),
    ])
}

/// RFC 7638 thumbprint of an RSA public key (modulus and exponent big-endian).
pub fn rsa_thumbprint(n: &[u8], e: &[u8]) -> String {
    thumbprint(&[("e", &b64(e)), ("kty", "RSA"), ("n", &b64(n))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

    fn signed(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }

    #[test]
    fn round_trip_and_tampering() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key().to_bytes();
        let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
        let token = signed(
            &key,
            &header,
            &serde_json::json!({"sub": "a", "aud": ["x", "y"]}),
        );
        let parsed = parse(&token).unwrap();
        assert_eq!((parsed.alg(), parsed.kid()), ("EdDSA", Some("k1")));
        assert!(parsed.verify_ed25519(&public));
        assert!(parsed.audience_contains("y") && !parsed.audience_contains("z"));
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        assert!(!parsed.verify_ed25519(&other.verifying_key().to_bytes()));
        // A changed payload no longer verifies.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64(br#"{"sub":"b"}"#);
        parts[1] = &forged;
        assert!(!parse(&parts.join(".")).unwrap().verify_ed25519(&public));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "e30.e30.",
            "e30.W10.c2ln",
            "!!.e30.c2ln",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse(&"a".repeat(MAX_TOKEN + 1)).is_none());
    }

    #[test]
    fn rsa_thumbprint_matches_rfc7638_example() {
        // RFC 7638 section 3.1: the example RSA key and its thumbprint.
        let n = unb64(concat!(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1",
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4",
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO",
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF",
            "Cur-kEgU8awapJzKnqDKgw",
        ))
        .unwrap();
        let e = unb64("AQAB").unwrap();
        assert_eq!(
            rsa_thumbprint(&n, &e),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn thumbprint_matches_rfc8037_example() {
        // RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
        let x = unb64("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        let x: [u8; 32] = x.try_into().unwrap();
        assert_eq!(
            ed25519_thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
