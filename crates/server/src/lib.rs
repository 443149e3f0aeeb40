//! HTTP service plumbing shared by `genesis` and `permesi`.
//!
//! Both services are thin axum routers over domain crates; everything that is the same for both
//! lives here so it is written, tested and fixed once:
//!
//! - [`settings`]: typed settings, defaults < optional TOML file < `PREFIX_*` environment, with
//!   unknown variables and invalid values refused by name.
//! - [`telemetry`]: `tracing` logs (pretty on a terminal, JSON otherwise) and OpenTelemetry traces
//!   over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//! - [`middleware`]: request ids, a span per request, timeouts, body limits, CORS, panics caught,
//!   and bare error responses rewritten as `application/problem+json`.
//! - [`metrics`]: Prometheus request counters and latency histograms per route.
//! - [`ops`]: `GET /health`, `GET /ready` (database, cache, key backend), `GET /metrics`,
//!   `GET /openapi.json`.
//! - [`cli`]: the `serve` / `migrate` / `openapi` command line and start-up sequence.
//! - [`key_backend`]: the local or Vault key backend from a service's settings.
//! - [`replay`]: single use of ids, in Valkey/Redis or in memory.
//! - [`secrets`]: service secrets created once in the key backend's secret store.
//! - [`ephemeral`]: short-lived single-use state (ceremonies between start and finish).
//! - [`client_ip`]: the client's address, believing forwarded headers only from trusted proxies.
//! - [`serve`]: listening on TCP or a Unix socket with graceful shutdown on SIGTERM/SIGINT.
//!
//! It knows nothing of admission tokens, OPAQUE or OIDC: those belong to the services and crates.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backends;
pub mod cli;
pub mod client_ip;
pub mod ephemeral;
pub mod key_backend;
pub mod listen;
pub mod metrics;
pub mod middleware;
pub mod ops;
pub mod problem;
pub mod replay;
pub mod seal;
pub mod secret;
pub mod secrets;
pub mod serve;
pub mod settings;
pub mod telemetry;

pub use listen::ListenAddr;
pub use problem::Problem;
pub use secret::Secret;

/// Lowercase hex of `bytes`: the form hashes and ids take in cache keys (`permesi:jti:<hex>`).
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_and_two_digits_per_byte() {
        assert_eq!(super::to_hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(super::to_hex(&[]), "");
    }
}
