//! Rate-limit middleware for the minting routes.

use std::{net::SocketAddr, time::Instant};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{app::AppState, error::Error};

/// Refuses a request over the per-IP or global limit with 429 and `Retry-After`.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = state.proxies.client_ip(peer, request.headers());
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
