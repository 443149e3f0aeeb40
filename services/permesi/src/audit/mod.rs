//! The audit log: a tamper-evident, append-only record of every security event.
//!
//! An entry is appended in the same transaction as the change it records ([`AuditLog::append`]
//! on that transaction's connection), so a change and its record commit or vanish together.
//! Entries form a chain: each carries an HMAC-SHA256, under a key from the secret store, of
//! its own fields and the previous entry's MAC. Editing, deleting or inserting a row breaks the
//! chain ([`AuditLog::verify`], `permesi audit verify`); without the key, someone with write
//! access to the database cannot forge a consistent chain. Removing the newest entries is only
//! visible against a head recorded elsewhere, which `permesi audit verify` prints.
//!
//! Entries never hold a secret, token, password file or OPAQUE message: the types here only
//! take ids, stable action names, and a small JSON `detail` the callers build from non-secret
//! facts.

mod chain;
mod store;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub use chain::{AUDIT_KEY_NAME, ChainKey};
pub use store::{AuditLog, Broken, Entry, Filter, Page, VerifyReport, purge_security_events};

/// How long anonymous security events are kept, and at most how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityEventRetention {
    /// Events older than this are deleted.
    pub max_age: time::Duration,
    /// Beyond this many rows the oldest are deleted.
    pub max_rows: i64,
}

/// Prunes `security_events` every ten minutes (and once at start).
pub fn spawn_security_events_purge(pool: sqlx::PgPool, retention: SecurityEventRetention) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_mins(10));
        loop {
            every.tick().await;
            let cutoff = OffsetDateTime::now_utc() - retention.max_age;
            match purge_security_events(&pool, cutoff, retention.max_rows).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "security events pruned"),
                Err(e) => tracing::warn!(error = %e, "security events purge failed"),
            }
        }
    });
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A logged-in (or logging-in) user.
    User(Uuid),
    /// A platform operator acting as one.
    Operator(Uuid),
    /// An OIDC client (application) acting for itself.
    Client(Uuid),
    /// permesi itself (background jobs).
    System,
    /// Nobody known, e.g. a failed login or an anonymous request.
    Anonymous,
}

impl Actor {
    /// Stored kind.
    pub fn kind(self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Operator(_) => "operator",
            Self::Client(_) => "client",
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }

    /// Stored id, when the kind has one.
    pub fn id(self) -> Option<Uuid> {
        match self {
            Self::User(id) | Self::Operator(id) | Self::Client(id) => Some(id),
            Self::System | Self::Anonymous => None,
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Attempted and failed (a wrong password, a wrong code).
    Failure,
    /// Refused by authorization or a rate limit.
    Denied,
}

impl Outcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Every audited action, by its stable stored name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($(#[$doc])* $variant,)*
        }

        impl Action {
            /// Every action, for documentation and filters.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The stable name stored and shown (`auth.login`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// The action with this stored name.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Action::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    /// An account was registered (or a signup for an existing address was absorbed).
    Signup => "user.signup",
    /// An email address was verified.
    EmailVerified => "user.email_verified",
    /// A verification link was sent again.
    VerificationResent => "user.verification_resent",
    /// A login attempt (success or failure).
    Login => "auth.login",
    /// A session ended by its own logout.
    Logout => "auth.logout",
    /// A user ended one of their sessions.
    SessionRevoked => "session.revoked",
    /// A user changed their password (other sessions end).
    PasswordChanged => "user.password_changed",
    /// The platform was claimed by its first operator.
    PlatformClaimed => "platform.claimed",
    /// An operator elevated their session for sensitive actions.
    OperatorElevated => "operator.elevated",
    /// An operator searched or listed users.
    AdminUsersSearched => "admin.users.searched",
    /// An operator disabled an account.
    AdminUserDisabled => "admin.user.disabled",
    /// An operator enabled an account.
    AdminUserEnabled => "admin.user.enabled",
    /// An operator ended every session of a user.
    AdminUserSessionsEnded => "admin.user.sessions_ended",
    /// An operator opened an organization's support view.
    AdminOrgViewed => "admin.org.viewed",
    /// An operator read the audit log.
    AdminAuditRead => "admin.audit.read",
    /// An organization was created.
    OrgCreated => "org.created",
    /// An organization was renamed or changed.
    OrgUpdated => "org.updated",
    /// An organization was (soft) deleted.
    OrgDeleted => "org.deleted",
    /// Someone was invited to an organization.
    MemberInvited => "org.member.invited",
    /// An invitation was accepted.
    MemberJoined => "org.member.joined",
    /// A member's role changed.
    MemberRoleChanged => "org.member.role_changed",
    /// A member left or was removed.
    MemberRemoved => "org.member.removed",
    /// An invitation was withdrawn.
    InvitationRevoked => "org.invitation.revoked",
    /// A project was created.
    ProjectCreated => "project.created",
    /// A project was changed.
    ProjectUpdated => "project.updated",
    /// A project was (soft) deleted.
    ProjectDeleted => "project.deleted",
    /// An environment was created.
    EnvironmentCreated => "environment.created",
    /// An environment was changed.
    EnvironmentUpdated => "environment.updated",
    /// An environment was (soft) deleted.
    EnvironmentDeleted => "environment.deleted",
    /// An application (OIDC client) was created.
    ApplicationCreated => "application.created",
    /// An application was changed.
    ApplicationUpdated => "application.updated",
    /// An application was (soft) deleted.
    ApplicationDeleted => "application.deleted",
    /// An application's client secret was rotated.
    ApplicationSecretRotated => "application.secret_rotated",
    /// A user turned TOTP on (after a first valid code).
    TotpEnabled => "mfa.totp_enabled",
    /// A user turned TOTP off.
    TotpDisabled => "mfa.totp_disabled",
    /// A user made new recovery codes.
    RecoveryCodesRegenerated => "mfa.recovery_codes_regenerated",
    /// The second step of a login (TOTP or recovery code), success or failure.
    MfaVerified => "auth.mfa",
    /// A primary factor passed and the login now waits for the second factor.
    MfaChallenged => "auth.mfa_challenged",
    /// A passkey was registered.
    PasskeyRegistered => "passkey.registered",
    /// A passkey was renamed.
    PasskeyRenamed => "passkey.renamed",
    /// A passkey was deleted.
    PasskeyDeleted => "passkey.deleted",
    /// A passkey login failed (successes are `auth.login` with `hwk`/`swk`).
    PasskeyLogin => "auth.passkey",
    /// Someone was refused a tenant or admin action.
    AccessDenied => "access.denied",
    /// An authorization code was issued to an application for a user.
    OAuthCodeIssued => "oauth.code_issued",
    /// A used authorization code was presented again; what it issued was revoked.
    OAuthCodeReuse => "oauth.code_reuse",
    /// Tokens were issued for a user (code exchange or refresh).
    OAuthTokenIssued => "oauth.token_issued",
    /// An old refresh token was presented again; its whole family was revoked.
    OAuthRefreshReuse => "oauth.refresh_reuse",
    /// A user granted an application scopes.
    OAuthConsentGranted => "oauth.consent_granted",
    /// A user withdrew an application's consent (its tokens were revoked).
    OAuthConsentRevoked => "oauth.consent_revoked",
    /// A client revoked a token (RFC 7009).
    OAuthTokenRevoked => "oauth.token_revoked",
    /// A relying party logged the user out (RP-initiated logout).
    OAuthLogout => "oauth.logout",
    /// A new version of a token signing key was made (`permesi oidc-keys rotate`).
    OAuthKeyRotated => "oauth.key_rotated",
    /// Someone asked for a password reset link (failures say why nothing was sent).
    PasswordResetRequested => "user.password_reset_requested",
    /// A password was replaced through a reset link; every session ended.
    PasswordReset => "user.password_reset",
    /// A user deleted their own account.
    UserDeleted => "user.deleted",
    /// Attempts on an account (or from a network) went over budget: one entry per lock window.
    AttemptsThrottled => "auth.attempts_throttled",
    /// A session proved a factor again (step-up before a sensitive change).
    Reauthenticated => "auth.reauthenticated",
}

/// Where a request came from, taken from the request by the handler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Client address (forwarded headers only from trusted proxies).
    pub client_ip: Option<IpAddr>,
    /// The request id (`x-request-id`), joining the entry to logs and traces.
    pub request_id: Option<String>,
}

/// Longest stored request id; longer ones are cut (they come from the client).
pub const MAX_REQUEST_ID: usize = 128;

/// One event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// On what: kind and id.
    pub target: Option<(&'static str, String)>,
    /// The organization it belongs to.
    pub org_id: Option<Uuid>,
    /// Where from.
    pub context: Context,
    /// Non-secret facts as a JSON object (`{}` when none).
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl Record {
    /// A record of `action` by `actor` from `context`.
    pub fn new(context: &Context, actor: Actor, action: Action, outcome: Outcome) -> Self {
        let mut context = context.clone();
        if let Some(id) = &mut context.request_id {
            let cut = id
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .take_while(|end| *end <= MAX_REQUEST_ID)
                .last()
                .unwrap_or(0);
            id.truncate(cut);
        }
        Self {
            actor,
            action,
            outcome,
            target: None,
            org_id: None,
            context,
            detail: serde_json::Map::new(),
        }
    }

    /// Sets the target.
    #[must_use]
    pub fn target(mut self, kind: &'static str, id: impl std::fmt::Display) -> Self {
        self.target = Some((kind, id.to_string()));
        self
    }

    /// Sets the organization.
    #[must_use]
    pub fn org(mut self, org_id: Uuid) -> Self {
        self.org_id = Some(org_id);
        self
    }

    /// Adds a non-secret fact to `detail`.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    /// The fields as they are hashed and stored, at `seq` and `occurred_at`.
    pub(crate) fn fields(&self, seq: i64, occurred_at: OffsetDateTime) -> chain::Fields {
        chain::Fields {
            seq,
            occurred_at,
            actor_kind: self.actor.kind().to_owned(),
            actor_id: self.actor.id(),
            action: self.action.as_str().to_owned(),
            outcome: self.outcome.as_str().to_owned(),
            target_kind: self.target.as_ref().map(|(k, _)| (*k).to_owned()),
            target_id: self.target.as_ref().map(|(_, id)| id.clone()),
            org_id: self.org_id,
            client_ip: self.context.client_ip,
            request_id: self.context.request_id.clone(),
            detail: serde_json::Value::Object(self.detail.clone()).to_string(),
        }
    }
}

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row does not decode (a changed column type or value).
    #[error("corrupt audit row {0}")]
    Corrupt(i64),
}
