//! Organizations, their members and invitations.

use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::constraints;
use crate::{
    error::Error,
    tenancy::{Invitation, ListParams, Member, Org, Role},
};

fn decode(what: &'static str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected stored {what}").into())
}

fn role_in(row: &PgRow) -> Result<Role, sqlx::Error> {
    let name: String = row.try_get("role")?;
    Role::parse(&name).ok_or_else(|| decode("role"))
}

fn org(row: &PgRow) -> Result<Org, sqlx::Error> {
    Ok(Org {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        role: role_in(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Creates an organization with `owner` as its first owner.
pub async fn create(
    conn: &mut PgConnection,
    id: Uuid,
    slug: &str,
    name: &str,
    owner: Uuid,
    now: OffsetDateTime,
) -> Result<Org, Error> {
    sqlx::query(
        "INSERT INTO orgs (id, slug, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(id)
    .bind(slug)
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    add_member(conn, id, owner, Role::Owner, now).await?;
    Ok(Org {
        id,
        slug: slug.to_owned(),
        name: name.to_owned(),
        role: Role::Owner,
        created_at: now,
        updated_at: now,
    })
}

/// The live organizations `user` belongs to, by slug.
pub async fn list_for_user(
    pool: &PgPool,
    user: Uuid,
    params: &ListParams,
) -> Result<Vec<Org>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.id, o.slug, o.name, m.role, o.created_at, o.updated_at \
         FROM orgs o JOIN org_members m ON m.org_id = o.id \
         WHERE m.user_id = $1 AND o.deleted_at IS NULL \
           AND ($2::text IS NULL OR o.slug > $2) \
           AND ($3::text IS NULL OR strpos(lower(o.name), $3) > 0 OR strpos(o.slug, $3) > 0) \
         ORDER BY o.slug LIMIT $4",
    )
    .bind(user)
    .bind(&params.cursor)
    .bind(&params.q)
    .bind(params.fetch())
    .fetch_all(pool)
    .await?;
    rows.iter().map(org).collect()
}

/// The live organization `slug` with `user`'s role in it; `None` when it does not exist or
/// `user` is not a member (the two are one answer).
pub async fn membership(pool: &PgPool, user: Uuid, slug: &str) -> Result<Option<Org>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT o.id, o.slug, o.name, m.role, o.created_at, o.updated_at \
         FROM orgs o JOIN org_members m ON m.org_id = o.id AND m.user_id = $1 \
         WHERE o.slug = $2 AND o.deleted_at IS NULL",
    )
    .bind(user)
    .bind(slug)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(org).transpose()
}

/// The live organization `id` with `user`'s role in it, if a member.
pub async fn membership_by_id(
    pool: &PgPool,
    user: Uuid,
    id: Uuid,
) -> Result<Option<Org>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT o.id, o.slug, o.name, m.role, o.created_at, o.updated_at \
         FROM orgs o JOIN org_members m ON m.org_id = o.id AND m.user_id = $1 \
         WHERE o.id = $2 AND o.deleted_at IS NULL",
    )
    .bind(user)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(org).transpose()
}

/// The id of the live organization `slug`.
pub async fn id_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM orgs WHERE slug = $1 AND deleted_at IS NULL")
        .bind(slug)
        .fetch_optional(pool)
        .await
}

/// Renames a live organization.
pub async fn rename(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE orgs SET name = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected() == 1)
}

/// Soft-deletes a live organization and everything under it (its projects through
/// [`super::projects::soft_delete_all`]), then the organization, and withdraws its open
/// invitations.
pub async fn soft_delete(
    conn: &mut PgConnection,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let projects: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM projects WHERE org_id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    super::projects::soft_delete_all(conn, &projects, now).await?;
    sqlx::query(
        "UPDATE org_invitations SET revoked_at = $2 \
         WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "UPDATE orgs SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected() == 1)
}

/// A member and their sealed email address (bound to their user id).
#[derive(Debug, Clone)]
pub struct MemberRecord {
    /// The member (without email).
    pub member: Member,
    /// `users.email_ciphertext`.
    pub sealed_email: String,
}

/// Members of an organization by user id, optionally of one role.
pub async fn members(
    pool: &PgPool,
    org: Uuid,
    role: Option<Role>,
    params: &ListParams,
) -> Result<Vec<MemberRecord>, sqlx::Error> {
    let cursor = params
        .cursor
        .as_deref()
        .and_then(|c| c.parse::<Uuid>().ok());
    let rows = sqlx::query(
        "SELECT m.user_id, m.role, m.created_at, u.email_ciphertext \
         FROM org_members m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND ($2::text IS NULL OR m.role = $2) \
           AND ($3::uuid IS NULL OR m.user_id > $3) \
         ORDER BY m.user_id LIMIT $4",
    )
    .bind(org)
    .bind(role.map(Role::as_str))
    .bind(cursor)
    .bind(params.fetch())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MemberRecord {
                member: Member {
                    user_id: r.try_get("user_id")?,
                    email: None,
                    role: role_in(r)?,
                    joined_at: r.try_get("created_at")?,
                },
                sealed_email: r.try_get("email_ciphertext")?,
            })
        })
        .collect()
}

/// Locks the organization row and returns its owners, locked too: every change of ownership
/// takes this first, so two concurrent demotions or removals cannot both see "another owner
/// remains".
pub async fn lock_owners(conn: &mut PgConnection, org: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query("SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE")
        .bind(org)
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar(
        "SELECT user_id FROM org_members WHERE org_id = $1 AND role = 'owner' FOR UPDATE",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await
}

/// `user`'s role in `org`, if a member.
pub async fn role_of(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
) -> Result<Option<Role>, sqlx::Error> {
    let row = sqlx::query("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(role_in).transpose()
}

/// Adds a member.
pub async fn add_member(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
    role: Role,
    now: OffsetDateTime,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO org_members (org_id, user_id, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(org)
    .bind(user)
    .bind(role.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(())
}

/// Changes a member's role; `false` when not a member.
pub async fn set_role(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
    role: Role,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE org_members SET role = $3, updated_at = $4 WHERE org_id = $1 AND user_id = $2",
    )
    .bind(org)
    .bind(user)
    .bind(role.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(done.rows_affected() == 1)
}

/// Removes a member; `false` when not a member.
pub async fn remove_member(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An invitation to store.
#[derive(Debug)]
pub struct NewInvitation<'a> {
    /// Id (the address ciphertext is bound to it).
    pub id: Uuid,
    /// Organization.
    pub org: Uuid,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// Blind index of the invited address.
    pub email_index: &'a [u8; 32],
    /// The sealed address.
    pub email_ciphertext: &'a str,
    /// Role to grant.
    pub role: Role,
    /// Inviter.
    pub invited_by: Uuid,
    /// Now.
    pub created_at: OffsetDateTime,
    /// End of validity.
    pub expires_at: OffsetDateTime,
}

/// Stores an invitation, first retiring an expired open one for the same address (at most one
/// open invitation per address and organization).
pub async fn invite(conn: &mut PgConnection, new: &NewInvitation<'_>) -> Result<(), Error> {
    sqlx::query(
        "UPDATE org_invitations SET revoked_at = $3 \
         WHERE org_id = $1 AND email_index = $2 AND accepted_at IS NULL AND revoked_at IS NULL \
           AND expires_at <= $3",
    )
    .bind(new.org)
    .bind(new.email_index.as_slice())
    .bind(new.created_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO org_invitations (id, org_id, token_hash, email_index, email_ciphertext, \
         role, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new.id)
    .bind(new.org)
    .bind(new.token_hash.as_slice())
    .bind(new.email_index.as_slice())
    .bind(new.email_ciphertext)
    .bind(new.role.as_str())
    .bind(new.invited_by)
    .bind(new.created_at)
    .bind(new.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(constraints::tenancy)?;
    Ok(())
}

/// An open invitation and its sealed address (bound to the invitation id).
#[derive(Debug, Clone)]
pub struct InvitationRecord {
    /// The invitation (its `email` empty until opened).
    pub invitation: Invitation,
    /// `org_invitations.email_ciphertext`.
    pub sealed_email: String,
}

/// Open (not accepted, revoked or expired) invitations of an organization, oldest first.
pub async fn open_invitations(
    pool: &PgPool,
    org: Uuid,
    params: &ListParams,
    now: OffsetDateTime,
) -> Result<Vec<InvitationRecord>, sqlx::Error> {
    let cursor = params
        .cursor
        .as_deref()
        .and_then(|c| c.parse::<Uuid>().ok());
    let rows = sqlx::query(
        "SELECT id, role, invited_by, created_at, expires_at, email_ciphertext \
         FROM org_invitations \
         WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
           AND ($3::uuid IS NULL OR id > $3) \
         ORDER BY id LIMIT $4",
    )
    .bind(org)
    .bind(now)
    .bind(cursor)
    .bind(params.fetch())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InvitationRecord {
                invitation: Invitation {
                    id: r.try_get("id")?,
                    email: String::new(),
                    role: role_in(r)?,
                    invited_by: r.try_get("invited_by")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                },
                sealed_email: r.try_get("email_ciphertext")?,
            })
        })
        .collect()
}

/// Withdraws an open invitation of `org`; its role, or `None` when there is none.
pub async fn revoke_invitation(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<Role>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE org_invitations SET revoked_at = $3 \
         WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL \
         RETURNING role",
    )
    .bind(org)
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(role_in).transpose()
}

/// An invitation that can still be accepted.
#[derive(Debug, Clone)]
pub struct OpenInvitation {
    /// Id.
    pub id: Uuid,
    /// Organization (live).
    pub org: Uuid,
    /// Blind index of the invited address.
    pub email_index: Vec<u8>,
    /// Role to grant.
    pub role: Role,
}

/// Locks the open, unexpired invitation with this token hash in a live organization.
pub async fn lock_open_by_token(
    conn: &mut PgConnection,
    token_hash: &[u8; 32],
    now: OffsetDateTime,
) -> Result<Option<OpenInvitation>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT i.id, i.org_id, i.email_index, i.role FROM org_invitations i \
         JOIN orgs o ON o.id = i.org_id AND o.deleted_at IS NULL \
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
           AND i.expires_at > $2 \
         FOR UPDATE OF i",
    )
    .bind(token_hash.as_slice())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(OpenInvitation {
            id: r.try_get("id")?,
            org: r.try_get("org_id")?,
            email_index: r.try_get("email_index")?,
            role: role_in(&r)?,
        })
    })
    .transpose()
}

/// Marks an invitation used.
pub async fn mark_accepted(
    conn: &mut PgConnection,
    id: Uuid,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE org_invitations SET accepted_at = $3, accepted_by = $2 WHERE id = $1")
        .bind(id)
        .bind(user)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The organization row for the support view, deleted or not: (slug, name, created, deleted).
pub async fn overview_row(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<(String, String, OffsetDateTime, Option<OffsetDateTime>)>, sqlx::Error> {
    sqlx::query_as("SELECT slug, name, created_at, deleted_at FROM orgs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Every member of an organization (without emails), by user id.
pub async fn all_members(pool: &PgPool, org: Uuid) -> Result<Vec<Member>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT user_id, role, created_at FROM org_members WHERE org_id = $1 ORDER BY user_id",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Member {
                user_id: r.try_get("user_id")?,
                email: None,
                role: role_in(r)?,
                joined_at: r.try_get("created_at")?,
            })
        })
        .collect()
}
