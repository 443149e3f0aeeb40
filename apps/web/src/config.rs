//! Build-time configuration of the console.
//!
//! Every value is read with `option_env!` when the crate is compiled, so a build for another
//! environment is `PERMESI_API_BASE_URL=... trunk build --release`. An unset or empty variable
//! falls back to the local development default.

/// Base URL of the permesi core service (OPAQUE, sessions, OIDC, tenancy).
pub const API_BASE_URL: &str =
    or_default(option_env!("PERMESI_API_BASE_URL"), DEFAULT_API_BASE_URL);

/// Base URL of genesis, the edge admission-token mint.
pub const TOKEN_BASE_URL: &str = or_default(
    option_env!("PERMESI_TOKEN_BASE_URL"),
    DEFAULT_TOKEN_BASE_URL,
);

/// OIDC client id the console uses when it talks to permesi.
pub const CLIENT_ID: &str = or_default(option_env!("PERMESI_CLIENT_ID"), DEFAULT_CLIENT_ID);

/// Default for [`API_BASE_URL`].
pub const DEFAULT_API_BASE_URL: &str = "http://localhost:8001";
/// Default for [`TOKEN_BASE_URL`].
pub const DEFAULT_TOKEN_BASE_URL: &str = "http://localhost:8000";
/// Default for [`CLIENT_ID`].
pub const DEFAULT_CLIENT_ID: &str = "permesi-console";

/// The value of a build-time variable, or `default` when it is unset or empty.
pub const fn or_default(value: Option<&'static str>, default: &'static str) -> &'static str {
    match value {
        Some(v) if !v.is_empty() => v,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_falls_back_to_default() {
        assert_eq!(or_default(None, "d"), "d");
        assert_eq!(or_default(Some(""), "d"), "d");
        assert_eq!(
            or_default(Some("https://api.permesi.localhost"), "d"),
            "https://api.permesi.localhost"
        );
    }

    #[test]
    fn defaults_are_absolute_http_urls() {
        for base in [DEFAULT_API_BASE_URL, DEFAULT_TOKEN_BASE_URL] {
            assert!(crate::url::is_http_base(base), "{base}");
        }
        assert!(!DEFAULT_CLIENT_ID.is_empty());
    }

    #[test]
    fn configured_values_are_usable() {
        assert!(
            crate::url::is_http_base(API_BASE_URL),
            "PERMESI_API_BASE_URL={API_BASE_URL}"
        );
        assert!(
            crate::url::is_http_base(TOKEN_BASE_URL),
            "PERMESI_TOKEN_BASE_URL={TOKEN_BASE_URL}"
        );
        assert!(!CLIENT_ID.is_empty());
    }
}
