//! permesi's OPAQUE contract (RFC 9807), on top of opaque-ke 4.0.
//!
//! OPAQUE is an augmented PAKE: the client proves it knows the password without ever sending it,
//! and the server stores only a registration record from which the password cannot be checked
//! offline without the server's OPRF key. This crate fixes every choice that both sides must
//! agree on and wraps opaque-ke in a small API that speaks base64url strings:
//!
//! - [`suite`]: the cipher suite ([`suite::Suite`]: ristretto255 OPRF, 3DH with SHA-512, Argon2id
//!   on the client with m = 64 MiB, t = 3, p = 4), the exact size of every message, and the wire
//!   encoding ([`suite::b64`]: base64url without padding, sizes checked before decoding).
//! - [`server`]: pure, synchronous functions for the service. [`server::ServerKeys::from_seed`]
//!   derives the whole server setup from a 32-byte seed (kept by the `SecretStore`), so replicas
//!   agree; registration and login start/finish; unknown accounts get opaque-ke's fake record.
//!   It stores nothing: the caller keeps records and the short-lived login state.
//! - [`client`]: the client side, for the CLI, tests, benchmarks and the console (WASM).
//!
//! This crate depends on no web framework, database or async runtime, and builds for
//! `wasm32-unknown-unknown` (randomness comes from `getrandom`'s `js` backend there).
//!
//! The README beside this crate documents the wire formats and endpoints for other clients.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod server;
pub mod suite;

mod keys;

pub use keys::{ExportKey, SessionKey};

/// Errors of both sides. On purpose, nothing tells "no such account" from "wrong password".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A message from the other side did not decode: bad base64url, wrong size, or bytes that are
    /// not a valid group element. Checked before any account-dependent work.
    #[error("malformed OPAQUE message")]
    Malformed,
    /// The login did not authenticate: wrong password, unknown account, a login state that
    /// belongs to another login, or (client side) a response not made for this password.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A stored registration record or login state did not decode: a server-side fault, never
    /// the client's.
    #[error("stored OPAQUE data is corrupt")]
    CorruptData,
    /// Argon2 rejected the KSF parameters given to [`client::Params::custom`].
    #[error("invalid key stretching parameters")]
    InvalidParams,
    /// opaque-ke failed internally (should not happen).
    #[error("internal OPAQUE error")]
    Internal,
}

impl Error {
    /// Stable machine-readable code, for problem+json bodies, logs and audit events.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::AuthenticationFailed => "authentication_failed",
            Self::CorruptData => "corrupt_data",
            Self::InvalidParams => "invalid_params",
            Self::Internal => "internal",
        }
    }
}

/// Maps opaque-ke errors on a message received from the peer.
fn from_protocol(e: &opaque_ke::errors::ProtocolError) -> Error {
    use opaque_ke::errors::ProtocolError as P;
    match e {
        P::InvalidLoginError | P::ReflectedValueError => Error::AuthenticationFailed,
        P::SerializationError | P::SizeError { .. } => Error::Malformed,
        P::LibraryError(_) | P::Custom(_) => Error::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let all = [
            Error::Malformed,
            Error::AuthenticationFailed,
            Error::CorruptData,
            Error::InvalidParams,
            Error::Internal,
        ];
        let codes: Vec<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(
            codes,
            [
                "malformed",
                "authentication_failed",
                "corrupt_data",
                "invalid_params",
                "internal"
            ]
        );
    }
}
