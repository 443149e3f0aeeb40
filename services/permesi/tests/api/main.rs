//! permesi over real HTTP, against the real PostgreSQL and Redis started by `just test`.
#![allow(clippy::unwrap_used)] // test helpers unwrap: a failure is the test failing

mod account;
mod admin;
mod audit;
mod auth;
mod mfa;
mod oidc;
mod ops;
mod passkeys;
mod password_reset;
mod session;
mod tenancy;
