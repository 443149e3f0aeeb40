//! genesis: permesi's public edge, "the bouncer".
//!
//! It rate-limits callers, hands out proof-of-work challenges and mints short-lived PASETO
//! v4.public admission tokens that permesi verifies offline against `/paserk.json`. It never
//! sees credentials and keeps no state but replay protection.
//!
//! Layout: [`config`] (typed settings), [`app`] (state, router assembly), [`api`] (thin
//! handlers), [`error`] (the one error type and its HTTP mapping). Domain, testable without
//! HTTP: [`admission`] (the mint, key rotation plan, action policy), [`ratelimit`], [`load`] (difficulty boost), [`audit`] (minted ids).
//! [`keys_cli`] is `genesis keys list|rotate|validate`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admission;
pub mod api;
pub mod app;
pub mod audit;
pub mod config;
pub mod error;
pub mod keys_cli;
pub mod load;
pub mod ratelimit;

pub use app::Genesis;
