//! Small URL helpers: service endpoints from configured base URLs, the `next=` redirect check,
//! and the token of an emailed link. Plain string logic, tested on the host.

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

/// Whether `next` (the login page's `next=` parameter) may be followed: a path on this origin,
/// nothing else. It must start with exactly one `/` followed by a character other than `/` or
/// `\` (`//host` and `/\host` are other origins to a browser), and hold no control character or
/// whitespace (the URL parser drops tabs and newlines, so `/\t/host` would become `//host`).
/// The login page also resolves it against the current origin with the browser's parser and
/// checks the origin is unchanged.
pub fn is_local_path(next: &str) -> bool {
    let mut chars = next.chars();
    if chars.next() != Some('/') {
        return false;
    }
    match chars.next() {
        None | Some('/' | '\\') => return false,
        Some(_) => {}
    }
    !next.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The value of `name` in the fragment (`#token=...`) or, failing that, the query (`?token=...`)
/// of a URL: emailed links carry their token in the fragment (never sent to a server, so no
/// proxy logs it); links mailed before that carry it in the query. Empty values count as
/// absent.
pub fn link_param(hash: &str, search: &str, name: &str) -> Option<String> {
    param(hash.strip_prefix('#').unwrap_or(hash), name)
        .or_else(|| param(search.strip_prefix('?').unwrap_or(search), name))
}

/// `part` (a query with its `?` or a fragment with its `#`) without the parameter `name`; empty
/// when nothing else is left.
pub fn without_param(part: &str, name: &str) -> String {
    let Some(lead) = part.chars().next().filter(|c| matches!(c, '?' | '#')) else {
        return String::new();
    };
    let kept: Vec<&str> = part[1..]
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(name))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("{lead}{}", kept.join("&"))
    }
}

/// The first non-empty value of `name` in an `a=b&c=d` string, percent-decoded.
fn param(pairs: &str, name: &str) -> Option<String> {
    pairs.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name && !v.is_empty())
            .then(|| percent_decode(v))
            .flatten()
    })
}

/// Decodes `%XX` escapes and `+` (form encoding); `None` for a bad escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
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

    #[test]
    fn local_paths_are_followed() {
        for ok in [
            "/console/orgs",
            "/a",
            "/console/me/security?x=1#y",
            "/%5Cevil.com",
        ] {
            assert!(is_local_path(ok), "{ok}");
        }
    }

    #[test]
    fn other_origins_and_odd_paths_are_refused() {
        for bad in [
            "",
            "/",
            "//evil.com",
            "/\\evil.com",
            "\\evil.com",
            "\\\\evil.com",
            "https://evil.com",
            "http:/evil.com",
            "javascript:alert(1)",
            "evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "/ /evil.com",
            "\t//evil.com",
            " /a",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn link_token_from_fragment_then_query() {
        assert_eq!(
            link_param("#token=abc", "", "token").as_deref(),
            Some("abc")
        );
        assert_eq!(
            link_param("#x=1&token=a%2Db", "?token=old", "token").as_deref(),
            Some("a-b")
        );
        assert_eq!(
            link_param("", "?token=old", "token").as_deref(),
            Some("old")
        );
        assert_eq!(
            link_param("#token=", "?token=q", "token").as_deref(),
            Some("q")
        );
        assert_eq!(link_param("#tokens=x", "?mytoken=y", "token"), None);
        assert_eq!(link_param("#token=%zz", "", "token"), None);
        assert_eq!(link_param("", "", "token"), None);
    }

    #[test]
    fn without_param_keeps_the_rest() {
        assert_eq!(without_param("#token=abc", "token"), "");
        assert_eq!(without_param("?token=abc", "token"), "");
        assert_eq!(without_param("?a=1&token=abc&b=2", "token"), "?a=1&b=2");
        assert_eq!(without_param("#x&token=1", "token"), "#x");
        assert_eq!(without_param("", "token"), "");
        assert_eq!(without_param("?a=1", "token"), "?a=1");
    }
}
