//! Who may do what in an organization: one table of action -> minimum role, one function.
//!
//! Non-members are told "not found", never "forbidden", so the existence of an organization
//! (or of anything in it) cannot be probed by someone outside it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A member's role, ordered: `owner > admin > member > viewer`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in the organization.
    Viewer,
    /// A developer: also manages applications and rotates their secrets.
    Member,
    /// Manages projects, environments, members below owner, invitations; reads the audit log.
    Admin,
    /// Everything, including deleting the organization and granting or removing `owner`.
    Owner,
}

impl Role {
    /// Every role, highest first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// The role with this stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Everything a tenant endpoint can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantAction {
    /// See the organization.
    OrgRead,
    /// Rename it.
    OrgUpdate,
    /// Delete it (and everything in it).
    OrgDelete,
    /// List members.
    MemberList,
    /// Invite someone.
    MemberInvite,
    /// Change another member's role.
    MemberRoleChange,
    /// Remove another member.
    MemberRemove,
    /// Leave (remove yourself).
    MemberLeave,
    /// List pending invitations.
    InvitationList,
    /// Withdraw an invitation.
    InvitationRevoke,
    /// See projects.
    ProjectRead,
    /// Create or change a project.
    ProjectWrite,
    /// Delete a project.
    ProjectDelete,
    /// See environments.
    EnvironmentRead,
    /// Create or change an environment.
    EnvironmentWrite,
    /// Delete an environment.
    EnvironmentDelete,
    /// See applications (never their secrets).
    ApplicationRead,
    /// Create or change an application.
    ApplicationWrite,
    /// Delete an application.
    ApplicationDelete,
    /// Rotate an application's client secret.
    SecretRotate,
    /// Read the organization's audit log.
    AuditRead,
}

impl TenantAction {
    /// Every action.
    pub const ALL: [TenantAction; 21] = [
        Self::OrgRead,
        Self::OrgUpdate,
        Self::OrgDelete,
        Self::MemberList,
        Self::MemberInvite,
        Self::MemberRoleChange,
        Self::MemberRemove,
        Self::MemberLeave,
        Self::InvitationList,
        Self::InvitationRevoke,
        Self::ProjectRead,
        Self::ProjectWrite,
        Self::ProjectDelete,
        Self::EnvironmentRead,
        Self::EnvironmentWrite,
        Self::EnvironmentDelete,
        Self::ApplicationRead,
        Self::ApplicationWrite,
        Self::ApplicationDelete,
        Self::SecretRotate,
        Self::AuditRead,
    ];

    /// Stable name, for audit entries of refusals.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrgRead => "org.read",
            Self::OrgUpdate => "org.update",
            Self::OrgDelete => "org.delete",
            Self::MemberList => "member.list",
            Self::MemberInvite => "member.invite",
            Self::MemberRoleChange => "member.role_change",
            Self::MemberRemove => "member.remove",
            Self::MemberLeave => "member.leave",
            Self::InvitationList => "invitation.list",
            Self::InvitationRevoke => "invitation.revoke",
            Self::ProjectRead => "project.read",
            Self::ProjectWrite => "project.write",
            Self::ProjectDelete => "project.delete",
            Self::EnvironmentRead => "environment.read",
            Self::EnvironmentWrite => "environment.write",
            Self::EnvironmentDelete => "environment.delete",
            Self::ApplicationRead => "application.read",
            Self::ApplicationWrite => "application.write",
            Self::ApplicationDelete => "application.delete",
            Self::SecretRotate => "application.secret_rotate",
            Self::AuditRead => "audit.read",
        }
    }

    /// The authorization table: the lowest role allowed to do this. A `match`, so adding an
    /// action without deciding its role does not compile.
    pub const fn minimum_role(self) -> Role {
        match self {
            Self::OrgRead
            | Self::MemberList
            | Self::MemberLeave
            | Self::ProjectRead
            | Self::EnvironmentRead
            | Self::ApplicationRead => Role::Viewer,
            Self::ApplicationWrite | Self::SecretRotate => Role::Member,
            Self::OrgUpdate
            | Self::MemberInvite
            | Self::MemberRoleChange
            | Self::MemberRemove
            | Self::InvitationList
            | Self::InvitationRevoke
            | Self::ProjectWrite
            | Self::ProjectDelete
            | Self::EnvironmentWrite
            | Self::EnvironmentDelete
            | Self::ApplicationDelete
            | Self::AuditRead => Role::Admin,
            Self::OrgDelete => Role::Owner,
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The caller is not a member: answer as if nothing were there (404).
    NotFound,
    /// A member whose role is too low (403).
    Forbidden,
}

impl From<Denied> for crate::error::Error {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotFound => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

/// The one authorization check of every tenant endpoint: `membership` is the caller's role in
/// the organization (`None` when not a member, or when the organization does not exist).
pub fn authorize(membership: Option<Role>, action: TenantAction) -> Result<(), Denied> {
    match membership {
        None => Err(Denied::NotFound),
        Some(role) if role >= action.minimum_role() => Ok(()),
        Some(_) => Err(Denied::Forbidden),
    }
}

/// Whether `actor` may give someone the role `role` (by invitation or role change), or take
/// away a role `role`: only owners grant or remove `owner`; admins manage the roles below it.
/// Call after [`authorize`] for the action itself.
pub fn may_manage(actor: Role, role: Role) -> Result<(), Denied> {
    if role == Role::Owner && actor != Role::Owner {
        return Err(Denied::Forbidden);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Denied, Role, TenantAction as A, authorize, may_manage};

    /// The expected table, written out by hand (not derived from `minimum_role`): for each
    /// action, whether owner, admin, member, viewer may do it.
    const EXPECTED: [(A, [bool; 4]); 21] = [
        (A::OrgRead, [true, true, true, true]),
        (A::OrgUpdate, [true, true, false, false]),
        (A::OrgDelete, [true, false, false, false]),
        (A::MemberList, [true, true, true, true]),
        (A::MemberInvite, [true, true, false, false]),
        (A::MemberRoleChange, [true, true, false, false]),
        (A::MemberRemove, [true, true, false, false]),
        (A::MemberLeave, [true, true, true, true]),
        (A::InvitationList, [true, true, false, false]),
        (A::InvitationRevoke, [true, true, false, false]),
        (A::ProjectRead, [true, true, true, true]),
        (A::ProjectWrite, [true, true, false, false]),
        (A::ProjectDelete, [true, true, false, false]),
        (A::EnvironmentRead, [true, true, true, true]),
        (A::EnvironmentWrite, [true, true, false, false]),
        (A::EnvironmentDelete, [true, true, false, false]),
        (A::ApplicationRead, [true, true, true, true]),
        (A::ApplicationWrite, [true, true, true, false]),
        (A::ApplicationDelete, [true, true, false, false]),
        (A::SecretRotate, [true, true, true, false]),
        (A::AuditRead, [true, true, false, false]),
    ];

    #[test]
    fn every_role_and_every_action_matches_the_table() {
        // The expected table covers every action exactly once.
        assert_eq!(EXPECTED.len(), A::ALL.len());
        for action in A::ALL {
            assert_eq!(
                EXPECTED.iter().filter(|(a, _)| *a == action).count(),
                1,
                "{action:?}"
            );
        }
        for (action, allowed) in EXPECTED {
            for (role, allowed) in Role::ALL.into_iter().zip(allowed) {
                let expected = if allowed {
                    Ok(())
                } else {
                    Err(Denied::Forbidden)
                };
                assert_eq!(
                    authorize(Some(role), action),
                    expected,
                    "{role:?} {action:?}"
                );
            }
            // Outsiders learn nothing: not found, whatever the action.
            assert_eq!(authorize(None, action), Err(Denied::NotFound), "{action:?}");
        }
    }

    #[test]
    fn roles_are_ordered_and_named_stably() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Member);
        assert!(Role::Member > Role::Viewer);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Owner"), None);
        let names: std::collections::HashSet<_> = A::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), A::ALL.len());
    }

    #[test]
    fn only_owners_grant_or_remove_owner() {
        for actor in Role::ALL {
            for role in Role::ALL {
                let expected = if role == Role::Owner && actor != Role::Owner {
                    Err(Denied::Forbidden)
                } else {
                    Ok(())
                };
                assert_eq!(may_manage(actor, role), expected, "{actor:?} {role:?}");
            }
        }
    }
}
