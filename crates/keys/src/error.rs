//! The crate's one error type.

/// Everything a key backend can fail with.
///
/// The variants are closed and coarse on purpose: callers map them to a
/// readiness state or an HTTP status, and the messages (never key material)
/// go to logs. [`KeysError::code`] is the stable wire/log form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The backend could not be reached or answered with a server error
    /// (connection refused, 5xx, sealed Vault, 429).
    #[error("key backend unavailable: {0}")]
    Unavailable(String),
    /// A call to the backend did not finish within its deadline.
    #[error("key backend call timed out")]
    Timeout,
    /// The backend refused the credentials or the policy forbids the call (401/403).
    #[error("key backend denied the request: {0}")]
    Denied(String),
    /// The key, key version or secret does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend rejected the request as invalid (Vault 400), e.g. signing
    /// with a key version it does not have.
    #[error("key backend rejected the request: {0}")]
    Rejected(String),
    /// A ciphertext is malformed, was made under another key, was tampered
    /// with, or its associated data does not match.
    #[error("ciphertext could not be decrypted")]
    Decrypt,
    /// Stored key material or a backend answer could not be parsed or is inconsistent.
    #[error("corrupt key data: {0}")]
    Corrupt(String),
    /// A name (key or secret) is not acceptable, e.g. it contains `/` or `..`.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// The backend configuration is invalid (bad address, unsafe permissions...).
    #[error("invalid key backend configuration: {0}")]
    Config(String),
    /// A local file-system operation failed.
    #[error("key store I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl KeysError {
    /// Stable, short identifier of the variant, for logs, metrics and audit events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::Timeout => "timeout",
            Self::Denied(_) => "denied",
            Self::NotFound(_) => "not_found",
            Self::Rejected(_) => "rejected",
            Self::Decrypt => "decrypt",
            Self::Corrupt(_) => "corrupt",
            Self::InvalidName(_) => "invalid_name",
            Self::Config(_) => "config",
            Self::Io(_) => "io",
        }
    }

    /// Whether retrying the same call later may succeed (the backend was down or slow).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout)
    }
}
