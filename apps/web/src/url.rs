//! Small URL helpers for building service endpoints from configured base URLs.

/// Joins a base URL and an absolute path with exactly one `/` between them.
///
/// `join("http://localhost:8001/", "/health")` and `join("http://localhost:8001", "health")`
/// both give `http://localhost:8001/health`. A base with a path prefix keeps it:
/// `join("https://example.test/iam/", "/ready")` is `https://example.test/iam/ready`.
pub fn join(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        return format!("{base}/");
    }
    format!("{base}/{path}")
}

/// Whether `base` looks like an absolute `http://` or `https://` URL with a host.
pub fn is_http_base(base: &str) -> bool {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !host.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The origin (`scheme://host[:port]`) of an absolute URL, for display.
pub fn origin(url: &str) -> &str {
    let Some(scheme_end) = url.find("://") else {
        return url;
    };
    let after = scheme_end + 3;
    match url[after..].find(['/', '?', '#']) {
        Some(i) => &url[..after + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalises_slashes() {
        assert_eq!(
            join("http://localhost:8001", "/health"),
            "http://localhost:8001/health"
        );
        assert_eq!(
            join("http://localhost:8001/", "/health"),
            "http://localhost:8001/health"
        );
        assert_eq!(
            join("http://localhost:8001//", "health"),
            "http://localhost:8001/health"
        );
        assert_eq!(
            join("http://localhost:8001", "health"),
            "http://localhost:8001/health"
        );
    }

    #[test]
    fn join_keeps_base_path_prefix() {
        assert_eq!(
            join("https://example.test/iam/", "/ready"),
            "https://example.test/iam/ready"
        );
        assert_eq!(
            join("https://example.test/iam", "v1/x"),
            "https://example.test/iam/v1/x"
        );
    }

    #[test]
    fn join_with_empty_path_points_at_root() {
        assert_eq!(join("http://localhost:8000", ""), "http://localhost:8000/");
        assert_eq!(
            join("http://localhost:8000/", "/"),
            "http://localhost:8000/"
        );
    }

    #[test]
    fn http_base_detection() {
        assert!(is_http_base("http://localhost:8001"));
        assert!(is_http_base("https://api.permesi.localhost/"));
        assert!(!is_http_base("localhost:8001"));
        assert!(!is_http_base("ftp://example.test"));
        assert!(!is_http_base("http://"));
        assert!(!is_http_base("https:///path"));
        assert!(!is_http_base("http://bad host"));
    }

    #[test]
    fn origin_strips_path_query_and_fragment() {
        assert_eq!(
            origin("http://localhost:8001/health"),
            "http://localhost:8001"
        );
        assert_eq!(
            origin("https://api.permesi.localhost"),
            "https://api.permesi.localhost"
        );
        assert_eq!(origin("https://a.test?x=1"), "https://a.test");
        assert_eq!(origin("not a url"), "not a url");
    }
}
