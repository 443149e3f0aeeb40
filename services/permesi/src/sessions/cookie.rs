//! The session cookie: a 256-bit secret from the OS CSPRNG, sent as 64 lowercase hex digits,
//! stored only as its SHA-256; the `Set-Cookie` values; and a strict `Cookie` header parser.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::SessionPolicy;

/// Secret length in bytes.
pub const SECRET_LEN: usize = 32;
/// Length of the cookie value: the secret in lowercase hex.
pub const COOKIE_VALUE_LEN: usize = 2 * SECRET_LEN;
/// Longest `Cookie` header (each one, HTTP/2 may send several) that is looked at; longer ones
/// are ignored as a whole.
pub const MAX_COOKIE_HEADER_LEN: usize = 8192;

/// A session cookie value: the secret, as presented by a browser or freshly made. Its `Debug`
/// is redacted and its memory zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct CookieValue(Zeroizing<String>);

impl std::fmt::Debug for CookieValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieValue([redacted])")
    }
}

impl CookieValue {
    /// A fresh value: 256 bits from the operating system's CSPRNG.
    pub(crate) fn generate() -> Self {
        let mut raw = Zeroizing::new([0_u8; SECRET_LEN]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, raw.as_mut_slice());
        let mut text = Zeroizing::new(String::with_capacity(COOKIE_VALUE_LEN));
        for byte in raw.iter() {
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Self(text)
    }

    /// Accepts exactly 64 lowercase hex digits (one spelling per secret); `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == COOKIE_VALUE_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(Zeroizing::new(text.to_owned())))
    }

    /// The text that goes in the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored form: SHA-256 of the raw secret.
    pub(crate) fn hash(&self) -> [u8; 32] {
        let mut raw = Zeroizing::new([0_u8; SECRET_LEN]);
        for (i, pair) in self.0.as_bytes().chunks_exact(2).enumerate() {
            // `parse` and `generate` only ever hold lowercase hex digits.
            raw[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
        }
        Sha256::digest(raw.as_slice()).into()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

/// `Set-Cookie` value that installs `value`:
/// `<name>=<value>; Path=/; HttpOnly; SameSite=Lax; Max-Age=<absolute seconds>; Secure`, the
/// `Secure` attribute left out only when the policy relaxes it (plain-HTTP localhost).
pub fn set_cookie(value: &CookieValue, policy: &SessionPolicy) -> String {
    cookie(
        policy,
        value.as_str(),
        policy.absolute().whole_seconds().max(0),
    )
}

/// `Set-Cookie` value that removes the cookie (empty value, `Max-Age=0`, same attributes).
pub fn clear_cookie(policy: &SessionPolicy) -> String {
    cookie(policy, "", 0)
}

fn cookie(policy: &SessionPolicy, value: &str, max_age: i64) -> String {
    let secure = if policy.secure() { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        policy.cookie_name()
    )
}

/// The session cookie in the request's `Cookie` headers, parsed strictly: the name must match
/// exactly (`permesi_session2` is another cookie), the value must be a well-formed session
/// value (64 lowercase hex digits, so oversized values are refused), and a name present more
/// than once gives `None`: a second cookie of the same name can be planted by a sibling
/// subdomain (cookie tossing), and guessing which one is ours could log the user into the
/// planter's session. Headers longer than [`MAX_COOKIE_HEADER_LEN`] or not ASCII are skipped.
pub fn cookie_from_headers(headers: &HeaderMap, name: &str) -> Option<CookieValue> {
    cookie_value(headers, name).and_then(CookieValue::parse)
}

/// The raw value of the cookie `name`: `None` when absent, when it appears more than once (an
/// ambiguity a planted cookie could exploit), or when the `Cookie` header is oversized.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found: Option<&str> = None;
    for header in headers.get_all(header::COOKIE) {
        if header.len() > MAX_COOKIE_HEADER_LEN {
            continue;
        }
        let Ok(text) = header.to_str() else {
            continue;
        };
        for pair in text.split(';') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            if key.trim_matches([' ', '\t']) != name {
                continue;
            }
            if found.is_some() {
                return None;
            }
            found = Some(value.trim_matches([' ', '\t']));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use time::Duration;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::COOKIE, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn policy(secure: bool) -> SessionPolicy {
        SessionPolicy::new(Duration::minutes(30), Duration::hours(12), secure).unwrap()
    }

    #[test]
    fn values_are_64_lowercase_hex_and_distinct() {
        let a = CookieValue::generate();
        let b = CookieValue::generate();
        assert_eq!(a.as_str().len(), COOKIE_VALUE_LEN);
        assert_eq!(CookieValue::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "CookieValue([redacted])");
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn hash_is_sha256_of_the_raw_secret() {
        let value = CookieValue::parse(&"00".repeat(32)).unwrap();
        let expected: [u8; 32] = Sha256::digest([0_u8; 32]).into();
        assert_eq!(value.hash(), expected);
        let value = CookieValue::parse(&"ff".repeat(32)).unwrap();
        let expected: [u8; 32] = Sha256::digest([0xff_u8; 32]).into();
        assert_eq!(value.hash(), expected);
    }

    #[test]
    fn parsing_a_value_is_strict() {
        let good = "0123456789abcdef".repeat(4);
        assert!(CookieValue::parse(&good).is_some());
        assert!(CookieValue::parse(&good[..63]).is_none());
        assert!(CookieValue::parse(&format!("{good}0")).is_none());
        assert!(CookieValue::parse(&good.to_uppercase()).is_none());
        assert!(CookieValue::parse(&format!("{}g", &good[..63])).is_none());
        assert!(CookieValue::parse(&format!("\"{}\"", &good[..62])).is_none());
        assert!(CookieValue::parse("").is_none());
    }

    #[test]
    fn set_cookie_has_the_hardening_attributes() {
        let value = CookieValue::generate();
        let secure = set_cookie(&value, &policy(true));
        assert_eq!(
            secure,
            format!(
                "__Host-permesi_session={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200; Secure",
                value.as_str()
            )
        );
        let relaxed = set_cookie(&value, &policy(false));
        assert_eq!(
            relaxed,
            format!(
                "permesi_session={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200",
                value.as_str()
            )
        );
        assert!(!relaxed.contains("Secure"));
        assert!(HeaderValue::from_str(&secure).is_ok());
    }

    #[test]
    fn clear_cookie_expires_it_with_the_same_attributes() {
        assert_eq!(
            clear_cookie(&policy(true)),
            "__Host-permesi_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
        assert_eq!(
            clear_cookie(&policy(false)),
            "permesi_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }

    #[test]
    fn the_cookie_is_found_among_others_by_exact_name() {
        let value = CookieValue::generate();
        let v = value.as_str();
        let name = "permesi_session";
        for header in [
            format!("permesi_session={v}"),
            format!("a=1; permesi_session={v}; b=2"),
            format!("permesi_session2=x; xpermesi_session=y; permesi_session={v}"),
            format!("theme=dark;permesi_session={v}"),
        ] {
            assert_eq!(
                cookie_from_headers(&headers(&[&header]), name),
                Some(value.clone()),
                "{header}"
            );
        }
        // HTTP/2 may split cookies across several headers.
        assert_eq!(
            cookie_from_headers(&headers(&["a=1", &format!("permesi_session={v}")]), name),
            Some(value.clone())
        );
    }

    #[test]
    fn near_misses_oversized_and_duplicates_are_refused() {
        let v = CookieValue::generate();
        let v = v.as_str();
        let name = "permesi_session";
        for header in [
            String::new(),
            format!("permesi_session2={v}"),
            format!("xpermesi_session={v}"),
            format!("Permesi_session={v}"),
            format!("permesi_session_={v}"),
            format!("permesi_session={v}0"),
            format!("permesi_session={}", "a".repeat(10_000)),
            format!("permesi_session={}", &v[..63]),
            format!("permesi_session=\"{v}\""),
            format!("permesi_session={}", v.to_uppercase()),
            "permesi_session".to_owned(),
            "permesi_session=".to_owned(),
            format!("permesi_session={v}; permesi_session={v}"),
        ] {
            assert_eq!(
                cookie_from_headers(&headers(&[&header]), name),
                None,
                "{header}"
            );
        }
        // The same name in two headers is as ambiguous as twice in one.
        let twice = format!("permesi_session={v}");
        assert_eq!(cookie_from_headers(&headers(&[&twice, &twice]), name), None);
        // An oversized header is skipped as a whole, even with a good pair in it.
        let padded = format!(
            "pad={}; permesi_session={v}",
            "p".repeat(MAX_COOKIE_HEADER_LEN)
        );
        assert_eq!(cookie_from_headers(&headers(&[&padded]), name), None);
        assert_eq!(cookie_from_headers(&HeaderMap::new(), name), None);
    }
}
