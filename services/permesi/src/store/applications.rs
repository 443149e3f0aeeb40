//! Applications (OIDC clients) of environments. Client secrets are stored only as their MAC.

use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::constraints;
use crate::{
    error::Error,
    tenancy::{Application, ClientType, GrantType, ListParams, validate::ClientSettings},
};

/// The columns every read returns (a macro so queries stay `'static` literals).
macro_rules! fields {
    () => {
        "id, environment_id, slug, name, client_id, client_type, redirect_uris, \
         post_logout_redirect_uris, allowed_scopes, grant_types, secret_rotated_at, created_at, \
         updated_at"
    };
}

macro_rules! columns {
    () => {
        concat!("SELECT ", fields!(), " FROM applications")
    };
}

fn application(row: &PgRow) -> Result<Application, sqlx::Error> {
    let bad = |what: &str| sqlx::Error::Decode(format!("unexpected stored {what}").into());
    let client_type: String = row.try_get("client_type")?;
    let grants: Vec<String> = row.try_get("grant_types")?;
    Ok(Application {
        id: row.try_get("id")?,
        environment_id: row.try_get("environment_id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        client_id: row.try_get("client_id")?,
        client_type: ClientType::parse(&client_type).ok_or_else(|| bad("client type"))?,
        redirect_uris: row.try_get("redirect_uris")?,
        post_logout_redirect_uris: row.try_get("post_logout_redirect_uris")?,
        allowed_scopes: row.try_get("allowed_scopes")?,
        grant_types: grants
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| bad("grant type")))
            .collect::<Result<_, _>>()?,
        secret_rotated_at: row.try_get("secret_rotated_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn grant_names(settings: &ClientSettings) -> Vec<&'static str> {
    settings.grant_types.iter().map(|g| g.as_str()).collect()
}

/// An application to store.
#[derive(Debug)]
pub struct NewApplication<'a> {
    /// Id.
    pub id: Uuid,
    /// Environment.
    pub environment: Uuid,
    /// Slug.
    pub slug: &'a str,
    /// Name.
    pub name: &'a str,
    /// Public client id.
    pub client_id: &'a str,
    /// Type.
    pub client_type: ClientType,
    /// MAC of the client secret (confidential clients).
    pub secret_mac: Option<[u8; 32]>,
    /// Validated OAuth settings.
    pub settings: &'a ClientSettings,
}

/// Creates an application.
pub async fn create(
    conn: &mut PgConnection,
    new: &NewApplication<'_>,
    now: OffsetDateTime,
) -> Result<Application, Error> {
    let row = sqlx::query(concat!(
        "INSERT INTO applications (id, environment_id, slug, name, client_id, client_type, \
         client_secret_mac, secret_rotated_at, redirect_uris, post_logout_redirect_uris, \
         allowed_scopes, grant_types, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7::bytea IS NULL THEN NULL ELSE $8 END, \
         $9, $10, $11, $12, $8, $8) RETURNING ",
        fields!()
    ))
    .bind(new.id)
    .bind(new.environment)
    .bind(new.slug)
    .bind(new.name)
    .bind(new.client_id)
    .bind(new.client_type.as_str())
    .bind(new.secret_mac.as_ref().map(<[u8; 32]>::as_slice))
    .bind(now)
    .bind(&new.settings.redirect_uris)
    .bind(&new.settings.post_logout_redirect_uris)
    .bind(&new.settings.allowed_scopes)
    .bind(grant_names(new.settings))
    .fetch_one(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(application(&row)?)
}

/// Live applications of an environment, by slug.
pub async fn list(
    pool: &PgPool,
    environment: Uuid,
    params: &ListParams,
) -> Result<Vec<Application>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        columns!(),
        " WHERE environment_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR slug > $2) \
           AND ($3::text IS NULL OR strpos(lower(name), $3) > 0 OR strpos(slug, $3) > 0) \
         ORDER BY slug LIMIT $4"
    ))
    .bind(environment)
    .bind(&params.cursor)
    .bind(&params.q)
    .bind(params.fetch())
    .fetch_all(pool)
    .await?;
    rows.iter().map(application).collect()
}

/// Every live application in an organization's live environments.
pub async fn all(pool: &PgPool, org: Uuid) -> Result<Vec<Application>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        columns!(),
        " WHERE deleted_at IS NULL AND environment_id IN (SELECT e.id FROM environments e \
           JOIN projects p ON p.id = e.project_id \
           WHERE p.org_id = $1 AND p.deleted_at IS NULL AND e.deleted_at IS NULL) \
         ORDER BY environment_id, slug"
    ))
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.iter().map(application).collect()
}

/// The live application `slug` of `environment`.
pub async fn by_slug(
    pool: &PgPool,
    environment: Uuid,
    slug: &str,
) -> Result<Option<Application>, sqlx::Error> {
    let row = sqlx::query(concat!(
        columns!(),
        " WHERE environment_id = $1 AND slug = $2 AND deleted_at IS NULL"
    ))
    .bind(environment)
    .bind(slug)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(application).transpose()
}

/// Replaces a live application's name and OAuth settings.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    settings: &ClientSettings,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE applications SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4, \
         allowed_scopes = $5, grant_types = $6, updated_at = $7 \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(name)
    .bind(&settings.redirect_uris)
    .bind(&settings.post_logout_redirect_uris)
    .bind(&settings.allowed_scopes)
    .bind(grant_names(settings))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the secret MAC of a live confidential application.
pub async fn set_secret(
    conn: &mut PgConnection,
    id: Uuid,
    mac: &[u8; 32],
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE applications SET client_secret_mac = $2, secret_rotated_at = $3, updated_at = $3 \
         WHERE id = $1 AND deleted_at IS NULL AND client_type = 'confidential'",
    )
    .bind(id)
    .bind(mac.as_slice())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected() == 1)
}

/// Soft-deletes a live application.
pub async fn soft_delete(
    conn: &mut PgConnection,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE applications SET deleted_at = $2, updated_at = $2 \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected() == 1)
}

/// An application's OIDC client settings.
pub async fn oidc_settings(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<crate::tenancy::oidc_client::OidcClientSettings>, Error> {
    use crate::{
        oidc::{SubjectType, keys::Alg},
        tenancy::oidc_client::OidcClientSettings,
    };
    let row: Option<(Option<serde_json::Value>, String, String)> = sqlx::query_as(
        "SELECT jwks, subject_type, id_token_signed_response_alg FROM applications \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    // An unknown stored value is an error, never a default (a pairwise client must not
    // silently turn public).
    let bad = |what: &str| {
        Error::from(sqlx::Error::Decode(
            format!("unexpected stored {what}").into(),
        ))
    };
    row.map(|(jwks, subject, alg)| {
        Ok(OidcClientSettings {
            subject_type: SubjectType::parse(&subject).ok_or_else(|| bad("subject type"))?,
            id_token_signed_response_alg: Alg::parse(&alg)
                .ok_or_else(|| bad("ID token algorithm"))?,
            jwks,
        })
    })
    .transpose()
}

/// Replaces an application's OIDC client settings; `false` when it is gone.
pub async fn set_oidc_settings(
    conn: &mut PgConnection,
    id: Uuid,
    settings: &crate::tenancy::oidc_client::OidcClientSettings,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE applications SET jwks = $2, subject_type = $3, id_token_signed_response_alg = $4, \
         updated_at = $5 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(&settings.jwks)
    .bind(settings.subject_type.as_str())
    .bind(settings.id_token_signed_response_alg.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected() == 1)
}
