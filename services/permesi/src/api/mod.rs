//! permesi HTTP handlers, by area. Thin: decode, call the domain, encode.

mod admin;
mod auth;
mod context;
mod session;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    admission_gate::{Gate, require},
    app::AppState,
};

/// Every permesi API route, without the admission gate (for the OpenAPI document).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::signup_start))
        .routes(routes!(auth::signup_finish))
        .routes(routes!(auth::login_start))
        .routes(routes!(auth::login_finish))
        .routes(routes!(auth::verify_email))
        .routes(routes!(auth::resend_verification))
        .merge(session_routes())
}

fn session_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin::status))
        .routes(routes!(admin::claim))
        .routes(routes!(admin::elevate))
        .routes(routes!(admin::users))
        .routes(routes!(admin::disable))
        .routes(routes!(admin::enable))
        .routes(routes!(admin::end_sessions))
        .routes(routes!(admin::audit))
        .routes(routes!(session::current))
        .routes(routes!(session::logout))
        .routes(routes!(session::get_me))
        .routes(routes!(session::list))
        .routes(routes!(session::revoke))
        .routes(routes!(session::password_start))
        .routes(routes!(session::password_finish))
}

/// [`routes`] with the admission gate on the first step of every auth ceremony, each for its
/// own action. Finishes are bound to their admitted start by a single-use handle.
pub fn routes_with_gate(gate: &Gate) -> OpenApiRouter<AppState> {
    let gated = |router: OpenApiRouter<AppState>, action: &'static str| {
        router.route_layer(require(gate.clone(), action))
    };
    OpenApiRouter::new()
        .merge(gated(
            OpenApiRouter::new().routes(routes!(auth::signup_start)),
            "signup",
        ))
        .merge(gated(
            OpenApiRouter::new().routes(routes!(auth::login_start)),
            "login",
        ))
        .merge(gated(
            OpenApiRouter::new().routes(routes!(auth::verify_email)),
            "verify_email",
        ))
        .merge(gated(
            OpenApiRouter::new().routes(routes!(auth::resend_verification)),
            "resend_verification",
        ))
        .routes(routes!(auth::signup_finish))
        .routes(routes!(auth::login_finish))
        .merge(session_routes())
}
