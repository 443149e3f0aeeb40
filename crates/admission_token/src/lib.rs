//! The admission-token contract between genesis (the edge mint) and permesi (the core).
//!
//! Layers, bottom up:
//! - [`pae`]: PASETO's pre-authentication encoding.
//! - [`paserk`]: `k4.public.` key strings and their `k4.pid.` ids ([`Kid`]).
//! - [`Claims`]: `iss`, `aud`, `action`, `iat`, `nbf`, `exp` (RFC 3339 strings), `jti`
//!   (128 random bits, base64url).
//! - [`mint`]: builds a PASETO `v4.public` token whose signature comes from any
//!   [`keys::Signer`] (a local key file or Vault Transit): this crate builds the PAE, the signer
//!   only signs bytes. Footer `{"kid":"k4.pid..."}`; no implicit assertion.
//! - [`Keyset`]: the published `/paserk.json` document, validated on construction.
//! - [`Verifier`]: offline verification in a fixed order: size, header, footer and kid, key
//!   lookup, Ed25519 signature over the PAE, then `iss`, `aud`, `action`, time claims (with
//!   leeway) and maximum TTL. Errors carry stable codes ([`VerifyError::code`]).
//! - [`KeysetSource`] and [`TokenVerifier`]: where the keyset comes from (inline JSON, a file,
//!   or, with the default `fetch` feature, a URL cached with a TTL and refreshed on an unknown
//!   kid at most once per cooldown, concurrent refreshes coalesced), with an injected [`Clock`].
//!
//! Single use of `jti` is deliberately *not* here: services keep that in Valkey, using
//! [`VerifiedToken::jti`] and [`VerifiedToken::expires_at`].
//!
//! Deliberately does not depend on any web framework (axum, tower) or on sqlx; tokio and reqwest
//! come only with the `fetch` feature, and `keys` is used without its backends
//! (`default-features = false`) for the `Signer` trait alone.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod claims;
mod clock;
mod keyset;
mod mint;
pub mod pae;
pub mod paserk;
mod source;
mod verify;

#[cfg(feature = "fetch")]
mod cache;

pub use claims::{Claims, ClaimsError, Jti, MAX_CLAIM_LEN};
pub use clock::{Clock, ManualClock, SystemClock};
pub use keyset::{
    KeyStatus, Keyset, KeysetBuilder, KeysetEntry, KeysetError, MAX_KEYS, MAX_KEYSET_BYTES,
};
pub use mint::{MintError, SignatureCheck, mint, mint_with};
pub use paserk::Kid;
pub use source::{KeysetSource, SourceError, TokenVerifier};
pub use verify::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, DEFAULT_MAX_TTL, HEADER, VerifiedToken, Verifier,
    VerifierConfig, VerifyError,
};

#[cfg(feature = "fetch")]
pub use cache::{CacheOptions, CachedKeyset, HttpKeysetFetcher, KeysetFetcher};
