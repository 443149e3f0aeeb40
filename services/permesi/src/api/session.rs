//! The caller's session: `/v1/auth/session`, `/v1/auth/logout`, `/v1/me`, `/v1/me/sessions`.

use std::net::IpAddr;

use axum::{
    Json,
    extract::{FromRequestParts, OptionalFromRequestParts, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{Action, Context},
    error::Error,
    identity::email,
    sessions::{self, Session, SessionId},
};

/// The authenticated session of a request (from the session cookie), or 401.
#[derive(Debug, Clone)]
pub struct CurrentSession(pub Session);

impl OptionalFromRequestParts<AppState> for CurrentSession {
    type Rejection = Error;

    /// `None` without a valid session; an error only when the session store cannot answer.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Error> {
        let name = state.sessions.policy().cookie_name();
        let Some(presented) = sessions::cookie_from_headers(&parts.headers, name) else {
            return Ok(None);
        };
        Ok(state
            .sessions
            .authenticate(&presented, OffsetDateTime::now_utc())
            .await?
            .map(CurrentSession))
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        <Self as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
            .await?
            .ok_or(Error::Unauthenticated)
    }
}

/// An account as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User id.
    pub id: Uuid,
    /// Email address.
    pub email: String,
    /// Whether the address is verified.
    pub email_verified: bool,
}

/// The current session and its user.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The user.
    pub user: Me,
    /// This session's id.
    pub session_id: Uuid,
    /// When it ends without further use.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub idle_expires_at: OffsetDateTime,
    /// When it ends regardless.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub absolute_expires_at: OffsetDateTime,
    /// When the session last proved a factor (its login or a step-up): changes to how the
    /// account signs in need this within the last 10 minutes.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub authenticated_at: OffsetDateTime,
}

/// One of the user's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionLine {
    /// Id, to revoke it.
    pub id: Uuid,
    /// Whether it is the session making this request.
    pub current: bool,
    /// Login time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last recorded use.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: OffsetDateTime,
    /// Browser at login.
    pub user_agent: Option<String>,
    /// Client address at login.
    #[schema(value_type = Option<String>)]
    pub client_ip: Option<IpAddr>,
    /// How the user logged in (RFC 8176 values).
    pub auth_methods: Vec<&'static str>,
}

async fn me(state: &AppState, user: Uuid) -> Result<Me, Error> {
    let (address, email_verified) = email::of_user(&state.pool, state.cipher.as_ref(), user)
        .await?
        .ok_or(Error::Unauthenticated)?;
    Ok(Me {
        id: user,
        email: address.as_str().to_owned(),
        email_verified,
    })
}

use super::no_store;

/// The current session: `200` with the user, or `204` when not logged in.
#[utoipa::path(get, path = "/v1/auth/session", tag = "session",
    responses(
        (status = 200, body = SessionView),
        (status = 204, description = "Not logged in"),
    ))]
pub async fn current(
    State(state): State<AppState>,
    session: Option<CurrentSession>,
) -> Result<Response, Error> {
    let Some(CurrentSession(session)) = session else {
        return Ok(no_store(StatusCode::NO_CONTENT.into_response()));
    };
    let view = SessionView {
        user: me(&state, session.user_id).await?,
        session_id: session.id.as_uuid(),
        idle_expires_at: session.idle_expires_at,
        absolute_expires_at: session.absolute_expires_at,
        authenticated_at: session.authenticated_at,
    };
    Ok(no_store(Json(view).into_response()))
}

/// The address typed to confirm an account deletion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// The account's email address, typed again.
    pub email: String,
}

/// Deletes the logged-in user's account (needs a login in the last 10 minutes and the
/// account's address typed again). Every session ends and the cookie is cleared.
#[utoipa::path(delete, path = "/v1/me", tag = "session",
    request_body = DeleteAccount,
    responses(
        (status = 204, description = "Deleted; the cookie is cleared"),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
        (status = 403, description = "reauthentication_required", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "last_owner (an organization has no other owner), last_operator", body = server::Problem, content_type = "application/problem+json"),
        (status = 422, description = "confirmation_mismatch", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_me(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Json(body): Json<DeleteAccount>,
) -> Result<Response, Error> {
    super::mfa::recent(&session)?;
    crate::auth::deletion::delete_account(
        state.auth_parts(),
        session.user_id,
        &body.email,
        &context,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let clear = HeaderValue::from_str(&sessions::clear_cookie(state.sessions.policy()))
        .map_err(|_| Error::Unavailable("cookie header".into()))?;
    Ok(no_store(
        (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response(),
    ))
}

/// Ends the presented session (if any) and clears the cookie. Always `204`.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "session",
    responses((status = 204, description = "Logged out; the cookie is cleared")))]
pub async fn logout(
    State(state): State<AppState>,
    context: Context,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let policy = state.sessions.policy();
    if let Some(presented) = sessions::cookie_from_headers(&headers, policy.cookie_name()) {
        state
            .sessions
            .revoke_presented(
                &presented,
                Action::Logout,
                &context,
                OffsetDateTime::now_utc(),
            )
            .await?;
    }
    let clear = HeaderValue::from_str(&sessions::clear_cookie(policy))
        .map_err(|_| Error::Unavailable("cookie header".into()))?;
    Ok(no_store(
        (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response(),
    ))
}

/// The logged-in user.
#[utoipa::path(get, path = "/v1/me", tag = "session",
    responses(
        (status = 200, body = Me),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_me(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Response, Error> {
    Ok(no_store(
        Json(me(&state, session.user_id).await?).into_response(),
    ))
}

/// The user's active sessions, most recently used first.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "session",
    responses(
        (status = 200, body = [SessionLine]),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Response, Error> {
    let lines: Vec<SessionLine> = state
        .sessions
        .list(session.user_id, OffsetDateTime::now_utc())
        .await?
        .into_iter()
        .map(|s| SessionLine {
            id: s.id.as_uuid(),
            current: s.id == session.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            user_agent: s.user_agent,
            client_ip: s.client_ip,
            auth_methods: s.auth_methods.iter().map(|m| m.as_str()).collect(),
        })
        .collect();
    Ok(no_store(Json(lines).into_response()))
}

/// Ends one of the user's sessions. `404` for an id that is not one of theirs.
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "session",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    let revoked = state
        .sessions
        .revoke(
            SessionId::from_uuid(id),
            session.user_id,
            &context,
            OffsetDateTime::now_utc(),
        )
        .await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound)
    }
}

/// A new password's OPAQUE registration request.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordStart {
    /// base64url `RegistrationRequest` (32 bytes) made with the new password.
    pub request: String,
}

/// The server's registration response for the new password.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordStarted {
    /// Send back with the finish (valid 5 minutes, once, for this user only).
    pub change_id: String,
    /// base64url `RegistrationResponse` (64 bytes).
    pub response: String,
}

/// The new password's registration upload.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordFinish {
    /// From the start.
    pub change_id: String,
    /// base64url `RegistrationUpload` (192 bytes).
    pub upload: String,
}

/// Starts a password change for the logged-in user (OPAQUE re-registration).
#[utoipa::path(post, path = "/v1/me/password/start", tag = "session",
    request_body = PasswordStart,
    responses(
        (status = 200, body = PasswordStarted),
        (status = 400, description = "malformed", body = server::Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_start(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    Json(body): Json<PasswordStart>,
) -> Result<Response, Error> {
    super::mfa::recent(&session)?;
    let (change_id, response) =
        crate::auth::password_start(state.auth_parts(), session.user_id, &body.request).await?;
    Ok(no_store(
        Json(PasswordStarted {
            change_id,
            response,
        })
        .into_response(),
    ))
}

/// Finishes a password change: the new record replaces the old, and every other session of the
/// user ends (this one stays).
#[utoipa::path(post, path = "/v1/me/password/finish", tag = "session",
    request_body = PasswordFinish,
    responses(
        (status = 204, description = "Changed; other sessions ended"),
        (status = 400, description = "ceremony_expired, malformed", body = server::Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_finish(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Json(body): Json<PasswordFinish>,
) -> Result<StatusCode, Error> {
    super::mfa::recent(&session)?;
    let ended = crate::auth::password_finish(
        state.auth_parts(),
        session.user_id,
        session.id,
        &body.change_id,
        &body.upload,
        &context,
    )
    .await?;
    tracing::info!(ended, "password changed; other sessions ended");
    super::mfa::notify(
        &state,
        session.user_id,
        crate::verification::delivery::Notice::PasswordChanged,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
