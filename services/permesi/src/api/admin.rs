//! `/v1/admin/...`: claiming the platform, elevation, and operator actions (all audited).

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::session::CurrentSession;
use crate::{
    app::AppState,
    audit::{Action, Actor, AuditLog, Context, Filter, Outcome, Page, Record},
    error::Error,
    identity::email::{self, BlindIndex, Email},
    operators::{self, UserStatus},
    sessions::Session,
};

/// An operator token: a one-time local token (`permesi operator-token`) or a Vault token
/// holding the operators policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorToken {
    /// The token.
    #[schema(value_type = String)]
    pub token: server::Secret<String>,
}

/// The caller's standing as an operator.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminStatus {
    /// Whether anyone has claimed the platform.
    pub claimed: bool,
    /// Whether the caller is an operator.
    pub operator: bool,
    /// When the caller's elevation ends, if this session is elevated.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub elevated_until: Option<OffsetDateTime>,
}

async fn status_of(state: &AppState, session: &Session) -> Result<AdminStatus, Error> {
    let now = OffsetDateTime::now_utc();
    Ok(AdminStatus {
        claimed: state.operators.claimed().await?,
        operator: state.operators.is_operator(session.user_id).await?,
        elevated_until: state
            .operators
            .elevated_until(session.user_id, session.id, now)
            .await?,
    })
}

/// The caller's operator status.
#[utoipa::path(get, path = "/v1/admin/status", tag = "admin",
    responses(
        (status = 200, body = AdminStatus),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn status(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Json<AdminStatus>, Error> {
    Ok(Json(status_of(&state, &session).await?))
}

/// Claims the platform: the caller becomes its first operator. Once only.
#[utoipa::path(post, path = "/v1/admin/claim", tag = "admin",
    request_body = OperatorToken,
    responses(
        (status = 200, body = AdminStatus),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
        (status = 403, description = "operator_token_invalid", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "already_claimed", body = server::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts (3 per 10 minutes; 15 minutes after 3 failures)", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn claim(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Json(body): Json<OperatorToken>,
) -> Result<Json<AdminStatus>, Error> {
    state
        .operators
        .claim(
            session.user_id,
            body.token.expose(),
            &context,
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok(Json(status_of(&state, &session).await?))
}

/// Elevates the caller's session for sensitive operator actions.
#[utoipa::path(post, path = "/v1/admin/elevate", tag = "admin",
    request_body = OperatorToken,
    responses(
        (status = 200, body = AdminStatus),
        (status = 401, description = "unauthenticated", body = server::Problem, content_type = "application/problem+json"),
        (status = 403, description = "operator_required, operator_token_invalid", body = server::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts (3 per 10 minutes; 15 minutes after 3 failures)", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn elevate(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Json(body): Json<OperatorToken>,
) -> Result<Json<AdminStatus>, Error> {
    state
        .operators
        .elevate(
            session.user_id,
            session.id,
            body.token.expose(),
            &context,
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok(Json(status_of(&state, &session).await?))
}

/// An elevated operator's session, or the refusal (audited as `access.denied`).
async fn elevated(state: &AppState, session: &Session, context: &Context) -> Result<Uuid, Error> {
    let now = OffsetDateTime::now_utc();
    match state
        .operators
        .require_elevated(session.user_id, session.id, now)
        .await
    {
        Ok(()) => Ok(session.user_id),
        Err(e) => {
            let record = Record::new(
                context,
                Actor::User(session.user_id),
                Action::AccessDenied,
                Outcome::Denied,
            )
            .detail("reason", e.code());
            state.audit.append_alone(&state.pool, &record, now).await?;
            Err(e)
        }
    }
}

/// User search filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Exact email address (emails are stored encrypted: no substring search).
    pub email: Option<String>,
    /// `active` or `disabled`.
    pub status: Option<UserStatus>,
    /// The previous page's `next_before`.
    pub before: Option<Uuid>,
    /// Page size, 1 to 100 (default 50).
    pub limit: Option<i64>,
}

/// An account as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUser {
    /// Id.
    pub id: Uuid,
    /// Email address.
    pub email: String,
    /// `active` or `disabled`.
    pub status: String,
    /// Whether the address is verified.
    pub email_verified: bool,
    /// Whether the account is a platform operator.
    pub operator: bool,
    /// Signup time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A page of users, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// The users.
    pub users: Vec<AdminUser>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<Uuid>,
}

/// Lists or finds users (elevated operators).
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin",
    params(UserQuery),
    responses(
        (status = 200, body = UserPage),
        (status = 400, description = "invalid_email", body = server::Problem, content_type = "application/problem+json"),
        (status = 403, description = "operator_required, elevation_required", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn users(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Query(query): Query<UserQuery>,
) -> Result<Json<UserPage>, Error> {
    let operator = elevated(&state, &session, &context).await?;
    let index = match &query.email {
        Some(address) => {
            let address = Email::parse(address).map_err(|_| Error::InvalidEmail)?;
            Some(BlindIndex::of(&state.email_index, &address))
        }
        None => None,
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let mut lines = operators::store::list_users(
        &state.pool,
        index.as_ref().map(|i| i.0.as_slice()),
        query.status,
        query.before,
        limit + 1,
    )
    .await?;
    let more = lines.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    lines.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut users = Vec::with_capacity(lines.len());
    for line in lines {
        let address = email::open(state.cipher.as_ref(), line.id, &line.email_ciphertext).await?;
        users.push(AdminUser {
            id: line.id,
            email: address.as_str().to_owned(),
            status: line.status,
            email_verified: line.email_verified,
            operator: line.operator,
            created_at: line.created_at,
        });
    }
    let next_before = if more {
        users.last().map(|u| u.id)
    } else {
        None
    };
    let record = Record::new(
        &context,
        Actor::Operator(operator),
        Action::AdminUsersSearched,
        Outcome::Success,
    )
    .detail("by_email", query.email.is_some())
    .detail("results", users.len());
    state
        .audit
        .append_alone(&state.pool, &record, OffsetDateTime::now_utc())
        .await?;
    Ok(Json(UserPage { users, next_before }))
}

/// Disables or enables an account and, when disabling, ends its sessions; one transaction
/// with its audit entry.
async fn set_status(
    state: &AppState,
    operator: Uuid,
    user: Uuid,
    status: UserStatus,
    context: &Context,
) -> Result<u64, Error> {
    if user == operator && status == UserStatus::Disabled {
        return Err(Error::Conflict("cannot_disable_self"));
    }
    let now = OffsetDateTime::now_utc();
    let mut tx = state.pool.begin().await?;
    if !operators::store::set_status(&mut tx, user, status).await? {
        return Err(Error::NotFound);
    }
    let ended = if status == UserStatus::Disabled {
        state.sessions.end_all(&mut tx, user, None, now).await?
    } else {
        0
    };
    let action = match status {
        UserStatus::Active => Action::AdminUserEnabled,
        UserStatus::Disabled => Action::AdminUserDisabled,
    };
    let record = Record::new(context, Actor::Operator(operator), action, Outcome::Success)
        .target("user", user)
        .detail("sessions_ended", ended);
    state.audit.append(&mut tx, &record, now).await?;
    tx.commit().await?;
    Ok(ended)
}

/// What an operator action did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminDone {
    /// Sessions ended by the action.
    pub sessions_ended: u64,
}

/// Disables an account and ends its sessions (elevated operators).
#[utoipa::path(post, path = "/v1/admin/users/{id}/disable", tag = "admin",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = AdminDone),
        (status = 403, description = "operator_required, elevation_required", body = server::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "cannot_disable_self", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn disable(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Path(user): Path<Uuid>,
) -> Result<Json<AdminDone>, Error> {
    let operator = elevated(&state, &session, &context).await?;
    let sessions_ended = set_status(&state, operator, user, UserStatus::Disabled, &context).await?;
    Ok(Json(AdminDone { sessions_ended }))
}

/// Enables a disabled account (elevated operators).
#[utoipa::path(post, path = "/v1/admin/users/{id}/enable", tag = "admin",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = AdminDone),
        (status = 403, description = "operator_required, elevation_required", body = server::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn enable(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Path(user): Path<Uuid>,
) -> Result<Json<AdminDone>, Error> {
    let operator = elevated(&state, &session, &context).await?;
    let sessions_ended = set_status(&state, operator, user, UserStatus::Active, &context).await?;
    Ok(Json(AdminDone { sessions_ended }))
}

/// Ends every session of a user (elevated operators).
#[utoipa::path(post, path = "/v1/admin/users/{id}/sessions/end", tag = "admin",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = AdminDone),
        (status = 403, description = "operator_required, elevation_required", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn end_sessions(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Path(user): Path<Uuid>,
) -> Result<Json<AdminDone>, Error> {
    let operator = elevated(&state, &session, &context).await?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.pool.begin().await?;
    let sessions_ended = state.sessions.end_all(&mut tx, user, None, now).await?;
    let record = Record::new(
        &context,
        Actor::Operator(operator),
        Action::AdminUserSessionsEnded,
        Outcome::Success,
    )
    .target("user", user)
    .detail("sessions_ended", sessions_ended);
    state.audit.append(&mut tx, &record, now).await?;
    tx.commit().await?;
    Ok(Json(AdminDone { sessions_ended }))
}

/// The audit log, newest first, with filters (elevated operators; every organization).
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin",
    params(Filter),
    responses(
        (status = 200, body = Page),
        (status = 400, description = "invalid query", body = server::Problem, content_type = "application/problem+json"),
        (status = 403, description = "operator_required, elevation_required", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Query(filter): Query<Filter>,
) -> Result<Json<Page>, Error> {
    read_log(&state, &session, &context, &filter, "audit_log").await
}

/// A page of the audit log or of the security events for an elevated operator, the reading
/// itself audited.
async fn read_log(
    state: &AppState,
    session: &Session,
    context: &Context,
    filter: &Filter,
    log: &'static str,
) -> Result<Json<Page>, Error> {
    let operator = elevated(state, session, context).await?;
    let page = if log == "security_events" {
        AuditLog::security_events(&state.pool, filter).await?
    } else {
        AuditLog::query(&state.pool, filter).await?
    };
    let record = Record::new(
        context,
        Actor::Operator(operator),
        Action::AdminAuditRead,
        Outcome::Success,
    )
    .detail("log", log)
    .detail("results", page.entries.len());
    state
        .audit
        .append_alone(&state.pool, &record, OffsetDateTime::now_utc())
        .await?;
    Ok(Json(page))
}

/// Anonymous security events (failed logins, wrong codes, refused attempts), newest first,
/// with the audit log's filters; `seq` is the event's id (elevated operators; audited).
#[utoipa::path(get, path = "/v1/admin/security-events", tag = "admin",
    params(Filter),
    responses(
        (status = 200, body = Page),
        (status = 400, description = "invalid query", body = server::Problem, content_type = "application/problem+json"),
        (status = 403, description = "operator_required, elevation_required", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn security_events(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Query(filter): Query<Filter>,
) -> Result<Json<Page>, Error> {
    read_log(&state, &session, &context, &filter, "security_events").await
}

/// An organization as support sees it: members, projects, environments and applications, no
/// secrets (elevated operators; audited).
#[utoipa::path(get, path = "/v1/admin/orgs/{org}", tag = "admin",
    params(("org" = String, Path, description = "Organization slug")),
    responses(
        (status = 200, body = crate::tenancy::OrgOverview),
        (status = 403, description = "operator_required, elevation_required", body = server::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn org(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Path(org): Path<String>,
) -> Result<Json<crate::tenancy::OrgOverview>, Error> {
    let operator = elevated(&state, &session, &context).await?;
    let org_id = crate::tenancy::org_id_by_slug(&state.pool, &org)
        .await?
        .ok_or(Error::NotFound)?;
    let overview = crate::tenancy::org_overview(&state.pool, org_id).await?;
    let record = Record::new(
        &context,
        Actor::Operator(operator),
        Action::AdminOrgViewed,
        Outcome::Success,
    )
    .target("org", org_id)
    .org(org_id);
    state
        .audit
        .append_alone(&state.pool, &record, OffsetDateTime::now_utc())
        .await?;
    Ok(Json(overview))
}
