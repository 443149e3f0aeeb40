//! Tenancy: organizations own projects, projects own environments, environments own
//! applications (the OIDC clients).
//!
//! - [`authz`]: roles, actions and the one [`authorize`] function every tenant endpoint calls
//!   (non-members get "not found", members without the role "forbidden").
//! - [`validate`]: validated slugs, names, tiers, client settings and list parameters.
//! - [`secret`]: client ids and client secrets (HMAC-SHA256 under a secret-store key).
//! - [`service`]: the operations: authorize, change in one transaction with its audit entry.
//! - Rules the database enforces as well (`0007_tenancy.sql`): slugs unique among live
//!   siblings, one live production environment per project, production first and last.
//!
//! See `docs/tenancy.md`.

pub mod authz;
pub mod oidc_client;
pub mod secret;
pub mod service;
pub mod validate;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub use authz::{Denied, Role, TenantAction, authorize};
pub use secret::{ClientSecretKey, verify_client_secret};
pub use service::{Parts, org_id_by_slug, org_overview, purge_deleted, run_purge, spawn_purge};
pub use validate::{ClientType, GrantType, ListParams, Name, Slug, Tier};

/// An organization, with the caller's role in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Org {
    /// Id.
    pub id: Uuid,
    /// Unique among live organizations; used in paths.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The caller's role.
    pub role: Role,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// A member of an organization.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    /// The user.
    pub user_id: Uuid,
    /// Their email address (empty in the operator overview).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Their role.
    pub role: Role,
    /// Joined.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: OffsetDateTime,
}

/// A pending invitation (never its token).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invitation {
    /// Id, to revoke it.
    pub id: Uuid,
    /// The invited address.
    pub email: String,
    /// The role the invitee gets.
    pub role: Role,
    /// Who invited (absent once that account is gone).
    pub invited_by: Option<Uuid>,
    /// Sent.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The link stops working then.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// A project.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Project {
    /// Id.
    pub id: Uuid,
    /// Unique among the organization's live projects.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// An environment of a project.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Environment {
    /// Id.
    pub id: Uuid,
    /// The project.
    pub project_id: Uuid,
    /// Unique among the project's live environments.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// `production` (one per project, first), `staging` or `development`.
    pub tier: Tier,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// An application: an OIDC client of an environment. Its secret is never shown here.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Application {
    /// Id.
    pub id: Uuid,
    /// The environment.
    pub environment_id: Uuid,
    /// Unique among the environment's live applications.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Public OAuth client id.
    pub client_id: String,
    /// `confidential` (has a secret) or `public`.
    pub client_type: ClientType,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes it may request.
    pub allowed_scopes: Vec<String>,
    /// Grants it may use.
    pub grant_types: Vec<GrantType>,
    /// When the current secret was made (confidential clients).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub secret_rotated_at: Option<OffsetDateTime>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// Everything in an organization, for the operators' support view (no secret, no token).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgOverview {
    /// Id.
    pub id: Uuid,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Set when the organization is deleted (awaiting purge).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<OffsetDateTime>,
    /// Members (ids and roles).
    pub members: Vec<Member>,
    /// Live projects.
    pub projects: Vec<Project>,
    /// Live environments of those projects.
    pub environments: Vec<Environment>,
    /// Live applications of those environments.
    pub applications: Vec<Application>,
}
