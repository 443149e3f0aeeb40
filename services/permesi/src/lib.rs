//! permesi: the core identity authority.
//!
//! It verifies genesis admission tokens offline, runs OPAQUE signup and login (the password
//! never reaches the server), sessions, MFA and passkeys, an OpenID Connect provider, tenancy
//! and the audit log. PostgreSQL is its system of record.
//!
//! Layout: [`config`] (typed settings), [`app`] (state, router, middleware), [`api`] (thin
//! handlers), [`error`] (the one error type and its HTTP mapping).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admission_gate;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod csrf;
pub mod dev_cli;
pub mod error;
pub mod identity;
pub mod mfa;
pub mod oidc;
pub mod operators;
pub mod sessions;
pub mod store;
pub mod tenancy;
pub mod throttle;
pub mod verification;

pub use app::Permesi;
