//! Validated constructors for what clients send: slugs, names, tiers, client settings,
//! redirect URIs, and list parameters. After construction a value is known to be valid.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Error;

/// Longest slug (a DNS label).
pub const MAX_SLUG: usize = 63;
/// Longest display name, in characters.
pub const MAX_NAME: usize = 100;
/// Longest redirect URI.
pub const MAX_URI: usize = 2_000;
/// Most redirect URIs (and post-logout redirect URIs) per application.
pub const MAX_URIS: usize = 20;
/// Most scopes per application.
pub const MAX_SCOPES: usize = 50;
/// Longest scope token.
pub const MAX_SCOPE: usize = 64;

/// A slug: `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`, unique among its parent's live children.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Validates a slug.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let b = raw.as_bytes();
        let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let ok = !b.is_empty()
            && b.len() <= MAX_SLUG
            && b.first().is_some_and(inner)
            && b.last().is_some_and(inner)
            && b.iter().all(|c| inner(c) || *c == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::Invalid("invalid_slug"))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to 100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Validates and trims a name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAME || name.chars().any(char::is_control) {
            return Err(Error::Invalid("invalid_name"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An environment's tier. Exactly one live `production` per project, created first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The live environment; one per project, created before any other.
    Production,
    /// Pre-production.
    Staging,
    /// Development.
    Development,
}

impl Tier {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Staging => "staging",
            Self::Development => "development",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Production, Self::Staging, Self::Development]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// OAuth client type (RFC 6749 section 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    /// Holds a client secret (a server-side application).
    Confidential,
    /// Cannot keep a secret (a SPA or native app): no secret, PKCE only.
    Public,
}

impl ClientType {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "confidential" => Some(Self::Confidential),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// An OAuth grant type an application may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Authorization code with PKCE.
    AuthorizationCode,
    /// Refresh tokens.
    RefreshToken,
    /// Client credentials (confidential clients only).
    ClientCredentials,
}

impl GrantType {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }
}

/// An application's OAuth settings, checked together (they constrain each other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may ask for.
    pub allowed_scopes: Vec<String>,
    /// Grants, sorted and without duplicates.
    pub grant_types: Vec<GrantType>,
}

impl ClientSettings {
    /// Validates the settings of a client of type `client_type`: at least one grant,
    /// `client_credentials` only for confidential clients, at least one redirect URI with
    /// `authorization_code`, every URI per [`redirect_uri`], scopes per [`scope`].
    pub fn new(
        client_type: ClientType,
        redirect_uris: Vec<String>,
        post_logout_redirect_uris: Vec<String>,
        allowed_scopes: Vec<String>,
        mut grant_types: Vec<GrantType>,
    ) -> Result<Self, Error> {
        grant_types.sort_unstable();
        grant_types.dedup();
        if grant_types.is_empty()
            || (client_type == ClientType::Public
                && grant_types.contains(&GrantType::ClientCredentials))
        {
            return Err(Error::Invalid("invalid_grant_types"));
        }
        for uris in [&redirect_uris, &post_logout_redirect_uris] {
            if uris.len() > MAX_URIS || uris.iter().any(|u| redirect_uri(u).is_err()) {
                return Err(Error::Invalid("invalid_redirect_uri"));
            }
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(Error::Invalid("invalid_redirect_uri"));
        }
        if allowed_scopes.is_empty()
            || allowed_scopes.len() > MAX_SCOPES
            || allowed_scopes.iter().any(|s| !scope(s))
        {
            return Err(Error::Invalid("invalid_scope"));
        }
        let dedup = |mut v: Vec<String>| {
            let mut seen = std::collections::HashSet::new();
            v.retain(|s| seen.insert(s.clone()));
            v
        };
        Ok(Self {
            redirect_uris: dedup(redirect_uris),
            post_logout_redirect_uris: dedup(post_logout_redirect_uris),
            allowed_scopes: dedup(allowed_scopes),
            grant_types,
        })
    }
}

/// A redirect URI clients may register. Compared later byte for byte, so it is kept as sent.
///
/// Accepted: an absolute `https` URL, or `http` to a loopback host (`localhost`, `127.0.0.1`,
/// `[::1]`, any port, for native apps per RFC 8252 section 7.3 and local development). Refused:
/// other schemes (custom-scheme redirects of native apps can be claimed by any app on the
/// device; loopback redirects cannot, so they are the only native option offered), fragments
/// (RFC 6749 section 3.1.2), user info, wildcards, spaces and control characters, an empty
/// host, and anything longer than 2000 bytes.
pub fn redirect_uri(raw: &str) -> Result<(), Error> {
    let invalid = Err(Error::Invalid("invalid_redirect_uri"));
    if raw.is_empty() || raw.len() > MAX_URI || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid;
    }
    if raw.contains(['#', '*', '\\']) {
        return invalid;
    }
    let (https, rest) = if let Some(rest) = raw.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = raw.strip_prefix("http://") {
        (false, rest)
    } else {
        return invalid;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return invalid;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((inner, after)) = v6.split_once(']') else {
            return invalid;
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return invalid;
        }
        (&authority[..inner.len() + 2], after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()) {
        return invalid;
    }
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    if !host_ok {
        return invalid;
    }
    let loopback = matches!(
        host.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "[::1]"
    );
    if !https && !loopback {
        return invalid;
    }
    Ok(())
}

/// An OAuth scope token (RFC 6749 section 3.3: printable ASCII except space, `"` and `\`), at
/// most 64 bytes.
pub fn scope(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_SCOPE
        && raw
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Default page size of list endpoints.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 100;
/// Longest `q` filter.
pub const MAX_QUERY: usize = 100;

/// Validated list parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// Page size, 1 to 100.
    pub limit: i64,
    /// Position after which the page starts (the previous page's `next_cursor`).
    pub cursor: Option<String>,
    /// Substring of the name or slug, lowercased.
    pub q: Option<String>,
}

impl ListParams {
    /// Checks `limit` (1 to 100, default 50), `q` (at most 100 characters) and the cursor
    /// (`cursor_ok` says what a cursor of this list looks like).
    pub fn new(
        limit: Option<i64>,
        cursor: Option<String>,
        q: Option<String>,
        cursor_ok: fn(&str) -> bool,
    ) -> Result<Self, Error> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::Invalid("invalid_limit"));
        }
        if cursor.as_deref().is_some_and(|c| !cursor_ok(c)) {
            return Err(Error::Invalid("invalid_cursor"));
        }
        let q = q.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
        if q.as_ref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY || q.chars().any(char::is_control))
        {
            return Err(Error::Invalid("invalid_query"));
        }
        Ok(Self { limit, cursor, q })
    }

    /// Cursors of lists ordered by slug.
    pub fn slug_cursor(c: &str) -> bool {
        Slug::parse(c).is_ok()
    }

    /// Cursors of lists ordered by id.
    pub fn uuid_cursor(c: &str) -> bool {
        c.parse::<uuid::Uuid>().is_ok()
    }

    /// Rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the extra row and returns the next cursor (the last item's key) when there was one.
    pub fn page<T>(&self, items: &mut Vec<T>, key: impl Fn(&T) -> String) -> Option<String> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if items.len() > limit {
            items.truncate(limit);
            items.last().map(key)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
        r.unwrap_err().code()
    }

    #[test]
    fn slugs() {
        let max = "a".repeat(63);
        for good in [
            "a",
            "0",
            "acme",
            "acme-prod",
            "a1-b2",
            "9lives",
            max.as_str(),
        ] {
            assert_eq!(Slug::parse(good).unwrap().as_str(), good);
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "-a",
            "a-",
            "-",
            "Acme",
            "a_b",
            "a.b",
            "a b",
            "ä",
            long.as_str(),
            "../x",
        ] {
            assert_eq!(code(Slug::parse(bad)), "invalid_slug", "{bad:?}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(Name::parse("  Acme Corp ").unwrap().as_str(), "Acme Corp");
        let max = "é".repeat(100);
        assert!(Name::parse(&max).is_ok());
        for bad in ["", "   ", "a\u{0}b", "line\nbreak"] {
            assert_eq!(code(Name::parse(bad)), "invalid_name", "{bad:?}");
        }
        assert_eq!(code(Name::parse(&"é".repeat(101))), "invalid_name");
    }

    #[test]
    fn redirect_uris() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "https://example.com",
            "http://localhost/cb",
            "http://localhost:3000/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]:8080/cb",
            "http://LOCALHOST/cb",
            "https://[2001:db8::1]/cb",
        ] {
            assert!(redirect_uri(good).is_ok(), "{good}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URI));
        for bad in [
            "",
            "/callback",
            "example.com/cb",
            "http://example.com/cb",
            "http://localhost.evil.com/cb",
            "http://127.0.0.2/cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@example.com/cb",
            "https://*.example.com/cb",
            "https://exa mple.com/cb",
            "https:///cb",
            "https://example.com:/cb",
            "https://example.com:99999999/cb",
            "https://[::1/cb",
            "https://[zz]/cb",
            "com.example.app:/callback",
            "javascript:alert(1)",
            "ftp://example.com/",
            "https://example.com\\@evil.com",
            long.as_str(),
        ] {
            assert_eq!(code(redirect_uri(bad)), "invalid_redirect_uri", "{bad:?}");
        }
    }

    #[test]
    fn scopes() {
        for good in ["openid", "profile", "email", "api:read", "a!#[]~"] {
            assert!(scope(good), "{good}");
        }
        for bad in ["", "a b", "a\"b", "a\\b", "é", &"s".repeat(65)] {
            assert!(!scope(bad), "{bad:?}");
        }
        assert!(scope(&"s".repeat(64)));
    }

    #[test]
    fn client_settings_constrain_each_other() {
        let uris = || vec!["https://app.example.com/cb".to_owned()];
        let scopes = || vec!["openid".to_owned(), "openid".to_owned()];
        let ok = ClientSettings::new(
            ClientType::Confidential,
            uris(),
            vec![],
            scopes(),
            vec![
                GrantType::RefreshToken,
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
            ],
        )
        .unwrap();
        assert_eq!(
            ok.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(ok.allowed_scopes, ["openid"]);
        // client_credentials: confidential only, and needs no redirect URI.
        assert!(
            ClientSettings::new(
                ClientType::Confidential,
                vec![],
                vec![],
                scopes(),
                vec![GrantType::ClientCredentials]
            )
            .is_ok()
        );
        let public_cc = ClientSettings::new(
            ClientType::Public,
            uris(),
            vec![],
            scopes(),
            vec![GrantType::ClientCredentials],
        );
        assert_eq!(code(public_cc), "invalid_grant_types");
        let none = ClientSettings::new(ClientType::Public, uris(), vec![], scopes(), vec![]);
        assert_eq!(code(none), "invalid_grant_types");
        let no_uri = ClientSettings::new(
            ClientType::Public,
            vec![],
            vec![],
            scopes(),
            vec![GrantType::AuthorizationCode],
        );
        assert_eq!(code(no_uri), "invalid_redirect_uri");
        let bad_logout = ClientSettings::new(
            ClientType::Public,
            uris(),
            vec!["http://evil.example/".to_owned()],
            scopes(),
            vec![GrantType::AuthorizationCode],
        );
        assert_eq!(code(bad_logout), "invalid_redirect_uri");
        let too_many: Vec<String> = (0..=MAX_URIS)
            .map(|i| format!("https://app.example.com/{i}"))
            .collect();
        let many = ClientSettings::new(
            ClientType::Public,
            too_many,
            vec![],
            scopes(),
            vec![GrantType::AuthorizationCode],
        );
        assert_eq!(code(many), "invalid_redirect_uri");
        let no_scope = ClientSettings::new(
            ClientType::Public,
            uris(),
            vec![],
            vec![],
            vec![GrantType::AuthorizationCode],
        );
        assert_eq!(code(no_scope), "invalid_scope");
    }

    #[test]
    fn list_params() {
        let p = ListParams::new(None, None, Some("  Ac ".into()), ListParams::slug_cursor).unwrap();
        assert_eq!((p.limit, p.q.as_deref()), (50, Some("ac")));
        assert!(ListParams::new(Some(1), None, None, ListParams::slug_cursor).is_ok());
        assert!(ListParams::new(Some(100), None, None, ListParams::slug_cursor).is_ok());
        for limit in [0, 101, -1] {
            assert_eq!(
                code(ListParams::new(
                    Some(limit),
                    None,
                    None,
                    ListParams::slug_cursor
                )),
                "invalid_limit"
            );
        }
        assert_eq!(
            code(ListParams::new(
                None,
                Some("Not A Slug".into()),
                None,
                ListParams::slug_cursor
            )),
            "invalid_cursor"
        );
        assert_eq!(
            code(ListParams::new(
                None,
                Some("acme".into()),
                None,
                ListParams::uuid_cursor
            )),
            "invalid_cursor"
        );
        assert_eq!(
            code(ListParams::new(
                None,
                None,
                Some("x".repeat(101)),
                ListParams::slug_cursor
            )),
            "invalid_query"
        );
        let p = ListParams::new(Some(2), None, None, ListParams::slug_cursor).unwrap();
        let mut items = vec![1, 2, 3];
        assert_eq!(p.page(&mut items, ToString::to_string), Some("2".into()));
        assert_eq!(items, [1, 2]);
        let mut items = vec![1, 2];
        assert_eq!(p.page(&mut items, ToString::to_string), None);
    }

    #[test]
    fn wire_names_round_trip() {
        for t in [Tier::Production, Tier::Staging, Tier::Development] {
            assert_eq!(Tier::parse(t.as_str()), Some(t));
        }
        for c in [ClientType::Confidential, ClientType::Public] {
            assert_eq!(ClientType::parse(c.as_str()), Some(c));
        }
        for g in [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ] {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
    }
}
