//! Rate-limit middleware for the minting routes.

use std::time::Instant;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use server::client_ip::ClientIp;

use crate::{app::AppState, error::Error};

/// Refuses a request over the per-IP or global limit with 429 and `Retry-After`.
pub async fn rate_limit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Request,
    next: Next,
) -> Response {
    if let Err(limited) = state.limiter.check(ip, Instant::now()) {
        state
            .metrics
            .refused
            .with_label_values(&["rate_limited"])
            .inc();
        return Error::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        }
        .into_response();
    }
    next.run(request).await
}
