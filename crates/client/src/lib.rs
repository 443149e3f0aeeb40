//! Rust SDK for permesi, and the `permesictl` command line.
//!
//! - [`GenesisClient`] gets admission tokens: it asks genesis for a proof-of-work challenge,
//!   solves it on a blocking thread (reporting progress), and exchanges the solution for a
//!   PASETO admission token to send to permesi in the `X-Permesi-Admission` header.
//! - [`PermesiClient`] is the OPAQUE client side of permesi: signup, email verification, login
//!   (keeping the session cookie), `/v1/me` and logout. Each ceremony start gets its own
//!   admission token from genesis.
//!
//! Depends on no web framework; the same `pow` crate solves challenges in the browser console.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod permesi;

use std::ops::ControlFlow;

pub use opaque::client::Params;
pub use permesi::{
    INSECURE_SESSION_COOKIE, Me, PermesiClient, SESSION_COOKIE, SessionCookie, token_from_link,
};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Header that carries an admission token to permesi.
pub const ADMISSION_HEADER: &str = "x-permesi-admission";

/// What can go wrong talking to genesis or permesi.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A base URL is not an http(s) URL.
    #[error("invalid URL")]
    InvalidUrl,
    /// genesis or permesi could not be reached, or answered something unreadable.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// genesis or permesi refused, with its problem `code` and HTTP status. A wrong password
    /// or an unknown (or unverified) account is always
    /// `Refused { status: 401, code: "authentication_failed" }`, whether the OPAQUE client
    /// noticed it locally or permesi did.
    #[error("refused ({status}): {code}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Problem details `code`.
        code: String,
    },
    /// The challenge could not be decoded or solved.
    #[error("challenge: {0}")]
    Pow(#[from] pow::PowError),
    /// The OPAQUE client failed on a server message (other than an authentication failure,
    /// which is [`ClientError::Refused`]).
    #[error("OPAQUE: {0}")]
    Opaque(opaque::Error),
    /// A verification link without a `token`, or an empty token.
    #[error("not a verification link or token")]
    InvalidLink,
    /// A session cookie that is not `name=value` with cookie-safe characters, or a login
    /// answer without one.
    #[error("invalid or missing session cookie")]
    InvalidSession,
    /// The password was right but the account has TOTP on: log in with
    /// `PermesiClient::login_with_code` (a TOTP code or a recovery code).
    #[error("a second factor is required (TOTP or recovery code)")]
    SecondFactorRequired,
}

impl ClientError {
    /// The refusal a wrong password or an unknown account gets.
    pub fn authentication_failed() -> Self {
        Self::Refused {
            status: 401,
            code: "authentication_failed".to_owned(),
        }
    }

    /// Whether this is a wrong password or an unknown (or unverified) account.
    pub fn is_authentication_failed(&self) -> bool {
        matches!(self, Self::Refused { status: 401, code } if code == "authentication_failed")
    }
}

impl From<opaque::Error> for ClientError {
    fn from(e: opaque::Error) -> Self {
        match e {
            opaque::Error::AuthenticationFailed => Self::authentication_failed(),
            other => Self::Opaque(other),
        }
    }
}

/// The [`ClientError::Refused`] of a non-success response (problem+json `code`, or `unknown`).
async fn refusal(response: reqwest::Response) -> ClientError {
    let status = response.status().as_u16();
    let problem: serde_json::Value = response.json().await.unwrap_or_default();
    ClientError::Refused {
        status,
        code: problem["code"].as_str().unwrap_or("unknown").to_owned(),
    }
}

/// A challenge as genesis sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct ChallengeResponse {
    /// Opaque wire form.
    pub challenge: String,
    /// Admitted action.
    pub action: String,
    /// Leading zero bits required.
    pub difficulty: u8,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An admission token.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Admission {
    /// PASETO v4.public token.
    pub token: String,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Admitted action.
    pub action: String,
}

/// Progress of a solve: attempts so far and the difficulty.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Nonces tried so far.
    pub attempts: u64,
    /// Leading zero bits required.
    pub difficulty: u8,
}

/// A client of genesis's admission API.
#[derive(Debug, Clone)]
pub struct GenesisClient {
    base: url::Url,
    http: reqwest::Client,
}

impl GenesisClient {
    /// A client for genesis at `base` (e.g. `http://localhost:8000`).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let base = base_url(base)?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self { base, http })
    }

    fn url(&self, path: &str) -> Result<url::Url, ClientError> {
        self.base.join(path).map_err(|_| ClientError::InvalidUrl)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ClientError> {
        let response = self.http.post(self.url(path)?).json(body).send().await?;
        if response.status().is_success() {
            return Ok(response.json().await?);
        }
        Err(refusal(response).await)
    }

    /// Asks for a challenge for `action`.
    pub async fn challenge(&self, action: &str) -> Result<ChallengeResponse, ClientError> {
        self.post("v1/pow/challenge", &serde_json::json!({ "action": action }))
            .await
    }

    /// Exchanges a solved challenge for a token.
    pub async fn admit(&self, challenge: &str, solution: u64) -> Result<Admission, ClientError> {
        self.post(
            "v1/admission",
            &serde_json::json!({ "challenge": challenge, "solution": solution }),
        )
        .await
    }

    /// Challenge, solve (on a blocking thread, calling `progress` now and then), admit.
    pub async fn admission_token(
        &self,
        action: &str,
        progress: impl Fn(Progress) + Send + 'static,
    ) -> Result<Admission, ClientError> {
        let challenge = self.challenge(action).await?;
        let solution = solve(&challenge.challenge, progress).await?;
        self.admit(&challenge.challenge, solution).await
    }
}

/// Parses an http(s) base URL.
fn base_url(base: &str) -> Result<url::Url, ClientError> {
    let base = url::Url::parse(base).map_err(|_| ClientError::InvalidUrl)?;
    if matches!(base.scheme(), "http" | "https") && base.has_host() {
        Ok(base)
    } else {
        Err(ClientError::InvalidUrl)
    }
}

/// Solves an encoded challenge on a blocking thread.
pub async fn solve(
    encoded: &str,
    progress: impl Fn(Progress) + Send + 'static,
) -> Result<u64, ClientError> {
    let challenge = pow::Challenge::decode(encoded)?;
    let difficulty = challenge.difficulty().get();
    tokio::task::spawn_blocking(move || {
        pow::solve(&challenge, |attempts| {
            progress(Progress {
                attempts,
                difficulty,
            });
            ControlFlow::Continue(())
        })
    })
    .await
    .map_err(|_| pow::PowError::Cancelled)?
    .map_err(ClientError::Pow)
}
