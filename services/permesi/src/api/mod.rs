//! permesi HTTP handlers, by area. Thin: decode, call the domain, encode.

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// Every permesi API route (the operational ones are added by `server::ops`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
