//! TOTP (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits — what every authenticator app
//! accepts. Codes are accepted for the current step and one either side (clock drift), each
//! step at most once (the caller stores the newest accepted step).

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps accepted either side of now.
pub const DRIFT_STEPS: i64 = 1;

/// A 160-bit TOTP secret (the size RFC 4226 recommends for SHA-1).
#[derive(Clone)]
pub struct Secret(pub [u8; 20]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl Secret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        Self(bytes)
    }

    /// RFC 4648 base32 without padding (20 bytes → 32 characters), as apps expect.
    pub fn base32(&self) -> String {
        let mut out = String::with_capacity(32);
        for chunk in self.0.chunks(5) {
            let mut buf = [0u8; 5];
            buf[..chunk.len()].copy_from_slice(chunk);
            let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            for i in 0..8 {
                let index = usize::try_from((bits >> (35 - 5 * i)) & 31).unwrap_or(0);
                out.push(char::from(BASE32[index]));
            }
        }
        out
    }

    /// Parses the base32 form (as an authenticator app reads it); `None` unless it is 20 bytes.
    pub fn from_base32(text: &str) -> Option<Self> {
        let mut bits = 0u64;
        let mut count = 0u32;
        let mut out = Vec::with_capacity(20);
        for c in text.trim_end_matches('=').bytes() {
            let value = BASE32.iter().position(|b| *b == c.to_ascii_uppercase())?;
            bits = (bits << 5) | u64::try_from(value).ok()?;
            count += 5;
            if count >= 8 {
                count -= 8;
                out.push(u8::try_from((bits >> count) & 0xff).ok()?);
            }
        }
        <[u8; 20]>::try_from(out.as_slice()).ok().map(Self)
    }

    /// The `otpauth://` URI an authenticator app scans: issuer and account label.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            percent(&label),
            self.base32(),
            percent(issuer)
        )
    }
}

fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The time step of a Unix time.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code of `step` with `digits` digits (RFC 4226 dynamic truncation).
pub fn code_at(secret: &[u8], step: i64, digits: u32) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes any key size");
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    let value = binary % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The step a presented code matches at `now_step` (± [`DRIFT_STEPS`]), newer than
/// `last_step`; `None` when it matches none. Every candidate is compared, in constant time.
pub fn verify(
    secret: &Secret,
    presented: &str,
    now_step: i64,
    last_step: Option<i64>,
) -> Option<i64> {
    let presented = presented.trim();
    if presented.len() != DIGITS as usize || !presented.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut matched = None;
    for step in now_step - DRIFT_STEPS..=now_step + DRIFT_STEPS {
        let expected = code_at(&secret.0, step, DIGITS);
        let equal: bool = expected.as_bytes().ct_eq(presented.as_bytes()).into();
        if equal && last_step.is_none_or(|last| step > last) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, 8 digits, secret "12345678901234567890".
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, step_of(time), 8), code, "at {time}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        let secret = Secret(*b"12345678901234567890");
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let random = Secret::generate();
        assert_eq!(Secret::from_base32(&random.base32()).unwrap().0, random.0);
        assert!(Secret::from_base32("GEZDGNBV").is_none());
        assert!(Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1").is_none());
    }

    #[test]
    fn codes_are_accepted_once_within_the_drift_window() {
        let secret = Secret::generate();
        let now = 1_000_000;
        let code = code_at(&secret.0, now, DIGITS);
        assert_eq!(verify(&secret, &code, now, None), Some(now));
        // Replay of the same step is refused.
        assert_eq!(verify(&secret, &code, now, Some(now)), None);
        // The previous step's code still works once, the one before it not.
        let previous = code_at(&secret.0, now - 1, DIGITS);
        assert_eq!(
            verify(&secret, &previous, now, Some(now - 2)),
            Some(now - 1)
        );
        let old = code_at(&secret.0, now - 2, DIGITS);
        if old != code && old != previous && old != code_at(&secret.0, now + 1, DIGITS) {
            assert_eq!(verify(&secret, &old, now, None), None);
        }
        for bad in ["", "12345", "1234567", "12345a", " 12 345"] {
            assert_eq!(verify(&secret, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let secret = Secret(*b"12345678901234567890");
        assert_eq!(
            secret.otpauth_uri("permesi", "ada@example.com"),
            "otpauth://totp/permesi%3Aada@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=permesi&algorithm=SHA1&digits=6&period=30"
        );
    }
}
