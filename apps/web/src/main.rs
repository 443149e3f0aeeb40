//! The permesi console: a Leptos client-side-rendered (CSR) single-page app, compiled to
//! WebAssembly and bundled by Trunk (with Tailwind CSS) into static files under `dist/`.
//!
//! It is the browser face of permesi at `permesi.localhost`: sign up and email verification,
//! login (passkey, password, MFA), the account's security page, organizations with their
//! projects, environments, applications and members, the operators' admin pages, the OIDC
//! login and consent pages, and a status page that probes genesis and permesi.
//!
//! Layout:
//! - [`config`]: build-time settings (`PERMESI_API_BASE_URL`, `PERMESI_TOKEN_BASE_URL`,
//!   `PERMESI_CLIENT_ID`).
//! - [`url`], [`status`]: plain, host-tested logic (URL joining, reading health/ready answers).
//! - [`api`]: browser `fetch` with a time limit (status probes).
//! - [`client`]: the typed permesi/genesis API and its error type; [`admission`]: proof of work
//!   and OPAQUE steps with progress; [`webauthn`]: passkey ceremonies; [`session`]: who is
//!   signed in; [`reauth`]: step-up re-authentication ("Confirm it's you"); [`link`]: the
//!   token of an emailed link.
//! - [`app`], [`components`], [`pages`]: the Leptos views.

mod admission;
mod api;
mod app;
mod client;
mod components;
mod config;
mod link;
mod pages;
mod reauth;
mod session;
mod status;
mod url;
mod webauthn;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
