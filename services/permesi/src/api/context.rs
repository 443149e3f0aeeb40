//! The audit context of a request: client address and request id.

use axum::{extract::FromRequestParts, http::request::Parts};
use server::middleware::REQUEST_ID;

use crate::{app::AppState, audit::Context};

impl FromRequestParts<AppState> for Context {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Context {
            client_ip: Some(state.proxies.client_ip_of(parts)),
            request_id: parts
                .headers
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })
    }
}
