//! Hard deletion of soft-deleted tenancy rows after the retention period.

use sqlx::PgPool;
use time::OffsetDateTime;

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Applications.
    pub applications: u64,
    /// Environments.
    pub environments: u64,
    /// Projects.
    pub projects: u64,
    /// Organizations (their members and invitations go with them).
    pub orgs: u64,
    /// Invitations accepted, revoked or expired before the cut-off.
    pub invitations: u64,
}

/// Deletes, in one transaction, every row soft-deleted before `older_than` (children first)
/// and invitations closed before it.
pub async fn purge_deleted(
    pool: &PgPool,
    older_than: OffsetDateTime,
) -> Result<Purged, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut counts = [0_u64; 5];
    for (count, sql) in counts.iter_mut().zip([
        "DELETE FROM applications WHERE deleted_at < $1",
        "DELETE FROM environments WHERE deleted_at < $1",
        "DELETE FROM projects WHERE deleted_at < $1",
        "DELETE FROM orgs WHERE deleted_at < $1",
        "DELETE FROM org_invitations \
         WHERE coalesce(accepted_at, revoked_at, expires_at) < $1",
    ]) {
        *count = sqlx::query(sql)
            .bind(older_than)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    let [applications, environments, projects, orgs, invitations] = counts;
    Ok(Purged {
        applications,
        environments,
        projects,
        orgs,
        invitations,
    })
}
