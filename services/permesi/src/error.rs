//! The one permesi error type and its mapping to HTTP problem details.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use server::Problem;

/// Everything a permesi request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dependency failed; details go to the log, never to the client.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(detail) => {
                tracing::error!(error = %detail, "request failed");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service temporarily unavailable",
                )
                .into_response()
            }
        }
    }
}
