//! Stateless proof-of-work challenges for permesi's admission edge (genesis).
//!
//! Layers, bottom up:
//! - [`work`]: the work function. `SHA-256(challenge_wire_bytes || nonce_be64)` must start with
//!   at least `difficulty` zero bits.
//! - [`Challenge`]: random bytes, an [`Action`], a [`Difficulty`], issue and expiry times, and an
//!   HMAC-SHA256 tag by the issuer's [`PowSecret`]. Its wire form is one compact base64url
//!   string, so the issuer stores nothing; the decoder bounds every size before it parses.
//! - [`solve`]: the client-side search for a nonce, with a progress / cancel callback.
//!
//! Single use of a challenge is *not* here: the issuer records a solved challenge (for example
//! `SET NX PX` in Valkey until its expiry) because that needs shared state.
//!
//! Deliberately does not depend on tokio, any web framework, sqlx, or an RNG implementation
//! (only `rand_core` traits): the same crate builds for `wasm32-unknown-unknown`, where the
//! browser console solves challenges, and clocks are always passed in as `now`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod challenge;
mod error;
mod solve;
pub mod work;

pub use challenge::{
    Action, Challenge, Difficulty, MAX_ACTION_LEN, MAX_CLOCK_SKEW, MAX_ENCODED_LEN, MAX_TTL,
    PowSecret, RANDOM_LEN, WIRE_VERSION,
};
pub use error::PowError;
pub use solve::{PROGRESS_INTERVAL, solve, solve_range};
