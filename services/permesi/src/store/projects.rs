//! Projects and their environments.

use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::constraints;
use crate::{
    error::Error,
    tenancy::{Environment, ListParams, Project, Tier},
};

fn project(row: &PgRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn environment(row: &PgRow) -> Result<Environment, sqlx::Error> {
    let tier: String = row.try_get("tier")?;
    Ok(Environment {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        tier: Tier::parse(&tier)
            .ok_or_else(|| sqlx::Error::Decode("unexpected stored tier".into()))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Creates a project.
pub async fn create(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    slug: &str,
    name: &str,
    now: OffsetDateTime,
) -> Result<Project, Error> {
    sqlx::query(
        "INSERT INTO projects (id, org_id, slug, name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id)
    .bind(org)
    .bind(slug)
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(Project {
        id,
        slug: slug.to_owned(),
        name: name.to_owned(),
        created_at: now,
        updated_at: now,
    })
}

/// Live projects of an organization, by slug.
pub async fn list(
    pool: &PgPool,
    org: Uuid,
    params: &ListParams,
) -> Result<Vec<Project>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, slug, name, created_at, updated_at FROM projects \
         WHERE org_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR slug > $2) \
           AND ($3::text IS NULL OR strpos(lower(name), $3) > 0 OR strpos(slug, $3) > 0) \
         ORDER BY slug LIMIT $4",
    )
    .bind(org)
    .bind(&params.cursor)
    .bind(&params.q)
    .bind(params.fetch())
    .fetch_all(pool)
    .await?;
    rows.iter().map(project).collect()
}

/// Every live project of an organization.
pub async fn all(pool: &PgPool, org: Uuid) -> Result<Vec<Project>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, slug, name, created_at, updated_at FROM projects \
         WHERE org_id = $1 AND deleted_at IS NULL ORDER BY slug",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.iter().map(project).collect()
}

/// The live project `slug` of `org`.
pub async fn by_slug(pool: &PgPool, org: Uuid, slug: &str) -> Result<Option<Project>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, slug, name, created_at, updated_at FROM projects \
         WHERE org_id = $1 AND slug = $2 AND deleted_at IS NULL",
    )
    .bind(org)
    .bind(slug)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(project).transpose()
}

/// Renames a live project; the project after the change.
pub async fn rename(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    now: OffsetDateTime,
) -> Result<Option<Project>, Error> {
    let row = sqlx::query(
        "UPDATE projects SET name = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL \
         RETURNING id, slug, name, created_at, updated_at",
    )
    .bind(id)
    .bind(name)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(row.as_ref().map(project).transpose()?)
}

/// Soft-deletes a live project with its applications and environments (production last).
pub async fn soft_delete(
    conn: &mut PgConnection,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    Ok(soft_delete_all(conn, &[id], now).await? == 1)
}

/// Soft-deletes the live projects among `ids` with their applications and environments:
/// applications, then non-production environments, then production (the order the
/// environment rules require), then the projects. Returns how many projects it deleted.
pub async fn soft_delete_all(
    conn: &mut PgConnection,
    ids: &[Uuid],
    now: OffsetDateTime,
) -> Result<u64, Error> {
    for sql in [
        "UPDATE applications SET deleted_at = $2 WHERE deleted_at IS NULL AND environment_id IN \
         (SELECT id FROM environments WHERE project_id = ANY($1))",
        "UPDATE environments SET deleted_at = $2 \
         WHERE project_id = ANY($1) AND deleted_at IS NULL AND tier <> 'production'",
        "UPDATE environments SET deleted_at = $2 WHERE project_id = ANY($1) AND deleted_at IS NULL",
    ] {
        sqlx::query(sql)
            .bind(ids)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(constraints::tenancy)?;
    }
    let done = sqlx::query(
        "UPDATE projects SET deleted_at = $2, updated_at = $2 \
         WHERE id = ANY($1) AND deleted_at IS NULL",
    )
    .bind(ids)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected())
}

/// Creates an environment. The database refuses a second production (`production_exists`)
/// and a non-production environment before production (`production_first`).
pub async fn create_environment(
    conn: &mut PgConnection,
    project: Uuid,
    id: Uuid,
    slug: &str,
    name: &str,
    tier: Tier,
    now: OffsetDateTime,
) -> Result<Environment, Error> {
    sqlx::query(
        "INSERT INTO environments (id, project_id, slug, name, tier, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(id)
    .bind(project)
    .bind(slug)
    .bind(name)
    .bind(tier.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(Environment {
        id,
        project_id: project,
        slug: slug.to_owned(),
        name: name.to_owned(),
        tier,
        created_at: now,
        updated_at: now,
    })
}

/// Live environments of a project, by slug.
pub async fn environments(
    pool: &PgPool,
    project: Uuid,
    params: &ListParams,
) -> Result<Vec<Environment>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, project_id, slug, name, tier, created_at, updated_at FROM environments \
         WHERE project_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR slug > $2) \
           AND ($3::text IS NULL OR strpos(lower(name), $3) > 0 OR strpos(slug, $3) > 0) \
         ORDER BY slug LIMIT $4",
    )
    .bind(project)
    .bind(&params.cursor)
    .bind(&params.q)
    .bind(params.fetch())
    .fetch_all(pool)
    .await?;
    rows.iter().map(environment).collect()
}

/// Every live environment of an organization's live projects.
pub async fn all_environments(pool: &PgPool, org: Uuid) -> Result<Vec<Environment>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT e.id, e.project_id, e.slug, e.name, e.tier, e.created_at, e.updated_at \
         FROM environments e JOIN projects p ON p.id = e.project_id \
         WHERE p.org_id = $1 AND p.deleted_at IS NULL AND e.deleted_at IS NULL \
         ORDER BY p.slug, e.slug",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.iter().map(environment).collect()
}

/// The live environment `slug` of `project`.
pub async fn environment_by_slug(
    pool: &PgPool,
    project: Uuid,
    slug: &str,
) -> Result<Option<Environment>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, project_id, slug, name, tier, created_at, updated_at FROM environments \
         WHERE project_id = $1 AND slug = $2 AND deleted_at IS NULL",
    )
    .bind(project)
    .bind(slug)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(environment).transpose()
}

/// Renames a live environment; the environment after the change.
pub async fn rename_environment(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    now: OffsetDateTime,
) -> Result<Option<Environment>, Error> {
    let row = sqlx::query(
        "UPDATE environments SET name = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL \
         RETURNING id, project_id, slug, name, tier, created_at, updated_at",
    )
    .bind(id)
    .bind(name)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(row.as_ref().map(environment).transpose()?)
}

/// Soft-deletes a live environment and its applications. The database refuses production
/// while other environments of the project are live (`production_in_use`).
pub async fn soft_delete_environment(
    conn: &mut PgConnection,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    sqlx::query(
        "UPDATE applications SET deleted_at = $2 WHERE environment_id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    let done = sqlx::query(
        "UPDATE environments SET deleted_at = $2, updated_at = $2 \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected() == 1)
}
