//! Step-up: a logged-in session proves a factor again (`/v1/me/reauthenticate/...`) before a
//! change to how the account signs in. Password (OPAQUE, counted in the account's password
//! budget like a login) or a passkey of the account.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use server::client_ip::ClientIp;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    mfa::{CeremonyStarted, PasskeyLoginFinish, options_json, passkey_assertion},
    no_store,
    session::CurrentSession,
};
use crate::{
    app::AppState,
    audit::{Action, Actor, Context, Outcome, Record},
    auth::{self, PasswordCeremony},
    error::Error,
    sessions::{self, Session},
    store::users,
};

/// The first OPAQUE message of a step-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthPasswordStart {
    /// base64url `CredentialRequest` (KE1), as for a login.
    pub request: String,
}

/// The server's credential response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReauthPasswordStarted {
    /// Send back with the finish (2 minutes, once).
    pub reauth_id: String,
    /// base64url `CredentialResponse` (KE2).
    pub response: String,
}

/// The client's finalization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthPasswordFinish {
    /// From the start.
    pub reauth_id: String,
    /// base64url `CredentialFinalization` (KE3).
    pub finalization: String,
}

/// An empty JSON object (every POST has a JSON body).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Records the step-up on the session and in the audit log.
async fn passed(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    method: &'static str,
    context: &Context,
) -> Result<Response, Error> {
    let now = OffsetDateTime::now_utc();
    let presented = sessions::cookie_from_headers(headers, state.sessions.policy().cookie_name())
        .ok_or(Error::Unauthenticated)?;
    state
        .sessions
        .reauthenticated(session, &presented, now)
        .await
        .map_err(|e| match e {
            sessions::SessionError::UnknownUser => Error::Unauthenticated,
            e => e.into(),
        })?;
    let record = Record::new(
        context,
        Actor::User(session.user_id),
        Action::Reauthenticated,
        Outcome::Success,
    )
    .target("session", session.id.as_uuid())
    .detail("method", method);
    state.audit.append_alone(&state.pool, &record, now).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

/// Starts a password step-up for the session's account.
#[utoipa::path(post, path = "/v1/me/reauthenticate/password/start", tag = "session",
    request_body = ReauthPasswordStart,
    responses(
        (status = 200, body = ReauthPasswordStarted),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts (the account's password budget is spent; `Retry-After`)", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_start(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    ClientIp(ip): ClientIp,
    context: Context,
    Json(body): Json<ReauthPasswordStart>,
) -> Result<Response, Error> {
    let index = users::index_of(&state.pool, session.user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let (reauth_id, response) = auth::password_start_for(
        state.auth_parts(),
        PasswordCeremony::Reauth,
        ip,
        &index,
        &body.request,
        &context,
    )
    .await?;
    Ok(no_store(
        Json(ReauthPasswordStarted {
            reauth_id,
            response,
        })
        .into_response(),
    ))
}

/// Finishes a password step-up: the session counts as freshly authenticated.
#[utoipa::path(post, path = "/v1/me/reauthenticate/password/finish", tag = "session",
    request_body = ReauthPasswordFinish,
    responses(
        (status = 204, description = "Re-authenticated"),
        (status = 401, description = "authentication_failed", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_finish(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    ClientIp(ip): ClientIp,
    context: Context,
    headers: HeaderMap,
    Json(body): Json<ReauthPasswordFinish>,
) -> Result<Response, Error> {
    let passed_password = auth::password_finish_for(
        state.auth_parts(),
        PasswordCeremony::Reauth,
        &body.reauth_id,
        &body.finalization,
        &context,
    )
    .await?;
    if passed_password.user != session.user_id {
        return Err(Error::AuthenticationFailed);
    }
    state
        .throttle
        .settle(crate::throttle::Lane::Password, ip, &passed_password.index)
        .await?;
    passed(&state, &session, &headers, "pwd", &context).await
}

/// Starts a passkey step-up: options for the account's own passkeys.
#[utoipa::path(post, path = "/v1/me/reauthenticate/passkey/start", tag = "session",
    request_body = Empty,
    responses(
        (status = 200, body = CeremonyStarted),
        (status = 409, description = "no_passkeys", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn passkey_start(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    Json(_empty): Json<Empty>,
) -> Result<Response, Error> {
    if state.passkeys.list(session.user_id).await?.is_empty() {
        return Err(Error::Conflict("no_passkeys"));
    }
    let index = users::index_of(&state.pool, session.user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let (ceremony_id, options) = state
        .passkeys
        .login_start(&state.ceremonies, Some((&index.0, Some(session.user_id))))
        .await?;
    Ok(no_store(
        Json(CeremonyStarted {
            ceremony_id,
            options: options_json(&options)?,
        })
        .into_response(),
    ))
}

/// Finishes a passkey step-up: the assertion must come from one of the session's account's
/// passkeys.
#[utoipa::path(post, path = "/v1/me/reauthenticate/passkey/finish", tag = "session",
    request_body = PasskeyLoginFinish,
    responses(
        (status = 204, description = "Re-authenticated"),
        (status = 401, description = "authentication_failed", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn passkey_finish(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    headers: HeaderMap,
    Json(body): Json<PasskeyLoginFinish>,
) -> Result<Response, Error> {
    let (user, _) = passkey_assertion(&state, body, &context).await?;
    if user != session.user_id {
        return Err(Error::AuthenticationFailed);
    }
    passed(&state, &session, &headers, "passkey", &context).await
}
