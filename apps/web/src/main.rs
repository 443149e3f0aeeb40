//! The permesi console: a Leptos client-side-rendered (CSR) single-page app, compiled to
//! WebAssembly and bundled by Trunk (with Tailwind CSS) into static files under `dist/`.
//!
//! It is the browser face of permesi at `permesi.localhost`. Today it is an app shell with a
//! status page that probes genesis (`/health`) and permesi (`/health`, `/ready`); signup, login,
//! MFA, organizations, admin and the OIDC consent pages will live here too.
//!
//! Layout:
//! - [`config`]: build-time settings (`PERMESI_API_BASE_URL`, `PERMESI_TOKEN_BASE_URL`,
//!   `PERMESI_CLIENT_ID`).
//! - [`url`], [`status`]: plain, host-tested logic (URL joining, reading health/ready answers).
//! - [`api`]: browser `fetch` with a time limit.
//! - [`app`], [`components`], [`pages`]: the Leptos views.

mod api;
mod app;
mod components;
mod config;
mod pages;
mod status;
mod url;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
