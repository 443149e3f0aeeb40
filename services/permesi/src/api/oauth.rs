//! The OpenID Provider's HTTP surface: discovery, JWKS, `/oauth/*`, and the JSON endpoints
//! the console's login and consent pages call. Errors on `/oauth/*` use the OAuth format.

use axum::{
    Form, Json,
    extract::{Path, Query, State, rejection::FormRejection, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::session::CurrentSession;
use crate::{
    app::AppState,
    audit::{Action, Context},
    error::Error,
    oidc::provider::{
        self, Authorize, AuthorizeQuery, BasicCredentials, LogoutQuery, RequestView, TokenForm,
        TokenResponse,
    },
    sessions,
    store::oauth as store,
};

/// `no-store`, and `Pragma: no-cache` for HTTP/1.0 caches (RFC 6749 section 5.1).
fn no_store(response: Response) -> Response {
    let mut response = super::no_store(response);
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

fn redirect(location: &str) -> Result<Response, Error> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| Error::oauth("invalid_request", "unusable redirect"))?;
    Ok(no_store(
        (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
    ))
}

/// OpenID Connect discovery.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth",
    responses((status = 200, description = "Provider metadata", body = Object)))]
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    cacheable(
        Json(provider::discovery(
            &state.oidc.config,
            &state.oidc.keys.algorithms(),
        ))
        .into_response(),
    )
}

/// OAuth 2.0 authorization server metadata (RFC 8414): the same document.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "Server metadata", body = Object)))]
pub async fn authorization_server(State(state): State<AppState>) -> Response {
    cacheable(
        Json(provider::discovery(
            &state.oidc.config,
            &state.oidc.keys.algorithms(),
        ))
        .into_response(),
    )
}

/// The public keys tokens are signed with, prepublished before use.
#[utoipa::path(get, path = "/oauth/jwks", tag = "oauth",
    responses((status = 200, description = "JWK Set", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> Result<Response, Error> {
    let mut response = Json(state.oidc.keys.jwks().await?).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    Ok(cacheable(response))
}

/// The authorization endpoint (authorization code flow with PKCE `S256`).
#[utoipa::path(get, path = "/oauth/authorize", tag = "oauth", params(AuthorizeQuery),
    responses(
        (status = 302, description = "To the client (code or error), the console's login or consent page"),
        (status = 400, description = "Unknown client or redirect URI: shown, never redirected", body = Object),
    ))]
pub async fn authorize(
    State(state): State<AppState>,
    context: Context,
    session: Option<CurrentSession>,
    query: Result<Query<AuthorizeQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Ok(Query(query)) = query else {
        return Err(Error::oauth("invalid_request", "malformed query"));
    };
    match provider::authorize(&state, query, session.map(|s| s.0), &context).await? {
        Authorize::Redirect(to) => redirect(&to),
        Authorize::Page(error) => Err(error),
    }
}

/// `Authorization: Basic` client credentials, form-urlencoded inside (RFC 6749 2.3.1).
fn basic(headers: &HeaderMap) -> Result<Option<BasicCredentials>, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || Error::oauth("invalid_client", "malformed Basic credentials");
    let text = value.to_str().map_err(|_| invalid())?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(invalid());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| invalid())?);
    let decoded = std::str::from_utf8(&decoded).map_err(|_| invalid())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    let unescape = |raw: &str| -> String {
        url::form_urlencoded::parse(format!("v={raw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some(BasicCredentials {
        client_id: unescape(id),
        secret: Zeroizing::new(unescape(secret)),
    }))
}

fn form(form: Result<Form<TokenForm>, FormRejection>) -> Result<TokenForm, Error> {
    form.map(|Form(f)| f).map_err(|_| {
        Error::oauth(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded, each parameter once",
        )
    })
}

/// The token endpoint: `authorization_code`, `refresh_token`, `client_credentials`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "OAuth error", body = Object),
        (status = 401, description = "invalid_client", body = Object),
    ))]
pub async fn token(
    State(state): State<AppState>,
    context: Context,
    headers: HeaderMap,
    body: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, Error> {
    let body = form(body)?;
    let response = provider::token(&state, body, basic(&headers)?, &context).await?;
    Ok(no_store(Json(response).into_response()))
}

fn bearer(headers: &HeaderMap) -> Result<&str, Error> {
    let invalid = || Error::oauth("invalid_token", "a Bearer access token is required");
    let text = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(invalid)?
        .to_str()
        .map_err(|_| invalid())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(invalid());
    }
    Ok(token.trim())
}

/// The user's claims for the access token's scopes.
#[utoipa::path(get, path = "/oauth/userinfo", tag = "oauth",
    responses(
        (status = 200, description = "Claims", body = Object),
        (status = 401, description = "invalid_token", body = Object),
    ))]
pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let claims = provider::userinfo(&state, bearer(&headers)?).await?;
    Ok(no_store(Json(claims).into_response()))
}

/// [`userinfo`] by POST (OIDC Core 5.3.1).
#[utoipa::path(post, path = "/oauth/userinfo", tag = "oauth",
    responses(
        (status = 200, description = "Claims", body = Object),
        (status = 401, description = "invalid_token", body = Object),
    ))]
pub async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    userinfo(State(state), headers).await
}

/// Token introspection (RFC 7662) for the calling client's own tokens.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`{active, ...}`", body = Object),
        (status = 401, description = "invalid_client", body = Object),
    ))]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, Error> {
    let body = form(body)?;
    let client = provider::authenticate_client(&state, &body, basic(&headers)?).await?;
    let token = body
        .token
        .as_deref()
        .ok_or_else(|| Error::oauth("invalid_request", "token is required"))?;
    let answer = provider::introspect(&state, &client, token).await?;
    Ok(no_store(Json(answer).into_response()))
}

/// Token revocation (RFC 7009): `200` whatever the token was.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 401, description = "invalid_client", body = Object),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    context: Context,
    headers: HeaderMap,
    body: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, Error> {
    let body = form(body)?;
    let client = provider::authenticate_client(&state, &body, basic(&headers)?).await?;
    let token = body
        .token
        .as_deref()
        .ok_or_else(|| Error::oauth("invalid_request", "token is required"))?;
    provider::revoke(&state, &client, token, &context).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// RP-initiated logout: ends the session the ID token hint names, then goes to the exact
/// registered `post_logout_redirect_uri` (or answers `200`).
#[utoipa::path(get, path = "/oauth/logout", tag = "oauth", params(LogoutQuery),
    responses(
        (status = 302, description = "To the post-logout redirect URI"),
        (status = 200, description = "Logged out, no redirect requested", body = Object),
        (status = 400, description = "Bad hint or unregistered URI: shown, never redirected", body = Object),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    context: Context,
    headers: HeaderMap,
    session: Option<CurrentSession>,
    query: Result<Query<LogoutQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Ok(Query(query)) = query else {
        return Err(Error::oauth("invalid_request", "malformed query"));
    };
    let decision = provider::logout(&state, &query).await?;
    let policy = state.sessions.policy();
    let mut ended = false;
    if let (Some(CurrentSession(current)), Some(sid)) = (session, decision.end_session)
        && current.id.as_uuid() == sid
        && let Some(presented) = sessions::cookie_from_headers(&headers, policy.cookie_name())
    {
        state
            .sessions
            .revoke_presented(
                &presented,
                Action::OAuthLogout,
                &context,
                OffsetDateTime::now_utc(),
            )
            .await?;
        ended = true;
    }
    let mut response = match decision.redirect {
        Some(to) => redirect(&to)?,
        None => no_store(Json(serde_json::json!({ "logged_out": ended })).into_response()),
    };
    if ended {
        let clear = HeaderValue::from_str(&sessions::clear_cookie(policy))
            .map_err(|_| Error::Unavailable("cookie header".into()))?;
        response.headers_mut().insert(header::SET_COOKIE, clear);
    }
    Ok(response)
}

/// A pending authorization request, for the console's login and consent pages.
#[utoipa::path(get, path = "/v1/oauth/requests/{id}", tag = "consent",
    params(("id" = String, Path, description = "The `request` parameter the page was given")),
    responses(
        (status = 200, body = RequestView),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
        (status = 404, description = "unknown or expired", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_request(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let view = provider::request_view(&state, &id, &session).await?;
    Ok(no_store(Json(view).into_response()))
}

/// The user's answer on the consent page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentAnswer {
    /// Whether the user allows the application the scopes.
    pub approve: bool,
}

/// Where the console sends the browser next.
#[derive(Debug, Serialize, ToSchema)]
pub struct Next {
    /// Back to `/oauth/authorize?request=...`, or to the client with `access_denied`.
    pub redirect_to: String,
}

/// Approves or denies a pending request.
#[utoipa::path(post, path = "/v1/oauth/requests/{id}/consent", tag = "consent",
    params(("id" = String, Path, description = "The `request` parameter the page was given")),
    request_body = ConsentAnswer,
    responses(
        (status = 200, body = Next),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
        (status = 404, description = "unknown or expired", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn consent(
    State(state): State<AppState>,
    context: Context,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
    Json(answer): Json<ConsentAnswer>,
) -> Result<Response, Error> {
    let redirect_to =
        provider::decide_consent(&state, &id, &session, answer.approve, &context).await?;
    Ok(no_store(Json(Next { redirect_to }).into_response()))
}

/// One application the user consented to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// Client id (to revoke it).
    pub client_id: String,
    /// Application name.
    pub application: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When first granted.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub granted_at: OffsetDateTime,
}

/// The applications the user consented to.
#[utoipa::path(get, path = "/v1/me/consents", tag = "consent",
    responses(
        (status = 200, body = [ConsentView]),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_consents(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Response, Error> {
    let lines: Vec<ConsentView> = store::consents(&state.pool, session.user_id)
        .await?
        .into_iter()
        .map(|c| ConsentView {
            client_id: c.client_id,
            application: c.name,
            scopes: c.scopes,
            granted_at: c.granted_at,
        })
        .collect();
    Ok(no_store(Json(lines).into_response()))
}

/// Withdraws consent from an application and revokes its tokens for the user.
#[utoipa::path(delete, path = "/v1/me/consents/{client_id}", tag = "consent",
    params(("client_id" = String, Path, description = "The application's client id")),
    responses(
        (status = 204, description = "Withdrawn; its refresh and access tokens are revoked"),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such consent", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_consent(
    State(state): State<AppState>,
    context: Context,
    CurrentSession(session): CurrentSession,
    Path(client_id): Path<String>,
) -> Result<Response, Error> {
    provider::revoke_consent(&state, &session, &client_id, &context).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}
