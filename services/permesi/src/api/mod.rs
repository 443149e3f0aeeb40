//! permesi HTTP handlers, by area. Thin: decode, call the domain, encode.

mod admin;
mod auth;
mod context;
pub mod mfa;
mod oauth;
mod reauth;
mod session;
mod tenancy;

use axum::{
    http::{HeaderValue, header},
    response::Response,
};
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
        .routes(routes!(auth::password_reset_request))
        .routes(routes!(auth::password_reset_start))
        .routes(routes!(auth::password_reset_finish))
        .routes(routes!(mfa::mfa_totp))
        .routes(routes!(mfa::mfa_recovery))
        .routes(routes!(mfa::passkey_login_start))
        .merge(session_routes())
        .merge(tenancy_routes())
        .merge(oauth_routes())
}

/// The OpenID Provider and the console's consent endpoints (not admission-gated: relying
/// parties and browsers call them directly).
fn oauth_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(oauth::openid_configuration))
        .routes(routes!(oauth::authorization_server))
        .routes(routes!(oauth::jwks))
        .routes(routes!(oauth::authorize))
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::userinfo, oauth::userinfo_post))
        .routes(routes!(oauth::introspect))
        .routes(routes!(oauth::revoke))
        .routes(routes!(oauth::logout))
        .routes(routes!(oauth::get_request))
        .routes(routes!(oauth::consent))
        .routes(routes!(oauth::list_consents))
        .routes(routes!(oauth::revoke_consent))
}

/// Session-authenticated tenant routes (not admission-gated).
fn tenancy_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenancy::list_orgs, tenancy::create_org))
        .routes(routes!(
            tenancy::get_org,
            tenancy::update_org,
            tenancy::delete_org
        ))
        .routes(routes!(tenancy::list_members))
        .routes(routes!(tenancy::change_role, tenancy::remove_member))
        .routes(routes!(tenancy::list_invitations, tenancy::invite))
        .routes(routes!(tenancy::revoke_invitation))
        .routes(routes!(tenancy::accept_invitation))
        .routes(routes!(tenancy::list_projects, tenancy::create_project))
        .routes(routes!(
            tenancy::get_project,
            tenancy::update_project,
            tenancy::delete_project
        ))
        .routes(routes!(
            tenancy::list_environments,
            tenancy::create_environment
        ))
        .routes(routes!(
            tenancy::get_environment,
            tenancy::update_environment,
            tenancy::delete_environment
        ))
        .routes(routes!(
            tenancy::list_applications,
            tenancy::create_application
        ))
        .routes(routes!(
            tenancy::get_application,
            tenancy::update_application,
            tenancy::delete_application
        ))
        .routes(routes!(tenancy::get_oidc_client, tenancy::put_oidc_client))
        .routes(routes!(tenancy::rotate_secret))
        .routes(routes!(tenancy::org_audit))
}

fn session_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mfa::status))
        .routes(routes!(mfa::totp_enrol))
        .routes(routes!(mfa::totp_confirm))
        .routes(routes!(mfa::totp_disable))
        .routes(routes!(mfa::recovery_codes))
        .routes(routes!(mfa::passkey_register_start))
        .routes(routes!(mfa::passkey_register_finish))
        .routes(routes!(mfa::passkey_list))
        .routes(routes!(mfa::passkey_rename, mfa::passkey_delete))
        .routes(routes!(mfa::passkey_login_finish))
        .routes(routes!(admin::status))
        .routes(routes!(admin::claim))
        .routes(routes!(admin::elevate))
        .routes(routes!(admin::users))
        .routes(routes!(admin::disable))
        .routes(routes!(admin::enable))
        .routes(routes!(admin::end_sessions))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::security_events))
        .routes(routes!(admin::org))
        .routes(routes!(session::current))
        .routes(routes!(session::logout))
        .routes(routes!(session::get_me, session::delete_me))
        .routes(routes!(session::list))
        .routes(routes!(session::revoke))
        .routes(routes!(session::password_start))
        .routes(routes!(session::password_finish))
        .routes(routes!(reauth::password_start))
        .routes(routes!(reauth::password_finish))
        .routes(routes!(reauth::passkey_start))
        .routes(routes!(reauth::passkey_finish))
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
        .merge(gated(
            OpenApiRouter::new().routes(routes!(auth::password_reset_request)),
            "password_reset",
        ))
        .merge(gated(
            OpenApiRouter::new()
                .routes(routes!(mfa::mfa_totp))
                .routes(routes!(mfa::mfa_recovery)),
            "mfa",
        ))
        .merge(gated(
            OpenApiRouter::new().routes(routes!(mfa::passkey_login_start)),
            "passkey_login",
        ))
        .routes(routes!(auth::signup_finish))
        .routes(routes!(auth::login_finish))
        .routes(routes!(auth::password_reset_start))
        .routes(routes!(auth::password_reset_finish))
        .merge(session_routes())
        .merge(tenancy_routes())
        .merge(oauth_routes())
}

/// Marks a response that carries personal data, secrets or session state as not cacheable.
pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Serializes a [`server::Secret`] into a response body, the one place its value leaves on
/// purpose (`Debug` stays redacted, so logging a request or response never shows it).
pub(crate) fn expose<T: serde::Serialize, S: serde::Serializer>(
    secret: &server::Secret<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(secret.expose(), serializer)
}

/// [`expose`] for an optional secret.
#[allow(clippy::ref_option)] // serde's `serialize_with` passes a reference to the field
pub(crate) fn expose_option<T: serde::Serialize, S: serde::Serializer>(
    secret: &Option<server::Secret<T>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&secret.as_ref().map(server::Secret::expose), serializer)
}
