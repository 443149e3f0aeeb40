//! Rust SDK for permesi, and the `permesictl` command line.
//!
//! [`GenesisClient`] gets admission tokens: it asks genesis for a proof-of-work challenge,
//! solves it on a blocking thread (reporting progress), and exchanges the solution for a
//! PASETO admission token to send to permesi in the `X-Permesi-Admission` header.
//!
//! Depends on no web framework; the same `pow` crate solves challenges in the browser console.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Header that carries an admission token to permesi.
pub const ADMISSION_HEADER: &str = "x-permesi-admission";

/// What can go wrong getting a token.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not an http(s) URL.
    #[error("invalid genesis URL")]
    InvalidUrl,
    /// genesis could not be reached.
    #[error("genesis unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    /// genesis refused, with its problem `code` and HTTP status.
    #[error("genesis refused ({status}): {code}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Problem details `code`.
        code: String,
    },
    /// The challenge could not be decoded or solved.
    #[error("challenge: {0}")]
    Pow(#[from] pow::PowError),
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
        let base = url::Url::parse(base).map_err(|_| ClientError::InvalidUrl)?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl);
        }
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
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let problem: serde_json::Value = response.json().await.unwrap_or_default();
        Err(ClientError::Refused {
            status: status.as_u16(),
            code: problem["code"].as_str().unwrap_or("unknown").to_owned(),
        })
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
