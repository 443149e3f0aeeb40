//! Verification tokens: 256 random bits, shown once as base64url (43 characters, no padding),
//! stored only as their SHA-256.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Raw token length in bytes.
pub const TOKEN_LEN: usize = 32;
/// Length of the base64url text of a token.
pub const TOKEN_TEXT_LEN: usize = 43;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A fresh token, held only in memory (zeroed on drop).
pub(crate) struct Token(Zeroizing<[u8; TOKEN_LEN]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    /// 256 bits from the operating system's CSPRNG.
    pub(crate) fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, bytes.as_mut_slice());
        Self(bytes)
    }

    /// The stored form.
    pub(crate) fn hash(&self) -> [u8; 32] {
        hash(&self.0)
    }

    /// The text that goes in the link.
    pub(crate) fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(encode(self.0.as_slice()))
    }
}

/// SHA-256 of the raw token bytes.
pub(crate) fn hash(raw: &[u8; TOKEN_LEN]) -> [u8; 32] {
    Sha256::digest(raw).into()
}

/// base64url without padding.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .and_then(|p| u32::try_from(p).ok())
}

/// Strictly decodes a presented token: exactly 43 base64url characters whose unused low bits
/// are zero, so each token has one text form. `None` for anything else.
/// The stored form of a presented token text, or `None` when the text cannot be a token
/// (checked before any database lookup).
pub(crate) fn hash_presented(text: &str) -> Option<[u8; 32]> {
    decode(text).map(|raw| hash(&raw))
}

pub(crate) fn decode(text: &str) -> Option<Zeroizing<[u8; TOKEN_LEN]>> {
    let text = text.as_bytes();
    if text.len() != TOKEN_TEXT_LEN {
        return None;
    }
    let mut out = Zeroizing::new([0_u8; TOKEN_LEN]);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut written = 0;
    for &c in text {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if written < TOKEN_LEN {
                out[written] = u8::try_from((acc >> bits) & 0xff).ok()?;
                written += 1;
            }
            acc &= (1 << bits) - 1;
        }
    }
    // 43 * 6 = 258 bits: 256 used, the 2 left over must be zero.
    (written == TOKEN_LEN && acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_rfc_4648_base64url() {
        // RFC 4648 section 10 vectors, padding dropped.
        for (raw, text) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(raw.as_bytes()), text);
        }
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn round_trips_and_is_unique() {
        let a = Token::generate();
        let b = Token::generate();
        let text = a.encode();
        assert_eq!(text.len(), TOKEN_TEXT_LEN);
        assert_eq!(*decode(&text).unwrap(), *a.0);
        assert_ne!(*a.0, *b.0);
        assert_eq!(a.hash(), hash(&decode(&text).unwrap()));
        assert_eq!(format!("{a:?}"), "Token([redacted])");
    }

    #[test]
    fn decoding_is_strict() {
        let text = Token::generate().encode().to_string();
        assert!(decode(&text[..42]).is_none());
        assert!(decode(&format!("{text}A")).is_none());
        assert!(decode(&format!("{}=", &text[..42])).is_none());
        assert!(decode(&format!("{}+", &text[..42])).is_none());
        // The last character carries 4 bits and 2 zero bits: a non-zero tail is refused, so
        // no token has two spellings.
        let zero_tail = format!("{}A", &text[..42]);
        let set_tail = format!("{}B", &text[..42]);
        assert!(decode(&zero_tail).is_some());
        assert!(decode(&set_tail).is_none());
    }
}
