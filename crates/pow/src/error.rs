//! The crate's one error type.

/// Why a challenge could not be built, decoded or verified, or a solve stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PowError {
    /// The encoded challenge is longer than [`crate::MAX_ENCODED_LEN`].
    #[error("challenge too long")]
    TooLong,
    /// The encoded challenge is not valid base64url (no padding) or its layout is wrong.
    #[error("malformed challenge")]
    Malformed,
    /// The wire format version byte is not one this crate knows.
    #[error("unsupported challenge version")]
    UnsupportedVersion,
    /// Difficulty outside [`crate::Difficulty::MIN`]..=[`crate::Difficulty::MAX`].
    #[error("difficulty out of range")]
    InvalidDifficulty,
    /// Action empty, too long, or with characters outside `[a-z0-9_.:-]`.
    #[error("invalid action")]
    InvalidAction,
    /// TTL not positive or above [`crate::MAX_TTL`].
    #[error("invalid ttl")]
    InvalidTtl,
    /// The MAC secret is shorter than [`crate::PowSecret::MIN_LEN`] bytes.
    #[error("secret too short")]
    SecretTooShort,
    /// The MAC does not match: the challenge was not issued with this secret or was altered.
    #[error("bad challenge mac")]
    BadMac,
    /// The challenge is past its expiry.
    #[error("challenge expired")]
    Expired,
    /// The challenge claims to be issued in the future (beyond [`crate::MAX_CLOCK_SKEW`]).
    #[error("challenge not yet valid")]
    NotYetValid,
    /// The challenge was issued for another action.
    #[error("wrong action")]
    WrongAction,
    /// The nonce does not produce enough leading zero bits.
    #[error("insufficient work")]
    InsufficientWork,
    /// The solver's callback asked it to stop, or the nonce range was exhausted.
    #[error("solve cancelled")]
    Cancelled,
}

impl PowError {
    /// Stable, ASCII code for logs and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong | Self::Malformed | Self::UnsupportedVersion => "malformed",
            Self::InvalidDifficulty => "invalid_difficulty",
            Self::InvalidAction => "invalid_action",
            Self::InvalidTtl => "invalid_ttl",
            Self::SecretTooShort => "secret_too_short",
            Self::BadMac => "bad_mac",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongAction => "wrong_action",
            Self::InsufficientWork => "insufficient_work",
            Self::Cancelled => "cancelled",
        }
    }
}
