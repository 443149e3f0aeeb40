//! Tenancy operations. Each one resolves the caller's membership, calls [`authorize`] once
//! for its action, and makes its change in one transaction that ends with the audit entry.
//!
//! Addressing is by slug under the organization's slug; every lookup below the organization
//! is scoped by its parent's id, so a slug or id of another organization finds nothing (404).

use keys::Cipher;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    Application, Environment, Invitation, Member, Org, OrgOverview, Project, Role, TenantAction,
    authorize,
    authz::{Denied, may_manage},
    secret::{self, ClientSecretKey},
    validate::{ClientSettings, ClientType, GrantType, ListParams, Name, Slug, Tier},
};
use crate::{
    audit::{self, Action, Actor, AuditLog, Context, Outcome, Record},
    error::Error,
    identity::email::{self, BlindIndex, Email, IndexKey},
    store::{
        applications, orgs, projects,
        retention::{self, Purged},
        users,
    },
    verification::{
        EmailVerification,
        delivery::{MailKind, queue_link_mail},
        token,
    },
};

/// Path of the console page that accepts an invitation (appended to the email base URL).
pub const ACCEPT_PATH: &str = "/invitations/accept";
/// Lifetime of an invitation.
pub const INVITATION_TTL: Duration = Duration::days(7);

/// What tenancy operations use.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    /// The database.
    pub pool: &'a PgPool,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Encrypts invited addresses and mail.
    pub cipher: &'a dyn Cipher,
    /// Blind index key of email addresses.
    pub email_index: &'a IndexKey,
    /// MAC key of client secrets.
    pub client_secrets: &'a ClientSecretKey,
    /// Wakes the mail worker.
    pub verification: &'a EmailVerification,
    /// Console origin the invitation links point at.
    pub link_base: &'a str,
    /// The token endpoint's client cache: a changed, rotated or deleted client is dropped from
    /// it after the commit, so the change applies at once on this replica.
    pub clients: &'a crate::oidc::provider::ClientCache,
}

/// The logged-in caller and where the request came from.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The user.
    pub user: Uuid,
    /// Client address and request id, for the audit log.
    pub context: &'a Context,
}

/// A page of a list.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// Items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

fn record(caller: Caller<'_>, action: Action, org: Uuid) -> Record {
    Record::new(
        caller.context,
        Actor::User(caller.user),
        action,
        Outcome::Success,
    )
    .org(org)
}

/// A slug from a path: one that cannot exist is simply not found.
fn path_slug(raw: &str) -> Result<Slug, Error> {
    Slug::parse(raw).map_err(|_| Error::NotFound)
}

impl Parts<'_> {
    /// The caller's organization `org_slug`, if they may do `action` there. Non-members and
    /// unknown organizations get the same `NotFound`; refused members are audited.
    pub async fn access(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        action: TenantAction,
    ) -> Result<Org, Error> {
        let slug = path_slug(org_slug)?;
        let org = orgs::membership(self.pool, caller.user, slug.as_str()).await?;
        match authorize(org.as_ref().map(|o| o.role), action) {
            Ok(()) => org.ok_or(Error::NotFound),
            Err(Denied::Forbidden) => {
                if let Some(org) = &org {
                    self.deny(caller, org.id, action.as_str(), org.role).await?;
                }
                Err(Error::Forbidden)
            }
            Err(denied) => Err(denied.into()),
        }
    }

    async fn deny(
        &self,
        caller: Caller<'_>,
        org: Uuid,
        action: &'static str,
        role: Role,
    ) -> Result<(), Error> {
        let entry = Record::new(
            caller.context,
            Actor::User(caller.user),
            Action::AccessDenied,
            Outcome::Denied,
        )
        .org(org)
        .target("org", org)
        .detail("action", action)
        .detail("role", role.as_str());
        self.audit
            .append_alone(self.pool, &entry, OffsetDateTime::now_utc())
            .await?;
        Ok(())
    }

    // ---- organizations ----------------------------------------------------------------

    /// Creates an organization; the caller becomes its owner.
    pub async fn create_org(
        &self,
        caller: Caller<'_>,
        slug: &str,
        name: &str,
    ) -> Result<Org, Error> {
        let slug = Slug::parse(slug)?;
        let name = Name::parse(name)?;
        let now = OffsetDateTime::now_utc();
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let org = orgs::create(&mut tx, id, slug.as_str(), name.as_str(), caller.user, now).await?;
        let entry = record(caller, Action::OrgCreated, id)
            .target("org", id)
            .detail("slug", slug.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// The caller's organizations.
    pub async fn list_orgs(
        &self,
        caller: Caller<'_>,
        params: &ListParams,
    ) -> Result<Listed<Org>, Error> {
        let mut items = orgs::list_for_user(self.pool, caller.user, params).await?;
        let next_cursor = params.page(&mut items, |o| o.slug.clone());
        Ok(Listed { items, next_cursor })
    }

    /// Renames an organization.
    pub async fn update_org(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        name: &str,
    ) -> Result<Org, Error> {
        let mut org = self
            .access(caller, org_slug, TenantAction::OrgUpdate)
            .await?;
        let name = Name::parse(name)?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        if !orgs::rename(&mut tx, org.id, name.as_str(), now).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::OrgUpdated, org.id)
            .target("org", org.id)
            .detail("name", name.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        org.name = name.as_str().to_owned();
        org.updated_at = now;
        Ok(org)
    }

    /// Soft-deletes an organization and everything in it.
    pub async fn delete_org(&self, caller: Caller<'_>, org_slug: &str) -> Result<(), Error> {
        let org = self
            .access(caller, org_slug, TenantAction::OrgDelete)
            .await?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        if !orgs::soft_delete(&mut tx, org.id, now).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::OrgDeleted, org.id)
            .target("org", org.id)
            .detail("slug", org.slug.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- members ----------------------------------------------------------------------

    /// Members with their addresses, optionally of one role.
    pub async fn list_members(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        role: Option<Role>,
        params: &ListParams,
    ) -> Result<Listed<Member>, Error> {
        let org = self
            .access(caller, org_slug, TenantAction::MemberList)
            .await?;
        let mut records = orgs::members(self.pool, org.id, role, params).await?;
        let next_cursor = params.page(&mut records, |r| r.member.user_id.to_string());
        let mut items = Vec::with_capacity(records.len());
        for r in records {
            let address = email::open(self.cipher, r.member.user_id, &r.sealed_email).await?;
            items.push(Member {
                email: Some(address.as_str().to_owned()),
                ..r.member
            });
        }
        Ok(Listed { items, next_cursor })
    }

    /// Changes a member's role. Only owners grant or take away `owner`; the last owner
    /// cannot be demoted (`last_owner`).
    pub async fn change_role(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        target: Uuid,
        new: Role,
    ) -> Result<(), Error> {
        let org = self
            .access(caller, org_slug, TenantAction::MemberRoleChange)
            .await?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        let owners = orgs::lock_owners(&mut tx, org.id).await?;
        // Re-read under the lock: the caller's role may have changed since `access`.
        let actor = orgs::role_of(&mut tx, org.id, caller.user).await?;
        authorize(actor, TenantAction::MemberRoleChange)?;
        let actor = actor.ok_or(Error::NotFound)?;
        let current = orgs::role_of(&mut tx, org.id, target)
            .await?
            .ok_or(Error::NotFound)?;
        may_manage(actor, current)?;
        may_manage(actor, new)?;
        if current == Role::Owner && new != Role::Owner && owners.len() <= 1 {
            return Err(Error::Conflict("last_owner"));
        }
        if !orgs::set_role(&mut tx, org.id, target, new, now).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::MemberRoleChanged, org.id)
            .target("user", target)
            .detail("from", current.as_str())
            .detail("to", new.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member, or the caller leaves (`target` is the caller). The last owner cannot
    /// leave (`last_owner`); only owners remove owners.
    pub async fn remove_member(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        target: Uuid,
    ) -> Result<(), Error> {
        let leaving = target == caller.user;
        let action = if leaving {
            TenantAction::MemberLeave
        } else {
            TenantAction::MemberRemove
        };
        let org = self.access(caller, org_slug, action).await?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        let owners = orgs::lock_owners(&mut tx, org.id).await?;
        let actor = orgs::role_of(&mut tx, org.id, caller.user).await?;
        authorize(actor, action)?;
        let actor = actor.ok_or(Error::NotFound)?;
        let current = orgs::role_of(&mut tx, org.id, target)
            .await?
            .ok_or(Error::NotFound)?;
        if !leaving {
            may_manage(actor, current)?;
        }
        if current == Role::Owner && owners.len() <= 1 {
            return Err(Error::Conflict("last_owner"));
        }
        if !orgs::remove_member(&mut tx, org.id, target).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::MemberRemoved, org.id)
            .target("user", target)
            .detail("role", current.as_str())
            .detail("left", leaving);
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- invitations --------------------------------------------------------------------

    /// Invites `address` with `role`: stores the token's hash and queues the link by mail.
    pub async fn invite(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        address: &str,
        role: Role,
    ) -> Result<Invitation, Error> {
        let org = self
            .access(caller, org_slug, TenantAction::MemberInvite)
            .await?;
        may_manage(org.role, role)?;
        let address = Email::parse(address).map_err(|_| Error::InvalidEmail)?;
        let index = BlindIndex::of(self.email_index, &address);
        let now = OffsetDateTime::now_utc();
        // Read before the transaction: inside it, a second pool connection would be held.
        let invitee = users::email_of_index(self.pool, &index).await?;
        let mut tx = self.pool.begin().await?;
        if let Some((user, _)) = invitee
            && orgs::role_of(&mut tx, org.id, user).await?.is_some()
        {
            return Err(Error::Conflict("already_member"));
        }
        let id = Uuid::now_v7();
        let token = token::Token::generate();
        let sealed = email::seal(self.cipher, id, &address).await?;
        let expires_at = now + INVITATION_TTL;
        orgs::invite(
            &mut tx,
            &orgs::NewInvitation {
                id,
                org: org.id,
                token_hash: token.hash(),
                email_index: &index.0,
                email_ciphertext: &sealed,
                role,
                invited_by: caller.user,
                created_at: now,
                expires_at,
            },
        )
        .await?;
        let link = zeroize::Zeroizing::new(format!(
            "{}{ACCEPT_PATH}#token={}",
            self.link_base,
            token.encode().as_str()
        ));
        queue_link_mail(
            &mut tx,
            self.cipher,
            MailKind::OrgInvitation,
            &address,
            &link,
            now,
        )
        .await
        .map_err(|e| Error::Unavailable(format!("invitation mail: {e}")))?;
        let entry = record(caller, Action::MemberInvited, org.id)
            .target("invitation", id)
            .detail("role", role.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        self.verification.waker().notify_one();
        Ok(Invitation {
            id,
            email: address.as_str().to_owned(),
            role,
            invited_by: Some(caller.user),
            created_at: now,
            expires_at,
        })
    }

    /// Open invitations, oldest first.
    pub async fn list_invitations(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        params: &ListParams,
    ) -> Result<Listed<Invitation>, Error> {
        let org = self
            .access(caller, org_slug, TenantAction::InvitationList)
            .await?;
        let now = OffsetDateTime::now_utc();
        let mut records = orgs::open_invitations(self.pool, org.id, params, now).await?;
        let next_cursor = params.page(&mut records, |r| r.invitation.id.to_string());
        let mut items = Vec::with_capacity(records.len());
        for r in records {
            let address = email::open(self.cipher, r.invitation.id, &r.sealed_email).await?;
            items.push(Invitation {
                email: address.as_str().to_owned(),
                ..r.invitation
            });
        }
        Ok(Listed { items, next_cursor })
    }

    /// Withdraws an open invitation.
    pub async fn revoke_invitation(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        id: Uuid,
    ) -> Result<(), Error> {
        let org = self
            .access(caller, org_slug, TenantAction::InvitationRevoke)
            .await?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        let role = orgs::revoke_invitation(&mut tx, org.id, id, now)
            .await?
            .ok_or(Error::NotFound)?;
        may_manage(org.role, role)?;
        let entry = record(caller, Action::InvitationRevoked, org.id)
            .target("invitation", id)
            .detail("role", role.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accepts an invitation: the caller's verified address must be the invited one. Unknown,
    /// used, revoked and expired tokens are one answer (`invalid_or_expired_token`).
    pub async fn accept(&self, caller: Caller<'_>, presented: &str) -> Result<Org, Error> {
        let hash = token::hash_presented(presented).ok_or(Error::InvalidToken)?;
        let (_, verified) = users::profile(self.pool, caller.user)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let index = users::index_of(self.pool, caller.user)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        let invitation = orgs::lock_open_by_token(&mut tx, &hash, now)
            .await?
            .ok_or(Error::InvalidToken)?;
        let same_address = bool::from(subtle::ConstantTimeEq::ct_eq(
            invitation.email_index.as_slice(),
            index.0.as_slice(),
        ));
        if !(verified && same_address) {
            drop(tx);
            let entry = Record::new(
                caller.context,
                Actor::User(caller.user),
                Action::AccessDenied,
                Outcome::Denied,
            )
            .org(invitation.org)
            .target("invitation", invitation.id)
            .detail("action", "invitation.accept");
            self.audit.append_alone(self.pool, &entry, now).await?;
            return Err(Error::Forbidden);
        }
        if orgs::role_of(&mut tx, invitation.org, caller.user)
            .await?
            .is_some()
        {
            return Err(Error::Conflict("already_member"));
        }
        orgs::add_member(&mut tx, invitation.org, caller.user, invitation.role, now).await?;
        orgs::mark_accepted(&mut tx, invitation.id, caller.user, now).await?;
        let entry = record(caller, Action::MemberJoined, invitation.org)
            .target("user", caller.user)
            .detail("invitation", invitation.id.to_string())
            .detail("role", invitation.role.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        orgs::membership_by_id(self.pool, caller.user, invitation.org)
            .await?
            .ok_or(Error::NotFound)
    }

    // ---- projects -----------------------------------------------------------------------

    async fn project(&self, org: &Org, slug: &str) -> Result<Project, Error> {
        let slug = path_slug(slug)?;
        projects::by_slug(self.pool, org.id, slug.as_str())
            .await?
            .ok_or(Error::NotFound)
    }

    /// The organization and project, if the caller may do `action` there.
    pub async fn access_project(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        project_slug: &str,
        action: TenantAction,
    ) -> Result<(Org, Project), Error> {
        let org = self.access(caller, org_slug, action).await?;
        let project = self.project(&org, project_slug).await?;
        Ok((org, project))
    }

    /// Creates a project.
    pub async fn create_project(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        slug: &str,
        name: &str,
    ) -> Result<Project, Error> {
        let org = self
            .access(caller, org_slug, TenantAction::ProjectWrite)
            .await?;
        let slug = Slug::parse(slug)?;
        let name = Name::parse(name)?;
        let now = OffsetDateTime::now_utc();
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let project =
            projects::create(&mut tx, org.id, id, slug.as_str(), name.as_str(), now).await?;
        let entry = record(caller, Action::ProjectCreated, org.id)
            .target("project", id)
            .detail("slug", slug.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(project)
    }

    /// Projects of the organization.
    pub async fn list_projects(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        params: &ListParams,
    ) -> Result<Listed<Project>, Error> {
        let org = self
            .access(caller, org_slug, TenantAction::ProjectRead)
            .await?;
        let mut items = projects::list(self.pool, org.id, params).await?;
        let next_cursor = params.page(&mut items, |p| p.slug.clone());
        Ok(Listed { items, next_cursor })
    }

    /// Renames a project.
    pub async fn update_project(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        project_slug: &str,
        name: &str,
    ) -> Result<Project, Error> {
        let (org, project) = self
            .access_project(caller, org_slug, project_slug, TenantAction::ProjectWrite)
            .await?;
        let name = Name::parse(name)?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        let updated = projects::rename(&mut tx, project.id, name.as_str(), now)
            .await?
            .ok_or(Error::NotFound)?;
        let entry = record(caller, Action::ProjectUpdated, org.id)
            .target("project", project.id)
            .detail("name", name.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Soft-deletes a project with its environments and applications.
    pub async fn delete_project(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        project_slug: &str,
    ) -> Result<(), Error> {
        let (org, project) = self
            .access_project(caller, org_slug, project_slug, TenantAction::ProjectDelete)
            .await?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        if !projects::soft_delete(&mut tx, project.id, now).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::ProjectDeleted, org.id)
            .target("project", project.id)
            .detail("slug", project.slug.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- environments -------------------------------------------------------------------

    /// The organization, project and environment, if the caller may do `action` there.
    pub async fn access_environment(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str),
        action: TenantAction,
    ) -> Result<(Org, Project, Environment), Error> {
        let (org, project) = self.access_project(caller, path.0, path.1, action).await?;
        let slug = path_slug(path.2)?;
        let environment = projects::environment_by_slug(self.pool, project.id, slug.as_str())
            .await?
            .ok_or(Error::NotFound)?;
        Ok((org, project, environment))
    }

    /// Creates an environment (production first, one production per project).
    pub async fn create_environment(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        project_slug: &str,
        input: (&str, &str, Tier),
    ) -> Result<Environment, Error> {
        let (org, project) = self
            .access_project(
                caller,
                org_slug,
                project_slug,
                TenantAction::EnvironmentWrite,
            )
            .await?;
        let (slug, name, tier) = input;
        let slug = Slug::parse(slug)?;
        let name = Name::parse(name)?;
        let now = OffsetDateTime::now_utc();
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let environment = projects::create_environment(
            &mut tx,
            project.id,
            id,
            slug.as_str(),
            name.as_str(),
            tier,
            now,
        )
        .await?;
        let entry = record(caller, Action::EnvironmentCreated, org.id)
            .target("environment", id)
            .detail("project", project.slug.as_str())
            .detail("slug", slug.as_str())
            .detail("tier", tier.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(environment)
    }

    /// Environments of a project.
    pub async fn list_environments(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        project_slug: &str,
        params: &ListParams,
    ) -> Result<Listed<Environment>, Error> {
        let (_, project) = self
            .access_project(
                caller,
                org_slug,
                project_slug,
                TenantAction::EnvironmentRead,
            )
            .await?;
        let mut items = projects::environments(self.pool, project.id, params).await?;
        let next_cursor = params.page(&mut items, |e| e.slug.clone());
        Ok(Listed { items, next_cursor })
    }

    /// Renames an environment (its tier never changes).
    pub async fn update_environment(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str),
        name: &str,
    ) -> Result<Environment, Error> {
        let (org, _, environment) = self
            .access_environment(caller, path, TenantAction::EnvironmentWrite)
            .await?;
        let name = Name::parse(name)?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        let updated = projects::rename_environment(&mut tx, environment.id, name.as_str(), now)
            .await?
            .ok_or(Error::NotFound)?;
        let entry = record(caller, Action::EnvironmentUpdated, org.id)
            .target("environment", environment.id)
            .detail("name", name.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Soft-deletes an environment and its applications (production only when it is the
    /// last live environment: `production_in_use`).
    pub async fn delete_environment(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str),
    ) -> Result<(), Error> {
        let (org, _, environment) = self
            .access_environment(caller, path, TenantAction::EnvironmentDelete)
            .await?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        if !projects::soft_delete_environment(&mut tx, environment.id, now).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::EnvironmentDeleted, org.id)
            .target("environment", environment.id)
            .detail("slug", environment.slug.as_str())
            .detail("tier", environment.tier.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- applications -------------------------------------------------------------------

    /// The organization, environment and application, if the caller may do `action` there.
    pub async fn access_application(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str, &str),
        action: TenantAction,
    ) -> Result<(Org, Application), Error> {
        let (org, _, environment) = self
            .access_environment(caller, (path.0, path.1, path.2), action)
            .await?;
        let slug = path_slug(path.3)?;
        let application = applications::by_slug(self.pool, environment.id, slug.as_str())
            .await?
            .ok_or(Error::NotFound)?;
        Ok((org, application))
    }

    /// Creates an application; a confidential one gets a client secret, returned here once.
    pub async fn create_application(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str),
        input: NewApplication,
    ) -> Result<(Application, Option<zeroize::Zeroizing<String>>), Error> {
        let (org, _, environment) = self
            .access_environment(caller, path, TenantAction::ApplicationWrite)
            .await?;
        let slug = Slug::parse(&input.slug)?;
        let name = Name::parse(&input.name)?;
        let settings = ClientSettings::new(
            input.client_type,
            input.redirect_uris,
            input.post_logout_redirect_uris.unwrap_or_default(),
            input
                .allowed_scopes
                .unwrap_or_else(|| vec!["openid".to_owned()]),
            input
                .grant_types
                .unwrap_or_else(|| vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
        )?;
        let client_id = secret::new_client_id();
        let (client_secret, mac) = match input.client_type {
            ClientType::Confidential => {
                let (s, mac) = secret::new_client_secret(self.client_secrets, &client_id);
                (Some(s), Some(mac))
            }
            ClientType::Public => (None, None),
        };
        let now = OffsetDateTime::now_utc();
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let application = applications::create(
            &mut tx,
            &applications::NewApplication {
                id,
                environment: environment.id,
                slug: slug.as_str(),
                name: name.as_str(),
                client_id: &client_id,
                client_type: input.client_type,
                secret_mac: mac,
                settings: &settings,
            },
            now,
        )
        .await?;
        let entry = record(caller, Action::ApplicationCreated, org.id)
            .target("application", id)
            .detail("slug", slug.as_str())
            .detail("environment", environment.slug.as_str())
            .detail("client_id", client_id.as_str())
            .detail("client_type", input.client_type.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok((application, client_secret))
    }

    /// Applications of an environment.
    pub async fn list_applications(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str),
        params: &ListParams,
    ) -> Result<Listed<Application>, Error> {
        let (_, _, environment) = self
            .access_environment(caller, path, TenantAction::ApplicationRead)
            .await?;
        let mut items = applications::list(self.pool, environment.id, params).await?;
        let next_cursor = params.page(&mut items, |a| a.slug.clone());
        Ok(Listed { items, next_cursor })
    }

    /// Changes an application's name or OAuth settings (fields left out keep their value).
    pub async fn update_application(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str, &str),
        change: ApplicationChange,
    ) -> Result<Application, Error> {
        let (org, current) = self
            .access_application(caller, path, TenantAction::ApplicationWrite)
            .await?;
        let name = Name::parse(change.name.as_deref().unwrap_or(&current.name))?;
        let settings = ClientSettings::new(
            current.client_type,
            change.redirect_uris.unwrap_or(current.redirect_uris),
            change
                .post_logout_redirect_uris
                .unwrap_or(current.post_logout_redirect_uris),
            change.allowed_scopes.unwrap_or(current.allowed_scopes),
            change.grant_types.unwrap_or(current.grant_types),
        )?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        if !applications::update(&mut tx, current.id, name.as_str(), &settings, now).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::ApplicationUpdated, org.id)
            .target("application", current.id)
            .detail("client_id", current.client_id.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        self.clients.forget(&current.client_id);
        Ok(Application {
            name: name.as_str().to_owned(),
            redirect_uris: settings.redirect_uris,
            post_logout_redirect_uris: settings.post_logout_redirect_uris,
            allowed_scopes: settings.allowed_scopes,
            grant_types: settings.grant_types,
            updated_at: now,
            ..current
        })
    }

    /// An application's OIDC client settings (viewers and up).
    pub async fn oidc_client(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str, &str),
    ) -> Result<super::oidc_client::OidcClientSettings, Error> {
        let (_, application) = self
            .access_application(caller, path, TenantAction::ApplicationRead)
            .await?;
        applications::oidc_settings(self.pool, application.id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Replaces an application's OIDC client settings (members and up), audited. The ID token
    /// algorithm must be one of `algorithms`, those the key backend can sign with.
    pub async fn set_oidc_client(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str, &str),
        settings: &super::oidc_client::OidcClientSettings,
        algorithms: &[crate::oidc::keys::Alg],
    ) -> Result<(), Error> {
        if !algorithms.contains(&settings.id_token_signed_response_alg) {
            return Err(Error::Invalid("unsupported_id_token_alg"));
        }
        if let Some(jwks) = &settings.jwks {
            super::oidc_client::validate_jwks(jwks)?;
        }
        let (org, application) = self
            .access_application(caller, path, TenantAction::ApplicationWrite)
            .await?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        if !applications::set_oidc_settings(&mut tx, application.id, settings, now).await? {
            return Err(Error::NotFound);
        }
        let keys = settings
            .jwks
            .as_ref()
            .and_then(|j| j["keys"].as_array().map(Vec::len))
            .unwrap_or(0);
        let entry = record(caller, Action::ApplicationUpdated, org.id)
            .target("application", application.id)
            .detail("client_id", application.client_id.as_str())
            .detail("subject_type", settings.subject_type.as_str())
            .detail(
                "id_token_alg",
                settings.id_token_signed_response_alg.as_str(),
            )
            .detail("jwks_keys", keys);
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        self.clients.forget(&application.client_id);
        Ok(())
    }

    /// Soft-deletes an application.
    pub async fn delete_application(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str, &str),
    ) -> Result<(), Error> {
        let (org, application) = self
            .access_application(caller, path, TenantAction::ApplicationDelete)
            .await?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        if !applications::soft_delete(&mut tx, application.id, now).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::ApplicationDeleted, org.id)
            .target("application", application.id)
            .detail("client_id", application.client_id.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        self.clients.forget(&application.client_id);
        Ok(())
    }

    /// Replaces a confidential application's secret; the new one is returned here once and
    /// the old one stops working at once. Public clients have none (`public_client`).
    pub async fn rotate_secret(
        &self,
        caller: Caller<'_>,
        path: (&str, &str, &str, &str),
    ) -> Result<(Application, zeroize::Zeroizing<String>), Error> {
        let (org, application) = self
            .access_application(caller, path, TenantAction::SecretRotate)
            .await?;
        if application.client_type != ClientType::Confidential {
            return Err(Error::Conflict("public_client"));
        }
        let (client_secret, mac) =
            secret::new_client_secret(self.client_secrets, &application.client_id);
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        if !applications::set_secret(&mut tx, application.id, &mac, now).await? {
            return Err(Error::NotFound);
        }
        let entry = record(caller, Action::ApplicationSecretRotated, org.id)
            .target("application", application.id)
            .detail("client_id", application.client_id.as_str());
        self.audit.append(&mut tx, &entry, now).await?;
        tx.commit().await?;
        self.clients.forget(&application.client_id);
        Ok((
            Application {
                secret_rotated_at: Some(now),
                updated_at: now,
                ..application
            },
            client_secret,
        ))
    }

    // ---- audit --------------------------------------------------------------------------

    /// The organization's audit entries, newest first (`org_id` is forced to it).
    pub async fn audit(
        &self,
        caller: Caller<'_>,
        org_slug: &str,
        mut filter: audit::Filter,
    ) -> Result<audit::Page, Error> {
        let org = self
            .access(caller, org_slug, TenantAction::AuditRead)
            .await?;
        filter.org_id = Some(org.id);
        Ok(AuditLog::query(self.pool, &filter).await?)
    }
}

/// An application to create, as the client sent it.
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Type.
    pub client_type: ClientType,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs (default none).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Scopes (default `openid`).
    pub allowed_scopes: Option<Vec<String>>,
    /// Grants (default `authorization_code`, `refresh_token`).
    pub grant_types: Option<Vec<GrantType>>,
}

/// Changes to an application; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ApplicationChange {
    /// Name.
    pub name: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Scopes.
    pub allowed_scopes: Option<Vec<String>>,
    /// Grants.
    pub grant_types: Option<Vec<GrantType>>,
}

/// The id of the live organization `slug` (for the operators' support view).
pub async fn org_id_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Uuid>, Error> {
    match Slug::parse(slug) {
        Ok(slug) => Ok(orgs::id_by_slug(pool, slug.as_str()).await?),
        Err(_) => Ok(None),
    }
}

/// Everything in an organization, deleted or not, for the operators' support view: members
/// (ids, roles), live projects, environments and applications. No secret, no token.
pub async fn org_overview(pool: &PgPool, org_id: Uuid) -> Result<OrgOverview, Error> {
    let (slug, name, created_at, deleted_at) = orgs::overview_row(pool, org_id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(OrgOverview {
        id: org_id,
        slug,
        name,
        created_at,
        deleted_at,
        members: orgs::all_members(pool, org_id).await?,
        projects: projects::all(pool, org_id).await?,
        environments: projects::all_environments(pool, org_id).await?,
        applications: applications::all(pool, org_id).await?,
    })
}

/// Hard-deletes what was soft-deleted before `older_than`.
pub async fn purge_deleted(pool: &PgPool, older_than: OffsetDateTime) -> Result<Purged, Error> {
    Ok(retention::purge_deleted(pool, older_than).await?)
}

/// Starts [`run_purge`] hourly in the background.
pub fn spawn_purge(pool: PgPool, retention: Duration) {
    tokio::spawn(run_purge(
        pool,
        retention,
        std::time::Duration::from_hours(1),
    ));
}

/// Purges rows deleted longer than `retention` ago, now and then every `every`, forever
/// (spawned at start). Failures are logged and retried at the next tick.
pub async fn run_purge(pool: PgPool, retention: Duration, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match purge_deleted(&pool, OffsetDateTime::now_utc() - retention).await {
            Ok(purged) if purged != Purged::default() => {
                tracing::info!(?purged, "purged deleted tenancy rows");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = e.code(), "tenancy purge failed"),
        }
    }
}
