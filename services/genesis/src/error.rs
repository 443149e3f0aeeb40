//! The one genesis error type and its mapping to HTTP problem details.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use pow::PowError;
use server::Problem;

/// Everything a genesis request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The action is not one genesis admits.
    #[error("unknown action")]
    UnknownAction,
    /// The challenge or its solution was refused.
    #[error("challenge refused: {0}")]
    Pow(PowError),
    /// The challenge was already used.
    #[error("challenge already used")]
    Replayed,
    /// Over a rate limit.
    #[error("rate limited")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The key backend failed (signing is never replaced by anything weaker).
    #[error("key backend: {0}")]
    Keys(#[from] keys::KeysError),
    /// Minting failed.
    #[error("mint: {0}")]
    Mint(#[from] admission_token::MintError),
    /// The replay store failed: refuse rather than risk a second use.
    #[error(transparent)]
    Replay(#[from] server::replay::ReplayError),
    /// A configuration problem found at run time.
    #[error("configuration: {0}")]
    Config(&'static str),
}

impl Error {
    /// Stable code for problem details and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownAction => "unknown_action",
            Self::Pow(e) => e.code(),
            Self::Replayed => "challenge_used",
            Self::RateLimited { .. } => "rate_limited",
            Self::Keys(_) | Self::Mint(_) | Self::Replay(_) | Self::Config(_) => "unavailable",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::UnknownAction | Self::Pow(_) => StatusCode::BAD_REQUEST,
            Self::Replayed => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Keys(_) | Self::Mint(_) | Self::Replay(_) | Self::Config(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::UnknownAction => "Unknown action",
            Self::Pow(PowError::InsufficientWork) => "Insufficient work",
            Self::Pow(PowError::Expired) => "Challenge expired",
            Self::Pow(_) => "Invalid challenge",
            Self::Replayed => "Challenge already used",
            Self::RateLimited { .. } => "Too many requests",
            _ => "Service temporarily unavailable",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // Details stay in the log; the client learns only that it may retry.
            tracing::error!(error = %self, "request failed");
        }
        let mut response = Problem::new(status, self.code(), self.title()).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
