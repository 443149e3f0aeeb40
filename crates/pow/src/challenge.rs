//! The challenge, its wire form and its MAC.
//!
//! Wire layout (then base64url without padding):
//! ```text
//! version u8 (=1) | random [32] | difficulty u8 | issued_at i64 BE | expires_at i64 BE
//! | action_len u8 | action [action_len] | mac [32]
//! ```
//! `mac = HMAC-SHA256(secret, MAC_CONTEXT || everything before the mac)`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::PowError;
use crate::work::{WorkHasher, meets_difficulty};

/// Wire format version written by [`Challenge::encode`].
pub const WIRE_VERSION: u8 = 1;
/// Random bytes per challenge.
pub const RANDOM_LEN: usize = 32;
/// Longest accepted action name, in bytes.
pub const MAX_ACTION_LEN: usize = 64;
/// Longest challenge lifetime [`Challenge::issue`] accepts.
pub const MAX_TTL: Duration = Duration::hours(1);
/// How far in the future `issued_at` may be before a challenge is refused (replicas' clocks).
pub const MAX_CLOCK_SKEW: Duration = Duration::seconds(30);

const MAC_LEN: usize = 32;
const FIXED_LEN: usize = 1 + RANDOM_LEN + 1 + 8 + 8 + 1 + MAC_LEN;
const MAX_WIRE_LEN: usize = FIXED_LEN + MAX_ACTION_LEN;
/// Longest encoded (base64url) challenge the decoder looks at.
pub const MAX_ENCODED_LEN: usize = MAX_WIRE_LEN.div_ceil(3) * 4;
const MAC_CONTEXT: &[u8] = b"permesi/pow/v1\0";

type HmacSha256 = Hmac<Sha256>;

/// Number of leading zero bits required, `1..=32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difficulty(u8);

impl Difficulty {
    /// Smallest accepted difficulty.
    pub const MIN: u8 = 1;
    /// Largest accepted difficulty (about 4 billion hashes on average: far beyond a browser).
    pub const MAX: u8 = 32;

    /// Validates the range.
    pub fn new(bits: u8) -> Result<Self, PowError> {
        if (Self::MIN..=Self::MAX).contains(&bits) {
            Ok(Self(bits))
        } else {
            Err(PowError::InvalidDifficulty)
        }
    }

    /// The number of bits.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// What the challenge admits to (`signup`, `login`, ...): `[a-z0-9_.:-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Action(String);

impl Action {
    /// Validates length and characters.
    pub fn new(action: impl Into<String>) -> Result<Self, PowError> {
        let action = action.into();
        let ok = !action.is_empty()
            && action.len() <= MAX_ACTION_LEN
            && action.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'.' | b':' | b'-')
            });
        if ok {
            Ok(Self(action))
        } else {
            Err(PowError::InvalidAction)
        }
    }

    /// The action name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The issuer's HMAC key (at least 32 bytes, zeroized on drop, redacted in `Debug`).
#[derive(Clone)]
pub struct PowSecret(Zeroizing<Vec<u8>>);

impl PowSecret {
    /// Minimum key length in bytes.
    pub const MIN_LEN: usize = 32;

    /// Wraps key bytes; refuses short keys.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, PowError> {
        let bytes = Zeroizing::new(bytes.into());
        if bytes.len() < Self::MIN_LEN {
            return Err(PowError::SecretTooShort);
        }
        Ok(Self(bytes))
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac =
            HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("hmac key"));
        mac.update(MAC_CONTEXT);
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for PowSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PowSecret(<redacted>)")
    }
}

/// A stateless proof-of-work challenge. Decoding checks the layout and bounds only; call
/// [`Challenge::verify`] (or the individual checks) before trusting any field.
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    random: [u8; RANDOM_LEN],
    difficulty: Difficulty,
    issued_at: i64,
    expires_at: i64,
    action: Action,
    mac: [u8; MAC_LEN],
}

impl Challenge {
    /// Issues a challenge valid from `now` for `ttl` (`0 < ttl <= MAX_TTL`, whole seconds).
    pub fn issue<R: RngCore + CryptoRng + ?Sized>(
        secret: &PowSecret,
        action: Action,
        difficulty: Difficulty,
        ttl: Duration,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<Self, PowError> {
        if ttl < Duration::seconds(1) || ttl > MAX_TTL {
            return Err(PowError::InvalidTtl);
        }
        let mut random = [0u8; RANDOM_LEN];
        rng.fill_bytes(&mut random);
        let issued_at = now.unix_timestamp();
        let mut challenge = Self {
            random,
            difficulty,
            issued_at,
            expires_at: issued_at + ttl.whole_seconds(),
            action,
            mac: [0; MAC_LEN],
        };
        challenge.mac = secret.mac(&challenge.body());
        Ok(challenge)
    }

    /// The random bytes.
    pub fn random(&self) -> &[u8; RANDOM_LEN] {
        &self.random
    }

    /// The action the challenge admits to.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Required leading zero bits.
    pub fn difficulty(&self) -> Difficulty {
        self.difficulty
    }

    /// Issue time (whole seconds).
    pub fn issued_at(&self) -> OffsetDateTime {
        unix(self.issued_at)
    }

    /// Expiry (whole seconds); the challenge is expired from this instant on.
    pub fn expires_at(&self) -> OffsetDateTime {
        unix(self.expires_at)
    }

    /// The MAC tag; also a good key for single-use bookkeeping.
    pub fn mac(&self) -> &[u8; 32] {
        &self.mac
    }

    fn body(&self) -> Vec<u8> {
        let action = self.action.as_str().as_bytes();
        let mut out = Vec::with_capacity(FIXED_LEN + action.len());
        out.push(WIRE_VERSION);
        out.extend_from_slice(&self.random);
        out.push(self.difficulty.get());
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        // Action::new bounds the length to MAX_ACTION_LEN (64), so it fits a u8.
        out.push(u8::try_from(action.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(action);
        out
    }

    /// The binary wire form (body then MAC): the bytes the work function hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.mac);
        out
    }

    /// The compact string form: base64url (no padding) of [`Challenge::to_bytes`].
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.to_bytes())
    }

    /// Parses the string form. Bounds the input length before decoding and checks the layout,
    /// the difficulty range, the action and `issued_at < expires_at`; it does NOT check the MAC.
    pub fn decode(encoded: &str) -> Result<Self, PowError> {
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(PowError::TooLong);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| PowError::Malformed)?;
        Self::from_bytes(&bytes)
    }

    /// Parses the binary form (see [`Challenge::decode`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PowError> {
        if bytes.len() > MAX_WIRE_LEN {
            return Err(PowError::TooLong);
        }
        let mut r = Reader(bytes);
        if r.take::<1>()?[0] != WIRE_VERSION {
            return Err(PowError::UnsupportedVersion);
        }
        let random = r.take::<RANDOM_LEN>()?;
        let difficulty = Difficulty::new(r.take::<1>()?[0])?;
        let issued_at = i64::from_be_bytes(r.take::<8>()?);
        let expires_at = i64::from_be_bytes(r.take::<8>()?);
        let action_len = usize::from(r.take::<1>()?[0]);
        let action = r.take_slice(action_len)?;
        let action = std::str::from_utf8(action).map_err(|_| PowError::InvalidAction)?;
        let action = Action::new(action)?;
        let mac = r.take::<MAC_LEN>()?;
        if !r.0.is_empty() || issued_at >= expires_at {
            return Err(PowError::Malformed);
        }
        // Reject timestamps `time` cannot represent, so the accessors never need to.
        if OffsetDateTime::from_unix_timestamp(issued_at).is_err()
            || OffsetDateTime::from_unix_timestamp(expires_at).is_err()
        {
            return Err(PowError::Malformed);
        }
        Ok(Self {
            random,
            difficulty,
            issued_at,
            expires_at,
            action,
            mac,
        })
    }

    /// Recomputes the MAC and compares in constant time.
    pub fn verify_mac(&self, secret: &PowSecret) -> Result<(), PowError> {
        let expected = secret.mac(&self.body());
        if bool::from(expected.ct_eq(&self.mac)) {
            Ok(())
        } else {
            Err(PowError::BadMac)
        }
    }

    /// `Expired` from `expires_at` on; `NotYetValid` if issued more than
    /// [`MAX_CLOCK_SKEW`] after `now`.
    pub fn check_time(&self, now: OffsetDateTime) -> Result<(), PowError> {
        let now = now.unix_timestamp();
        if now >= self.expires_at {
            return Err(PowError::Expired);
        }
        if self.issued_at > now.saturating_add(MAX_CLOCK_SKEW.whole_seconds()) {
            return Err(PowError::NotYetValid);
        }
        Ok(())
    }

    /// Checks the work only: `SHA-256(to_bytes() || nonce_be64)` has enough leading zeros.
    pub fn verify_solution(&self, nonce: u64) -> Result<(), PowError> {
        let hash = WorkHasher::new(&self.to_bytes()).hash(nonce);
        if meets_difficulty(&hash, self.difficulty) {
            Ok(())
        } else {
            Err(PowError::InsufficientWork)
        }
    }

    /// Everything an issuer checks, in this fixed order: MAC, action, time, work.
    /// Single use is the caller's job (see the crate docs).
    pub fn verify(
        &self,
        secret: &PowSecret,
        expected_action: &str,
        nonce: u64,
        now: OffsetDateTime,
    ) -> Result<(), PowError> {
        self.verify_mac(secret)?;
        if self.action.as_str() != expected_action {
            return Err(PowError::WrongAction);
        }
        self.check_time(now)?;
        self.verify_solution(nonce)
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Challenge")
            .field("action", &self.action.as_str())
            .field("difficulty", &self.difficulty.get())
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl std::str::FromStr for Challenge {
    type Err = PowError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode(s)
    }
}

impl serde::Serialize for Challenge {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> serde::Deserialize<'de> for Challenge {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::decode(&s).map_err(serde::de::Error::custom)
    }
}

fn unix(secs: i64) -> OffsetDateTime {
    // Range checked in `from_bytes` and by construction in `issue`.
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take_slice(&mut self, n: usize) -> Result<&'a [u8], PowError> {
        if self.0.len() < n {
            return Err(PowError::Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], PowError> {
        let slice = self.take_slice(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }
}
