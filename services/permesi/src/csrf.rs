//! Cross-site request forgery: a state-changing request that carries permesi's session (or
//! MFA challenge) cookie must come from a configured console origin.
//!
//! `SameSite=Lax` alone lets any *same-site* origin (a sibling subdomain) post forms with the
//! cookie attached, and body-less POSTs need no CORS preflight. So the `Origin` header (sent by
//! browsers on every cross-origin and every POST request) must be one of the console origins
//! or permesi's own; without `Origin`, `Sec-Fetch-Site` must say `same-origin` or `none`.
//! Requests with neither header come from non-browser clients, which no other site can
//! steer, and requests without the cookies carry no ambient authority.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{mfa::challenge, sessions};

/// The origins allowed to send cookie-authenticated state changes.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    allowed: Vec<String>,
    session_cookie: &'static str,
}

/// `scheme://host[:port]`, lowercase, without a trailing slash.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl OriginPolicy {
    /// The console origins (the CORS setting) and permesi's own public origin.
    pub fn new(origins: impl IntoIterator<Item = String>, session_cookie: &'static str) -> Self {
        Self {
            allowed: origins.into_iter().map(|o| normalize(&o)).collect(),
            session_cookie,
        }
    }

    /// Whether a request with `method` and `headers` may go on.
    pub fn allows(&self, method: &Method, headers: &HeaderMap) -> bool {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return true;
        }
        let has_cookie = sessions::cookie_value(headers, self.session_cookie).is_some()
            || sessions::cookie_value(headers, challenge::COOKIE).is_some();
        if !has_cookie {
            return true;
        }
        if let Some(origin) = headers.get("origin") {
            return origin
                .to_str()
                .is_ok_and(|o| self.allowed.iter().any(|a| *a == normalize(o)));
        }
        match headers.get("sec-fetch-site").map(|v| v.to_str()) {
            None => true,
            Some(Ok(site)) => matches!(site, "same-origin" | "none"),
            Some(Err(_)) => false,
        }
    }
}

/// The middleware: 403 `cross_origin_refused` for a forged request.
pub async fn check(
    State(policy): State<Arc<OriginPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if policy.allows(request.method(), request.headers()) {
        return next.run(request).await;
    }
    server::Problem::new(
        StatusCode::FORBIDDEN,
        "cross_origin_refused",
        "Cross-origin request refused",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cookie_authenticated_changes_need_a_console_origin() {
        let policy = OriginPolicy::new(
            [
                "https://permesi.example".to_owned(),
                "http://localhost:8080/".to_owned(),
            ],
            "__Host-permesi_session",
        );
        let cookie = ("cookie", "__Host-permesi_session=abc");
        let post = Method::POST;
        assert!(policy.allows(
            &post,
            &headers(&[cookie, ("origin", "https://permesi.example")])
        ));
        assert!(policy.allows(
            &post,
            &headers(&[cookie, ("origin", "http://LOCALHOST:8080")])
        ));
        assert!(!policy.allows(
            &post,
            &headers(&[cookie, ("origin", "https://evil.example")])
        ));
        assert!(!policy.allows(&post, &headers(&[cookie, ("origin", "null")])));
        assert!(!policy.allows(
            &Method::DELETE,
            &headers(&[cookie, ("origin", "https://sub.permesi.example")])
        ));
        // Without Origin, Fetch Metadata decides; without either, not a browser.
        assert!(!policy.allows(&post, &headers(&[cookie, ("sec-fetch-site", "same-site")])));
        assert!(policy.allows(
            &post,
            &headers(&[cookie, ("sec-fetch-site", "same-origin")])
        ));
        assert!(policy.allows(&post, &headers(&[cookie])));
        // The MFA challenge cookie counts too; no cookie, no ambient authority.
        let mfa = ("cookie", "permesi_mfa=0123");
        assert!(!policy.allows(&post, &headers(&[mfa, ("origin", "https://evil.example")])));
        assert!(policy.allows(&post, &headers(&[("origin", "https://evil.example")])));
        // Reads are not state changes.
        assert!(policy.allows(
            &Method::GET,
            &headers(&[cookie, ("origin", "https://evil.example")])
        ));
    }
}
