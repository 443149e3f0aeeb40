//! [`PermesiClient`]: the OPAQUE client side of permesi's HTTP API.
//!
//! ```text
//! signup:  admission(signup) → POST /v1/auth/opaque/signup/start {email, request}
//!          → OPAQUE registration finish (Argon2id on this side) → POST .../signup/finish → 202
//! verify:  admission(verify_email) → POST /v1/auth/verify-email {token} → 204
//! login:   admission(login) → POST /v1/auth/opaque/login/start {email, request}
//!          → OPAQUE KE3 (fails here already on a wrong password) → POST .../login/finish
//!          → 204 + Set-Cookie: permesi_session=...
//! me:      GET /v1/me (cookie) → {id, email, email_verified}
//! logout:  POST /v1/auth/logout (cookie) → 204
//! ```
//!
//! The session cookie is kept by the client itself (not by a browser-style cookie jar): permesi
//! marks it `Secure`, which a jar would refuse to send to a plain-HTTP development stack, and
//! the CLI needs to save and restore it anyway ([`PermesiClient::session`],
//! [`PermesiClient::set_session`]).

use std::sync::{Mutex, PoisonError};

use opaque::client::{self as oc, Params};
use reqwest::header::{COOKIE, HeaderValue, SET_COOKIE};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::{ADMISSION_HEADER, ClientError, GenesisClient, base_url, refusal};

/// The name of permesi's session cookie when it is `Secure` (every deployment but plain-HTTP
/// development).
pub const SESSION_COOKIE: &str = "__Host-permesi_session";
/// Its name without `Secure` (plain-HTTP localhost development).
pub const INSECURE_SESSION_COOKIE: &str = "permesi_session";

/// The logged-in account, as `GET /v1/me` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Me {
    /// User id.
    pub id: uuid::Uuid,
    /// Email address.
    pub email: String,
    /// Whether the address is verified.
    pub email_verified: bool,
}

/// A session cookie (`name=value`). A bearer secret: its `Debug` shows only the name, and the
/// value is wiped from memory on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCookie {
    name: String,
    value: Zeroizing<String>,
}

impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionCookie({}=<redacted>)", self.name)
    }
}

fn cookie_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\' | b'='))
}

impl SessionCookie {
    /// Parses `name=value` (the form [`SessionCookie::to_cookie_string`] writes, surrounding
    /// whitespace ignored), e.g. from a session file.
    pub fn parse(pair: &str) -> Result<Self, ClientError> {
        let (name, value) = pair
            .trim()
            .split_once('=')
            .ok_or(ClientError::InvalidSession)?;
        if !cookie_token(name) || !cookie_token(value) {
            return Err(ClientError::InvalidSession);
        }
        Ok(Self {
            name: name.to_owned(),
            value: Zeroizing::new(value.to_owned()),
        })
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `name=value`: the `Cookie` header value, and the session file's content. Secret.
    pub fn to_cookie_string(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}={}", self.name, self.value.as_str()))
    }

    /// The session cookie set by a login answer: the first `Set-Cookie` named
    /// [`SESSION_COOKIE`] (or [`INSECURE_SESSION_COOKIE`]) with a non-empty value.
    fn from_set_cookie(headers: &reqwest::header::HeaderMap) -> Option<Self> {
        headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|pair| Self::parse(pair).ok())
            .find(|c| c.name == SESSION_COOKIE || c.name == INSECURE_SESSION_COOKIE)
    }
}

/// A client of permesi's authentication API, holding at most one session.
#[derive(Debug)]
pub struct PermesiClient {
    base: url::Url,
    http: reqwest::Client,
    genesis: GenesisClient,
    params: Params,
    session: Mutex<Option<SessionCookie>>,
}

impl PermesiClient {
    /// A client for permesi at `permesi` (e.g. `http://localhost:8001`) getting admission
    /// tokens from genesis at `genesis` (e.g. `http://localhost:8000`), with permesi's
    /// production Argon2id parameters.
    pub fn new(genesis: &str, permesi: &str) -> Result<Self, ClientError> {
        let base = base_url(permesi)?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self {
            base,
            http,
            genesis: GenesisClient::new(genesis)?,
            params: Params::default(),
            session: Mutex::new(None),
        })
    }

    /// Other client-side Argon2id costs. **Tests and benchmarks only**: an account signed up
    /// with other costs can only be logged into with the same costs, and cheap costs make a
    /// stolen database (plus the server's OPRF seed) cheap to guess against. Real clients keep
    /// the default ([`Params::default`]).
    #[must_use]
    pub fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// The KSF parameters in use.
    pub fn params(&self) -> Params {
        self.params
    }

    /// The genesis client used for admission tokens.
    pub fn genesis(&self) -> &GenesisClient {
        &self.genesis
    }

    /// The current session cookie, if logged in.
    pub fn session(&self) -> Option<SessionCookie> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Uses a saved session (e.g. from a session file); `None` forgets it.
    pub fn set_session(&self, session: Option<SessionCookie>) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = session;
    }

    fn url(&self, path: &str) -> Result<url::Url, ClientError> {
        self.base.join(path).map_err(|_| ClientError::InvalidUrl)
    }

    async fn admission(&self, action: &str) -> Result<String, ClientError> {
        Ok(self.genesis.admission_token(action, |_| {}).await?.token)
    }

    /// POSTs `body` (with an admission token for `action`, if any); a non-success answer is
    /// [`ClientError::Refused`].
    async fn post(
        &self,
        path: &str,
        action: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, ClientError> {
        let mut request = self.http.post(self.url(path)?).json(body);
        if let Some(action) = action {
            let token = self.admission(action).await?;
            request = request.header(ADMISSION_HEADER, token);
        }
        let response = request.send().await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refusal(response).await)
        }
    }

    fn cookie_header(&self) -> Result<Option<HeaderValue>, ClientError> {
        self.session()
            .map(|c| {
                let mut value = HeaderValue::from_str(&c.to_cookie_string())
                    .map_err(|_| ClientError::InvalidSession)?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()
    }

    /// Signs up `email` with `password`. `Ok` means "check the inbox": permesi answers the
    /// same whether or not the address already had an account.
    pub async fn signup(&self, email: &str, password: &str) -> Result<(), ClientError> {
        let (state, request) = oc::registration_start(password.as_bytes())?;
        let started: Started = self
            .post(
                "v1/auth/opaque/signup/start",
                Some("signup"),
                &json!({ "email": email, "request": request }),
            )
            .await?
            .json()
            .await?;
        let signup_id = started.signup_id.ok_or(opaque::Error::Malformed)?;
        let upload = run_ksf(move || {
            oc::registration_finish_with(state, &started.response, password.as_bytes(), self.params)
                .map(|r| r.upload)
        })?;
        self.post(
            "v1/auth/opaque/signup/finish",
            None,
            &json!({ "signup_id": signup_id, "email": email, "upload": upload }),
        )
        .await?;
        Ok(())
    }

    /// Confirms an email address with its verification link (the whole URL) or the link's
    /// token.
    pub async fn verify_email(&self, token_or_link: &str) -> Result<(), ClientError> {
        let token = token_from_link(token_or_link)?;
        self.post(
            "v1/auth/verify-email",
            Some("verify_email"),
            &json!({ "token": token.as_str() }),
        )
        .await?;
        Ok(())
    }

    /// Asks for a password reset link for `email`. `Ok` means "check the inbox": permesi
    /// answers the same whether or not the address has an account.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), ClientError> {
        self.post(
            "v1/auth/password-reset",
            Some("password_reset"),
            &json!({ "email": email }),
        )
        .await?;
        Ok(())
    }

    /// Sets a new password with a reset link (the whole URL) or its token. Every session of
    /// the account ends; log in afterwards.
    pub async fn reset_password(
        &self,
        token_or_link: &str,
        password: &str,
    ) -> Result<(), ClientError> {
        let token = token_from_link(token_or_link)?;
        let (state, request) = oc::registration_start(password.as_bytes())?;
        let started: Started = self
            .post(
                "v1/auth/password-reset/start",
                None,
                &json!({ "token": token.as_str(), "request": request }),
            )
            .await?
            .json()
            .await?;
        let reset_id = started.reset_id.ok_or(opaque::Error::Malformed)?;
        let upload = run_ksf(move || {
            oc::registration_finish_with(state, &started.response, password.as_bytes(), self.params)
                .map(|r| r.upload)
        })?;
        self.post(
            "v1/auth/password-reset/finish",
            None,
            &json!({ "reset_id": reset_id, "upload": upload }),
        )
        .await?;
        Ok(())
    }

    /// Logs in and keeps the session cookie. A wrong password, an unknown or unverified
    /// account all give [`ClientError::authentication_failed`].
    pub async fn login(&self, email: &str, password: &str) -> Result<(), ClientError> {
        match self.password_step(email, password).await? {
            None => Ok(()),
            Some(_) => Err(ClientError::SecondFactorRequired),
        }
    }

    /// Logs in an account with TOTP on: the password, then `code` — a 6-digit TOTP code, or a
    /// recovery code (`xxxx-xxxx-xxxx-xxxx`). Works for accounts without TOTP too (the code is
    /// then not used).
    pub async fn login_with_code(
        &self,
        email: &str,
        password: &str,
        code: &str,
    ) -> Result<(), ClientError> {
        let Some(challenge) = self.password_step(email, password).await? else {
            return Ok(());
        };
        let kind = if code.contains('-') {
            "recovery"
        } else {
            "totp"
        };
        let token = self.admission("mfa").await?;
        let mut cookie =
            HeaderValue::from_str(&challenge).map_err(|_| ClientError::InvalidSession)?;
        cookie.set_sensitive(true);
        let response = self
            .http
            .post(self.url(&format!("v1/auth/mfa/{kind}"))?)
            .header(ADMISSION_HEADER, token)
            .header(COOKIE, cookie)
            .json(&json!({ "code": code }))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        let session = SessionCookie::from_set_cookie(response.headers())
            .ok_or(ClientError::InvalidSession)?;
        self.set_session(Some(session));
        Ok(())
    }

    /// The OPAQUE login: a session (`None`), or the MFA challenge cookie (`name=value`) when the
    /// account needs a second factor.
    async fn password_step(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<String>, ClientError> {
        let (state, request) = oc::login_start(password.as_bytes())?;
        let started: Started = self
            .post(
                "v1/auth/opaque/login/start",
                Some("login"),
                &json!({ "email": email, "request": request }),
            )
            .await?
            .json()
            .await?;
        let login_id = started.login_id.ok_or(opaque::Error::Malformed)?;
        // Fails here already on a wrong password or an unknown account: stop, as the RFC says.
        let finalization = run_ksf(move || {
            oc::login_finish_with(state, &started.response, password.as_bytes(), self.params)
                .map(|l| l.finalization)
        })?;
        let mut request = self.http.post(self.url("v1/auth/opaque/login/finish")?);
        // A session held before this login is replaced (and revoked by permesi).
        if let Some(cookie) = self.cookie_header()? {
            request = request.header(COOKIE, cookie);
        }
        let response = request
            .json(&json!({ "login_id": login_id, "finalization": finalization }))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        if response.status() == reqwest::StatusCode::OK {
            // `{"mfa_required": true}` with the challenge cookie.
            let challenge = response
                .headers()
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| v.split(';').next())
                .find(|pair| pair.starts_with("permesi_mfa="))
                .map(str::to_owned)
                .ok_or(ClientError::InvalidSession)?;
            return Ok(Some(challenge));
        }
        let cookie = SessionCookie::from_set_cookie(response.headers())
            .ok_or(ClientError::InvalidSession)?;
        self.set_session(Some(cookie));
        Ok(None)
    }

    /// The logged-in account. Without a (valid) session:
    /// `Refused { status: 401, code: "unauthenticated" }`.
    pub async fn me(&self) -> Result<Me, ClientError> {
        let mut request = self.http.get(self.url("v1/me")?);
        if let Some(cookie) = self.cookie_header()? {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await?;
        if response.status().is_success() {
            Ok(response.json().await?)
        } else {
            Err(refusal(response).await)
        }
    }

    /// Ends the session on permesi and forgets it here. Succeeds also without a session.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let mut request = self.http.post(self.url("v1/auth/logout")?);
        if let Some(cookie) = self.cookie_header()? {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        self.set_session(None);
        Ok(())
    }
}

/// The start answer of a ceremony (signup, login or password reset).
#[derive(Debug, Deserialize)]
struct Started {
    signup_id: Option<String>,
    login_id: Option<String>,
    reset_id: Option<String>,
    response: String,
}

/// Runs the OPAQUE finish (64 MiB of Argon2id by default) without stalling the async runtime
/// on a multi-threaded runtime.
fn run_ksf<T>(f: impl FnOnce() -> Result<T, opaque::Error>) -> Result<T, ClientError> {
    let in_multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let result = if in_multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    };
    Ok(result?)
}

/// The token of a verification link (its `token` query parameter), or `input` itself when it
/// is not a URL. Surrounding whitespace is ignored.
pub fn token_from_link(input: &str) -> Result<Zeroizing<String>, ClientError> {
    let input = input.trim();
    let token = match url::Url::parse(input) {
        // Links carry the token in the fragment (never sent to servers, so never logged);
        // links mailed before that carried it in the query.
        Ok(link) => Zeroizing::new(
            link.fragment()
                .map(|f| url::form_urlencoded::parse(f.as_bytes()))
                .into_iter()
                .flatten()
                .chain(link.query_pairs())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
                .ok_or(ClientError::InvalidLink)?,
        ),
        Err(_) => Zeroizing::new(input.to_owned()),
    };
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ClientError::InvalidLink);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn links_and_bare_tokens_give_the_token() {
        assert_eq!(
            token_from_link("http://localhost:8080/verify-email#token=abc_DEF-1")
                .unwrap()
                .as_str(),
            "abc_DEF-1"
        );
        assert_eq!(
            token_from_link("  https://x.example/verify-email?a=b&token=t0k \n")
                .unwrap()
                .as_str(),
            "t0k"
        );
        assert_eq!(token_from_link("t0k\n").unwrap().as_str(), "t0k");
        assert!(token_from_link("https://x.example/verify-email").is_err());
        assert!(token_from_link("  ").is_err());
        assert!(token_from_link("a b").is_err());
    }

    #[test]
    fn session_cookies_round_trip_and_never_show_their_value() {
        let cookie = SessionCookie::parse("permesi_session=0123abcd\n").unwrap();
        assert_eq!(
            cookie.to_cookie_string().as_str(),
            "permesi_session=0123abcd"
        );
        assert!(!format!("{cookie:?}").contains("0123abcd"));
        for bad in [
            "",
            "permesi_session",
            "permesi_session=",
            "=x",
            "a=b;c",
            "a=b c",
        ] {
            assert!(SessionCookie::parse(bad).is_err(), "{bad}");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("other=1; Path=/"));
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("permesi_session=ff; Path=/; HttpOnly; Secure"),
        );
        assert_eq!(
            SessionCookie::from_set_cookie(&headers),
            Some(SessionCookie::parse("permesi_session=ff").unwrap())
        );
    }

    #[test]
    fn an_opaque_authentication_failure_is_the_servers_refusal() {
        assert!(ClientError::from(opaque::Error::AuthenticationFailed).is_authentication_failed());
        assert!(matches!(
            ClientError::from(opaque::Error::Malformed),
            ClientError::Opaque(opaque::Error::Malformed)
        ));
    }
}
