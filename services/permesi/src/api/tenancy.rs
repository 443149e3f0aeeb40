//! `/v1/orgs/...` and `/v1/invitations/accept`: organizations, members, invitations, projects,
//! environments, applications and the organization's audit log. Session-authenticated; every
//! operation authorizes in [`crate::tenancy::service`]. Organizations the caller is not in
//! answer 404, like ones that do not exist.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use uuid::Uuid;

use super::session::CurrentSession;
use crate::tenancy::oidc_client::OidcClientSettings;
use crate::{
    app::AppState,
    audit::{self, Context},
    error::Error,
    tenancy::{
        Application, ClientType, Environment, GrantType, Invitation, ListParams, Member, Org,
        Project, Role, Tier,
        service::{ApplicationChange, Caller, Listed, NewApplication},
    },
};

/// Errors every tenant endpoint may answer (problem details).
#[derive(IntoResponses)]
#[allow(dead_code)] // only documents the responses
pub enum TenantErrors {
    /// Bad JSON, query or path.
    #[response(
        status = 400,
        description = "bad_request, invalid_email, invalid_or_expired_token",
        content_type = "application/problem+json"
    )]
    BadRequest(server::Problem),
    /// No session.
    #[response(
        status = 401,
        description = "unauthenticated",
        content_type = "application/problem+json"
    )]
    Unauthenticated(server::Problem),
    /// A member whose role is too low.
    #[response(
        status = 403,
        description = "forbidden",
        content_type = "application/problem+json"
    )]
    Forbidden(server::Problem),
    /// Nothing there, or an organization the caller is not a member of (one answer).
    #[response(
        status = 404,
        description = "not_found",
        content_type = "application/problem+json"
    )]
    NotFound(server::Problem),
    /// A rule of the current state.
    #[response(
        status = 409,
        description = "slug_taken, production_exists, production_first, production_in_use, \
                       last_owner, already_member, invitation_pending, public_client",
        content_type = "application/problem+json"
    )]
    Conflict(server::Problem),
    /// Unknown fields, or a value out of bounds.
    #[response(
        status = 422,
        description = "unprocessable_entity (unknown or missing fields), invalid_slug, \
                       invalid_name, invalid_redirect_uri, invalid_scope, invalid_grant_types, \
                       invalid_limit, invalid_cursor, invalid_query",
        content_type = "application/problem+json"
    )]
    Invalid(server::Problem),
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    super::no_store((status, Json(body)).into_response())
}

fn caller<'a>(session: &CurrentSession, context: &'a Context) -> Caller<'a> {
    Caller {
        user: session.0.user_id,
        context,
    }
}

/// Page parameters of list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 50).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Case-insensitive substring of the name or slug.
    pub q: Option<String>,
}

impl ListQuery {
    fn by_slug(self) -> Result<ListParams, Error> {
        ListParams::new(self.limit, self.cursor, self.q, ListParams::slug_cursor)
    }
}

/// Page parameters of the member list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Page size, 1 to 100 (default 50).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only members with this role.
    pub role: Option<Role>,
}

/// Page parameters of the invitation list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 50).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

macro_rules! page {
    ($name:ident, $item:ty) => {
        /// A page of a list.
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            /// The items.
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }

        impl From<Listed<$item>> for $name {
            fn from(l: Listed<$item>) -> Self {
                Self {
                    items: l.items,
                    next_cursor: l.next_cursor,
                }
            }
        }
    };
}

page!(OrgPage, Org);
page!(MemberPage, Member);
page!(InvitationPage, Invitation);
page!(ProjectPage, Project);
page!(EnvironmentPage, Environment);
page!(ApplicationPage, Application);

/// A new organization or project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNamed {
    /// `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`, unique among live siblings.
    pub slug: String,
    /// 1 to 100 characters.
    pub name: String,
}

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// 1 to 100 characters.
    pub name: String,
}

/// A new environment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// Slug, unique among the project's live environments.
    pub slug: String,
    /// 1 to 100 characters.
    pub name: String,
    /// `production` first (exactly one), then `staging` or `development`.
    pub tier: Tier,
}

/// A role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// The new role.
    pub role: Role,
}

/// An invitation to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// Who to invite; they accept while logged in with this (verified) address.
    pub email: String,
    /// Role they get (`owner` only by owners).
    pub role: Role,
}

/// The token of an invitation link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The `token` query parameter of the link.
    #[schema(value_type = String)]
    pub token: server::Secret<String>,
}

/// A new application (OIDC client).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApplication {
    /// Slug, unique among the environment's live applications.
    pub slug: String,
    /// 1 to 100 characters.
    pub name: String,
    /// `confidential` (gets a secret) or `public`.
    pub client_type: ClientType,
    /// Exact redirect URIs: `https`, or `http` to localhost / 127.0.0.1 / [::1]; no fragment.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs (same rules).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Scopes it may request (default `["openid"]`).
    pub allowed_scopes: Option<Vec<String>>,
    /// Grants (default `authorization_code`, `refresh_token`); `client_credentials` only for
    /// confidential clients.
    pub grant_types: Option<Vec<GrantType>>,
}

/// Changes to an application; absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApplication {
    /// New name.
    pub name: Option<String>,
    /// New redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// New scopes.
    pub allowed_scopes: Option<Vec<String>>,
    /// New grants.
    pub grant_types: Option<Vec<GrantType>>,
}

/// An application with its client secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationWithSecret {
    /// The application.
    pub application: Application,
    /// The client secret (confidential clients): store it now, it is never shown again.
    #[serde(serialize_with = "super::expose_option")]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<server::Secret<String>>,
}

// ---- organizations ------------------------------------------------------------------------

/// The caller's organizations, by slug.
#[utoipa::path(get, path = "/v1/orgs", tag = "tenancy", params(ListQuery),
    responses((status = 200, body = OrgPage), TenantErrors))]
pub async fn list_orgs(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Query(query): Query<ListQuery>,
) -> Result<Response, Error> {
    let params = query.by_slug()?;
    let page = state
        .tenancy_parts()
        .list_orgs(caller(&session, &context), &params)
        .await?;
    Ok(json(StatusCode::OK, &OrgPage::from(page)))
}

/// Creates an organization; the caller becomes its owner.
#[utoipa::path(post, path = "/v1/orgs", tag = "tenancy", request_body = CreateNamed,
    responses((status = 201, body = Org), TenantErrors))]
pub async fn create_org(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Json(body): Json<CreateNamed>,
) -> Result<Response, Error> {
    let org = state
        .tenancy_parts()
        .create_org(caller(&session, &context), &body.slug, &body.name)
        .await?;
    Ok(json(StatusCode::CREATED, &org))
}

/// An organization the caller belongs to.
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug")),
    responses((status = 200, body = Org), TenantErrors))]
pub async fn get_org(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
) -> Result<Response, Error> {
    let org = state
        .tenancy_parts()
        .access(
            caller(&session, &context),
            &org,
            crate::tenancy::TenantAction::OrgRead,
        )
        .await?;
    Ok(json(StatusCode::OK, &org))
}

/// Renames an organization (admins).
#[utoipa::path(patch, path = "/v1/orgs/{org}", tag = "tenancy", request_body = Rename,
    params(("org" = String, Path, description = "Organization slug")),
    responses((status = 200, body = Org), TenantErrors))]
pub async fn update_org(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
    Json(body): Json<Rename>,
) -> Result<Response, Error> {
    let org = state
        .tenancy_parts()
        .update_org(caller(&session, &context), &org, &body.name)
        .await?;
    Ok(json(StatusCode::OK, &org))
}

/// Deletes an organization and everything in it (owners). Purged after the retention period.
#[utoipa::path(delete, path = "/v1/orgs/{org}", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug")),
    responses((status = 204, description = "Deleted"), TenantErrors))]
pub async fn delete_org(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
) -> Result<StatusCode, Error> {
    state
        .tenancy_parts()
        .delete_org(caller(&session, &context), &org)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- members ------------------------------------------------------------------------------

/// Members, by user id.
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"), MemberQuery),
    responses((status = 200, body = MemberPage), TenantErrors))]
pub async fn list_members(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
    Query(query): Query<MemberQuery>,
) -> Result<Response, Error> {
    let params = ListParams::new(query.limit, query.cursor, None, ListParams::uuid_cursor)?;
    let page = state
        .tenancy_parts()
        .list_members(caller(&session, &context), &org, query.role, &params)
        .await?;
    Ok(json(StatusCode::OK, &MemberPage::from(page)))
}

/// Changes a member's role (admins; `owner` granted or taken only by owners; never the last
/// owner's).
#[utoipa::path(patch, path = "/v1/orgs/{org}/members/{user_id}", tag = "tenancy",
    request_body = ChangeRole,
    params(("org" = String, Path, description = "Organization slug"),
           ("user_id" = Uuid, Path, description = "The member")),
    responses((status = 204, description = "Changed"), TenantErrors))]
pub async fn change_role(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, user)): Path<(String, Uuid)>,
    Json(body): Json<ChangeRole>,
) -> Result<StatusCode, Error> {
    state
        .tenancy_parts()
        .change_role(caller(&session, &context), &org, user, body.role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (admins; owners only by owners), or leaves when `user_id` is the caller's.
/// The last owner cannot leave.
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{user_id}", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("user_id" = Uuid, Path, description = "The member, or the caller to leave")),
    responses((status = 204, description = "Removed"), TenantErrors))]
pub async fn remove_member(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, user)): Path<(String, Uuid)>,
) -> Result<StatusCode, Error> {
    state
        .tenancy_parts()
        .remove_member(caller(&session, &context), &org, user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- invitations --------------------------------------------------------------------------

/// Open invitations, oldest first (admins).
#[utoipa::path(get, path = "/v1/orgs/{org}/invitations", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"), PageQuery),
    responses((status = 200, body = InvitationPage), TenantErrors))]
pub async fn list_invitations(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, Error> {
    let params = ListParams::new(query.limit, query.cursor, None, ListParams::uuid_cursor)?;
    let page = state
        .tenancy_parts()
        .list_invitations(caller(&session, &context), &org, &params)
        .await?;
    Ok(json(StatusCode::OK, &InvitationPage::from(page)))
}

/// Invites someone by email (admins). The link, valid 7 days and once, goes by mail only.
#[utoipa::path(post, path = "/v1/orgs/{org}/invitations", tag = "tenancy",
    request_body = CreateInvitation,
    params(("org" = String, Path, description = "Organization slug")),
    responses((status = 201, body = Invitation), TenantErrors))]
pub async fn invite(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
    Json(body): Json<CreateInvitation>,
) -> Result<Response, Error> {
    let invitation = state
        .tenancy_parts()
        .invite(caller(&session, &context), &org, &body.email, body.role)
        .await?;
    Ok(json(StatusCode::CREATED, &invitation))
}

/// Withdraws an open invitation (admins).
#[utoipa::path(delete, path = "/v1/orgs/{org}/invitations/{invitation_id}", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("invitation_id" = Uuid, Path, description = "Invitation id")),
    responses((status = 204, description = "Revoked"), TenantErrors))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, id)): Path<(String, Uuid)>,
) -> Result<StatusCode, Error> {
    state
        .tenancy_parts()
        .revoke_invitation(caller(&session, &context), &org, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation as the logged-in user, whose verified address must be the invited
/// one (`403 forbidden` otherwise). Unknown, used, revoked and expired tokens answer
/// `400 invalid_or_expired_token`.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "tenancy",
    request_body = AcceptInvitation,
    responses((status = 200, description = "Joined", body = Org), TenantErrors))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Json(body): Json<AcceptInvitation>,
) -> Result<Response, Error> {
    let org = state
        .tenancy_parts()
        .accept(caller(&session, &context), body.token.expose())
        .await?;
    Ok(json(StatusCode::OK, &org))
}

// ---- projects -----------------------------------------------------------------------------

/// Projects, by slug.
#[utoipa::path(get, path = "/v1/orgs/{org}/projects", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"), ListQuery),
    responses((status = 200, body = ProjectPage), TenantErrors))]
pub async fn list_projects(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Error> {
    let params = query.by_slug()?;
    let page = state
        .tenancy_parts()
        .list_projects(caller(&session, &context), &org, &params)
        .await?;
    Ok(json(StatusCode::OK, &ProjectPage::from(page)))
}

/// Creates a project (admins).
#[utoipa::path(post, path = "/v1/orgs/{org}/projects", tag = "tenancy",
    request_body = CreateNamed,
    params(("org" = String, Path, description = "Organization slug")),
    responses((status = 201, body = Project), TenantErrors))]
pub async fn create_project(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
    Json(body): Json<CreateNamed>,
) -> Result<Response, Error> {
    let project = state
        .tenancy_parts()
        .create_project(caller(&session, &context), &org, &body.slug, &body.name)
        .await?;
    Ok(json(StatusCode::CREATED, &project))
}

/// A project.
#[utoipa::path(get, path = "/v1/orgs/{org}/projects/{project}", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug")),
    responses((status = 200, body = Project), TenantErrors))]
pub async fn get_project(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, Error> {
    let (_, project) = state
        .tenancy_parts()
        .access_project(
            caller(&session, &context),
            &org,
            &project,
            crate::tenancy::TenantAction::ProjectRead,
        )
        .await?;
    Ok(json(StatusCode::OK, &project))
}

/// Renames a project (admins).
#[utoipa::path(patch, path = "/v1/orgs/{org}/projects/{project}", tag = "tenancy",
    request_body = Rename,
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug")),
    responses((status = 200, body = Project), TenantErrors))]
pub async fn update_project(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project)): Path<(String, String)>,
    Json(body): Json<Rename>,
) -> Result<Response, Error> {
    let project = state
        .tenancy_parts()
        .update_project(caller(&session, &context), &org, &project, &body.name)
        .await?;
    Ok(json(StatusCode::OK, &project))
}

/// Deletes a project with its environments and applications (admins).
#[utoipa::path(delete, path = "/v1/orgs/{org}/projects/{project}", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug")),
    responses((status = 204, description = "Deleted"), TenantErrors))]
pub async fn delete_project(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    state
        .tenancy_parts()
        .delete_project(caller(&session, &context), &org, &project)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- environments -------------------------------------------------------------------------

/// Environments of a project, by slug.
#[utoipa::path(get, path = "/v1/orgs/{org}/projects/{project}/environments", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"), ListQuery),
    responses((status = 200, body = EnvironmentPage), TenantErrors))]
pub async fn list_environments(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Error> {
    let params = query.by_slug()?;
    let page = state
        .tenancy_parts()
        .list_environments(caller(&session, &context), &org, &project, &params)
        .await?;
    Ok(json(StatusCode::OK, &EnvironmentPage::from(page)))
}

/// Creates an environment (admins): `production` first, exactly one per project.
#[utoipa::path(post, path = "/v1/orgs/{org}/projects/{project}/environments", tag = "tenancy",
    request_body = CreateEnvironment,
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug")),
    responses((status = 201, body = Environment), TenantErrors))]
pub async fn create_environment(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project)): Path<(String, String)>,
    Json(body): Json<CreateEnvironment>,
) -> Result<Response, Error> {
    let environment = state
        .tenancy_parts()
        .create_environment(
            caller(&session, &context),
            &org,
            &project,
            (&body.slug, &body.name, body.tier),
        )
        .await?;
    Ok(json(StatusCode::CREATED, &environment))
}

/// An environment.
#[utoipa::path(get, path = "/v1/orgs/{org}/projects/{project}/environments/{env}",
    tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug")),
    responses((status = 200, body = Environment), TenantErrors))]
pub async fn get_environment(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env)): Path<(String, String, String)>,
) -> Result<Response, Error> {
    let (_, _, environment) = state
        .tenancy_parts()
        .access_environment(
            caller(&session, &context),
            (&org, &project, &env),
            crate::tenancy::TenantAction::EnvironmentRead,
        )
        .await?;
    Ok(json(StatusCode::OK, &environment))
}

/// Renames an environment (admins).
#[utoipa::path(patch, path = "/v1/orgs/{org}/projects/{project}/environments/{env}",
    tag = "tenancy", request_body = Rename,
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug")),
    responses((status = 200, body = Environment), TenantErrors))]
pub async fn update_environment(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env)): Path<(String, String, String)>,
    Json(body): Json<Rename>,
) -> Result<Response, Error> {
    let environment = state
        .tenancy_parts()
        .update_environment(
            caller(&session, &context),
            (&org, &project, &env),
            &body.name,
        )
        .await?;
    Ok(json(StatusCode::OK, &environment))
}

/// Deletes an environment and its applications (admins); production only once it is the
/// project's last environment.
#[utoipa::path(delete, path = "/v1/orgs/{org}/projects/{project}/environments/{env}",
    tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug")),
    responses((status = 204, description = "Deleted"), TenantErrors))]
pub async fn delete_environment(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    state
        .tenancy_parts()
        .delete_environment(caller(&session, &context), (&org, &project, &env))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- applications -------------------------------------------------------------------------

/// Applications of an environment, by slug.
#[utoipa::path(get, path = "/v1/orgs/{org}/projects/{project}/environments/{env}/applications",
    tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug"), ListQuery),
    responses((status = 200, body = ApplicationPage), TenantErrors))]
pub async fn list_applications(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env)): Path<(String, String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Error> {
    let params = query.by_slug()?;
    let page = state
        .tenancy_parts()
        .list_applications(caller(&session, &context), (&org, &project, &env), &params)
        .await?;
    Ok(json(StatusCode::OK, &ApplicationPage::from(page)))
}

/// Creates an application (members); a confidential one's client secret is in this response
/// only.
#[utoipa::path(post, path = "/v1/orgs/{org}/projects/{project}/environments/{env}/applications",
    tag = "tenancy", request_body = CreateApplication,
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug")),
    responses((status = 201, body = ApplicationWithSecret), TenantErrors))]
pub async fn create_application(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env)): Path<(String, String, String)>,
    Json(body): Json<CreateApplication>,
) -> Result<Response, Error> {
    let input = NewApplication {
        slug: body.slug,
        name: body.name,
        client_type: body.client_type,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        allowed_scopes: body.allowed_scopes,
        grant_types: body.grant_types,
    };
    let (application, secret) = state
        .tenancy_parts()
        .create_application(caller(&session, &context), (&org, &project, &env), input)
        .await?;
    let body = ApplicationWithSecret {
        application,
        client_secret: secret.map(|s| s.as_str().to_owned().into()),
    };
    Ok(json(StatusCode::CREATED, &body))
}

/// An application (never its secret).
#[utoipa::path(get,
    path = "/v1/orgs/{org}/projects/{project}/environments/{env}/applications/{app}",
    tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug"),
           ("app" = String, Path, description = "Application slug")),
    responses((status = 200, body = Application), TenantErrors))]
pub async fn get_application(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env, app)): Path<(String, String, String, String)>,
) -> Result<Response, Error> {
    let (_, application) = state
        .tenancy_parts()
        .access_application(
            caller(&session, &context),
            (&org, &project, &env, &app),
            crate::tenancy::TenantAction::ApplicationRead,
        )
        .await?;
    Ok(json(StatusCode::OK, &application))
}

/// Changes an application's name or OAuth settings (members).
#[utoipa::path(patch,
    path = "/v1/orgs/{org}/projects/{project}/environments/{env}/applications/{app}",
    tag = "tenancy", request_body = UpdateApplication,
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug"),
           ("app" = String, Path, description = "Application slug")),
    responses((status = 200, body = Application), TenantErrors))]
pub async fn update_application(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env, app)): Path<(String, String, String, String)>,
    Json(body): Json<UpdateApplication>,
) -> Result<Response, Error> {
    let change = ApplicationChange {
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        allowed_scopes: body.allowed_scopes,
        grant_types: body.grant_types,
    };
    let application = state
        .tenancy_parts()
        .update_application(
            caller(&session, &context),
            (&org, &project, &env, &app),
            change,
        )
        .await?;
    Ok(json(StatusCode::OK, &application))
}

/// An application's OpenID Connect client settings (subject type, ID token algorithm, keys
/// for `private_key_jwt`).
#[utoipa::path(get,
    path = "/v1/orgs/{org}/projects/{project}/environments/{env}/applications/{app}/oidc",
    tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug"),
           ("app" = String, Path, description = "Application slug")),
    responses((status = 200, body = OidcClientSettings), TenantErrors))]
pub async fn get_oidc_client(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env, app)): Path<(String, String, String, String)>,
) -> Result<Response, Error> {
    let settings = state
        .tenancy_parts()
        .oidc_client(caller(&session, &context), (&org, &project, &env, &app))
        .await?;
    Ok(json(StatusCode::OK, &settings))
}

/// Replaces an application's OpenID Connect client settings (members). Key sets hold Ed25519
/// public keys only; private key members are refused. The ID token algorithm must be one the
/// provider signs with (discovery's `id_token_signing_alg_values_supported`), else 422
/// `unsupported_id_token_alg`. Takes effect at once on the instance that took the change, and
/// within 5 seconds on the others (their client caches).
#[utoipa::path(put,
    path = "/v1/orgs/{org}/projects/{project}/environments/{env}/applications/{app}/oidc",
    tag = "tenancy", request_body = OidcClientSettings,
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug"),
           ("app" = String, Path, description = "Application slug")),
    responses((status = 200, body = OidcClientSettings), TenantErrors))]
pub async fn put_oidc_client(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env, app)): Path<(String, String, String, String)>,
    Json(body): Json<OidcClientSettings>,
) -> Result<Response, Error> {
    state
        .tenancy_parts()
        .set_oidc_client(
            caller(&session, &context),
            (&org, &project, &env, &app),
            &body,
            &state.oidc.keys.algorithms(),
        )
        .await?;
    Ok(json(StatusCode::OK, &body))
}

/// Deletes an application (admins).
#[utoipa::path(delete,
    path = "/v1/orgs/{org}/projects/{project}/environments/{env}/applications/{app}",
    tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug"),
           ("app" = String, Path, description = "Application slug")),
    responses((status = 204, description = "Deleted"), TenantErrors))]
pub async fn delete_application(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env, app)): Path<(String, String, String, String)>,
) -> Result<StatusCode, Error> {
    state
        .tenancy_parts()
        .delete_application(caller(&session, &context), (&org, &project, &env, &app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a confidential application's client secret (members); the new secret is in this
/// response only and the old one stops working at once.
#[utoipa::path(post,
    path = "/v1/orgs/{org}/projects/{project}/environments/{env}/applications/{app}/secret",
    tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"),
           ("project" = String, Path, description = "Project slug"),
           ("env" = String, Path, description = "Environment slug"),
           ("app" = String, Path, description = "Application slug")),
    responses((status = 200, body = ApplicationWithSecret), TenantErrors))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path((org, project, env, app)): Path<(String, String, String, String)>,
) -> Result<Response, Error> {
    let (application, secret) = state
        .tenancy_parts()
        .rotate_secret(caller(&session, &context), (&org, &project, &env, &app))
        .await?;
    let body = ApplicationWithSecret {
        application,
        client_secret: Some(secret.as_str().to_owned().into()),
    };
    Ok(json(StatusCode::OK, &body))
}

// ---- audit --------------------------------------------------------------------------------

/// The organization's audit log, newest first (admins). `org_id` is always this
/// organization's, whatever the query says.
#[utoipa::path(get, path = "/v1/orgs/{org}/audit", tag = "tenancy",
    params(("org" = String, Path, description = "Organization slug"), audit::Filter),
    responses((status = 200, body = audit::Page), TenantErrors))]
pub async fn org_audit(
    State(state): State<AppState>,
    session: CurrentSession,
    context: Context,
    Path(org): Path<String>,
    Query(filter): Query<audit::Filter>,
) -> Result<Response, Error> {
    let page = state
        .tenancy_parts()
        .audit(caller(&session, &context), &org, filter)
        .await?;
    Ok(json(StatusCode::OK, &page))
}
