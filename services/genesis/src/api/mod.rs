//! genesis HTTP handlers, by area. Thin: decode, call the domain, encode.

mod admission;
mod limit;
mod paserk;

use axum::middleware::from_fn_with_state;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

/// Every genesis API route (the operational ones are added by `server::ops`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admission::challenge))
        .routes(routes!(admission::admit))
        .routes(routes!(paserk::keyset))
}

/// [`routes`] with the rate limits on the minting routes (not on `/paserk.json`, which
/// verifiers and caches fetch).
pub fn routes_with_limits(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admission::challenge))
        .routes(routes!(admission::admit))
        .route_layer(from_fn_with_state(state, limit::rate_limit))
        .routes(routes!(paserk::keyset))
}
