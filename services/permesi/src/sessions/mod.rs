//! Browser sessions: a random cookie secret, stored hashed in PostgreSQL, cached in Valkey.
//!
//! - [`Sessions::create`] (at the end of every login) makes a new row with a new id and a
//!   fresh 256-bit secret; only the secret's SHA-256 is stored. The secret goes to the browser
//!   once, in the cookie ([`set_cookie`]): `HttpOnly; SameSite=Lax; Path=/` and `Secure`
//!   unless the policy relaxes it for plain-HTTP localhost.
//! - [`Sessions::authenticate`] finds the session of a presented cookie and refuses it when
//!   revoked, idle-expired or absolutely expired. Each use slides the idle expiry
//!   (`min(now + idle, absolute expiry)`), recorded at most once per [`SLIDE_INTERVAL`] (or a
//!   quarter of the idle time when shorter): the idle expiry is counted from the last
//!   recorded use, so a session may lapse up to that interval earlier than `idle` after its
//!   last request.
//! - [`Sessions::revoke`], [`Sessions::revoke_presented`], [`Sessions::end_all`]
//!   (password change, operators; in the caller's transaction) and [`Sessions::list`] (active
//!   sessions, no secrets). Logins and revocations are audited in the transaction that makes
//!   them.
//!
//! Expiry is exact and in one place ([`Session::is_active`]): a session is active while
//! `now < idle_expires_at` and `now < absolute_expires_at`; at the boundary it is refused.
//!
//! The cache (optional; PostgreSQL is the system of record) and revocation: a hit must never
//! let a revoked session through, even when a request on another replica re-fills the cache
//! while the revocation commits. So revoking writes a tombstone key next to the entry
//! (`permesi:session:<hex hash>:revoked`, kept until the session's absolute expiry) and
//! deletes the entry; every lookup reads both keys in one `MGET`, and a tombstone wins over
//! any entry, however late that entry was written. Entries live at most [`CACHE_TTL`] (and
//! never past the session's idle or absolute expiry), and every slide goes through an
//! `UPDATE` guarded by `revoked_at IS NULL`. Tombstones are written *before* the revocation
//! commits, and a revocation whose tombstone cannot be written is not committed (503): a
//! cached entry never outlives a committed revocation. Cache errors on lookup fall back to
//! PostgreSQL.

mod cache;
mod cookie;
mod store;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use server::backends::Cache;

use crate::audit::{Action, Actor, AuditLog, Context, Outcome, Record};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub use cookie::{
    COOKIE_VALUE_LEN, CookieValue, MAX_COOKIE_HEADER_LEN, clear_cookie, cookie_from_headers,
    cookie_value, set_cookie,
};

/// Cookie name without `Secure` (plain-HTTP localhost development only).
pub const COOKIE_NAME: &str = "permesi_session";
/// Cookie name with `Secure`: the `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, host-only and `Path=/`, so a sibling subdomain cannot plant or shadow it.
pub const SECURE_COOKIE_NAME: &str = "__Host-permesi_session";
/// Longest stored user agent, in characters; longer ones are cut.
pub const MAX_USER_AGENT_CHARS: usize = 512;
/// Most authentication methods recorded for one session.
pub const MAX_AUTH_METHODS: usize = 8;
/// Longest interval between two recorded uses of an active session (the idle-expiry slide).
pub const SLIDE_INTERVAL: Duration = Duration::minutes(1);
/// Longest life of a cache entry.
pub const CACHE_TTL: Duration = Duration::minutes(1);

/// The public handle of a session: listed, and named to revoke one. Not a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Uuid);

impl SessionId {
    /// Wraps a parsed id (e.g. from a URL path).
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How the user authenticated, as RFC 8176 `amr` values (for later `acr`/`amr` claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthMethod {
    /// A password (here: OPAQUE).
    Pwd,
    /// A one-time password (TOTP, recovery code).
    Otp,
    /// A hardware-bound key (a passkey on a security key or platform authenticator).
    Hwk,
    /// A software-bound key (a synced passkey).
    Swk,
    /// More than one factor.
    Mfa,
}

impl AuthMethod {
    /// The stable wire and database form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Hwk => "hwk",
            Self::Swk => "swk",
            Self::Mfa => "mfa",
        }
    }

    /// The inverse of [`AuthMethod::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pwd, Self::Otp, Self::Hwk, Self::Swk, Self::Mfa]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// Everything this module can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A setting is unusable; the text names it.
    #[error("invalid session setting: {0}")]
    Settings(&'static str),
    /// An argument is unusable; the text names it.
    #[error("invalid session input: {0}")]
    Invalid(&'static str),
    /// No active account has this id.
    #[error("unknown user")]
    UnknownUser,
    /// A stored row does not decode.
    #[error("corrupt session data")]
    CorruptData,
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The audit entry could not be written (nothing was changed).
    #[error("audit: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// The cache could not record a revocation (nothing was changed).
    #[error("session cache unavailable")]
    Cache,
}

impl SessionError {
    /// Stable short identifier, for logs and the HTTP error mapping.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Settings(_) => "settings",
            Self::Invalid(_) => "invalid",
            Self::UnknownUser => "unknown_user",
            Self::CorruptData => "corrupt_data",
            Self::Database(_) => "database",
            Self::Audit(_) => "audit",
            Self::Cache => "cache",
        }
    }
}

/// Lifetimes and cookie attributes.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    idle: Duration,
    absolute: Duration,
    cookie_name: &'static str,
    secure: bool,
}

impl SessionPolicy {
    /// Validates: `idle` and `absolute` are positive and `idle <= absolute`. `secure: false`
    /// drops the cookie's `Secure` attribute: only for plain-HTTP localhost development.
    pub fn new(idle: Duration, absolute: Duration, secure: bool) -> Result<Self, SessionError> {
        if !idle.is_positive() {
            return Err(SessionError::Settings("session idle timeout"));
        }
        if !absolute.is_positive() || absolute < idle {
            return Err(SessionError::Settings("session absolute lifetime"));
        }
        Ok(Self {
            idle,
            absolute,
            cookie_name: if secure {
                SECURE_COOKIE_NAME
            } else {
                COOKIE_NAME
            },
            secure,
        })
    }

    /// Another cookie name: 1 to 64 characters of `[A-Za-z0-9_-]`.
    pub fn with_cookie_name(mut self, name: &'static str) -> Result<Self, SessionError> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(SessionError::Settings("session cookie name"));
        }
        self.cookie_name = name;
        Ok(self)
    }

    /// Time without use after which a session ends.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Time after login after which a session ends, however active.
    pub fn absolute(&self) -> Duration {
        self.absolute
    }

    /// The cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        self.cookie_name
    }

    /// Whether the cookie carries `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// How stale `last_seen_at` may get before a use is recorded.
    fn slide_interval(&self) -> Duration {
        SLIDE_INTERVAL.min(self.idle / 4)
    }
}

/// An authenticated session (what a request carries once its cookie is checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public handle.
    pub id: SessionId,
    /// Its account.
    pub user_id: Uuid,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last recorded use.
    pub last_seen_at: OffsetDateTime,
    /// Ends here without further use.
    pub idle_expires_at: OffsetDateTime,
    /// Ends here regardless.
    pub absolute_expires_at: OffsetDateTime,
    /// When a factor was last proved: the login, or a later step-up.
    pub authenticated_at: OffsetDateTime,
    /// How the user logged in.
    pub auth_methods: Vec<AuthMethod>,
}

impl Session {
    /// Whether the session is unexpired at `now` (revocation is checked by the store).
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// One line of "your sessions": no secret, no hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Public handle (to revoke it).
    pub id: SessionId,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last recorded use.
    pub last_seen_at: OffsetDateTime,
    /// Ends here without further use.
    pub idle_expires_at: OffsetDateTime,
    /// Ends here regardless.
    pub absolute_expires_at: OffsetDateTime,
    /// The browser's `User-Agent` at login (cut to [`MAX_USER_AGENT_CHARS`]).
    pub user_agent: Option<String>,
    /// The client address at login.
    pub client_ip: Option<IpAddr>,
    /// How the user logged in.
    pub auth_methods: Vec<AuthMethod>,
}

/// Creates, checks, lists and revokes sessions, auditing each login and revocation in the
/// transaction that makes it. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    pool: PgPool,
    cache: Option<Cache>,
    sealer: std::sync::Arc<server::seal::Sealer>,
    policy: SessionPolicy,
    audit: AuditLog,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("cache", &self.cache.is_some())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// A service over `pool`, caching in `cache` when one is configured (entries sealed by
    /// `sealer`, so a write to Valkey cannot make a session).
    pub fn new(
        pool: PgPool,
        cache: Option<Cache>,
        sealer: std::sync::Arc<server::seal::Sealer>,
        policy: SessionPolicy,
        audit: AuditLog,
    ) -> Self {
        Self {
            pool,
            cache,
            sealer,
            policy,
            audit,
        }
    }

    /// The settings in use.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// Starts a session for `user_id` (an active account) at login, and records the login in
    /// the audit log in the same transaction: always a new id and a new secret, never a reused
    /// one. `user_agent` is cut to [`MAX_USER_AGENT_CHARS`] with control characters dropped.
    /// Returns the session and the cookie value, which exists nowhere else: send it with
    /// [`set_cookie`].
    pub async fn create(
        &self,
        user_id: Uuid,
        methods: &[AuthMethod],
        password_generation: Option<i64>,
        user_agent: Option<&str>,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<(Session, CookieValue), SessionError> {
        let mut auth_methods = methods.to_vec();
        auth_methods.sort_unstable();
        auth_methods.dedup();
        if auth_methods.is_empty() || auth_methods.len() > MAX_AUTH_METHODS {
            return Err(SessionError::Invalid("authentication methods"));
        }
        let absolute_expires_at = now
            .checked_add(self.policy.absolute)
            .ok_or(SessionError::Settings("session absolute lifetime"))?;
        let idle_expires_at = now
            .checked_add(self.policy.idle)
            .ok_or(SessionError::Settings("session idle timeout"))?
            .min(absolute_expires_at);
        let value = CookieValue::generate();
        let session = Session {
            id: SessionId(Uuid::now_v7()),
            user_id,
            created_at: now,
            last_seen_at: now,
            idle_expires_at,
            absolute_expires_at,
            authenticated_at: now,
            auth_methods,
        };
        let user_agent = user_agent.map(clean_user_agent).filter(|ua| !ua.is_empty());
        let mut tx = self.pool.begin().await?;
        // Returned as stored, so the times have the database's precision.
        let session = store::insert(
            &mut *tx,
            &session,
            &value.hash(),
            user_agent.as_deref(),
            context.client_ip,
            password_generation,
        )
        .await?
        .ok_or(SessionError::UnknownUser)?;
        let methods: Vec<&str> = session.auth_methods.iter().map(|m| m.as_str()).collect();
        let record = Record::new(
            context,
            Actor::User(user_id),
            Action::Login,
            Outcome::Success,
        )
        .target("session", session.id.0)
        .detail("amr", methods);
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok((session, value))
    }

    /// Records a step-up: the session behind `presented` proved a factor again at `now`.
    /// The cached entry is dropped so every replica reads the new time from the database.
    pub async fn reauthenticated(
        &self,
        session: &Session,
        presented: &CookieValue,
        now: OffsetDateTime,
    ) -> Result<(), SessionError> {
        if !store::reauthenticated(&self.pool, session.id, session.user_id, now).await? {
            return Err(SessionError::UnknownUser);
        }
        if let Some(client) = &self.cache {
            cache::forget(client, &presented.hash())
                .await
                .map_err(|_| SessionError::Cache)?;
        }
        Ok(())
    }

    /// The active session of a presented cookie, or `None` (unknown, revoked, expired, or its
    /// account disabled). Slides the idle expiry.
    ///
    /// The lookup is by SHA-256 of a 256-bit random secret, an exact-match index lookup: its
    /// timing can at most reveal hash prefixes of stored secrets, which does not help find a
    /// preimage, so no constant-time comparison is needed.
    pub async fn authenticate(
        &self,
        presented: &CookieValue,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, SessionError> {
        let hash = presented.hash();
        if let Some(client) = &self.cache {
            match cache::get(client, &self.sealer, &hash).await {
                Ok(cache::Lookup::Revoked) => return Ok(None),
                Ok(cache::Lookup::Hit(session)) => {
                    return self.accept(session, &hash, now, false).await;
                }
                Ok(cache::Lookup::Miss) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "session cache read failed; using the database");
                }
            }
        }
        match store::find_by_hash(&self.pool, &hash).await? {
            Some(session) => self.accept(session, &hash, now, true).await,
            None => Ok(None),
        }
    }

    /// Checks expiry, slides when due, and refreshes the cache when the session came from
    /// the database or moved.
    async fn accept(
        &self,
        session: Session,
        hash: &[u8; 32],
        now: OffsetDateTime,
        from_database: bool,
    ) -> Result<Option<Session>, SessionError> {
        if !session.is_active(now) {
            return Ok(None);
        }
        let session = if now - session.last_seen_at >= self.policy.slide_interval() {
            let idle = now
                .checked_add(self.policy.idle)
                .unwrap_or(session.absolute_expires_at)
                .min(session.absolute_expires_at);
            let Some(slid) = store::slide(&self.pool, session.id, now, idle).await? else {
                // Revoked (or its account disabled) since it was cached.
                if let Some(client) = &self.cache
                    && let Err(e) = cache::forget(client, hash).await
                {
                    tracing::warn!(error = %e, "session cache delete failed");
                }
                return Ok(None);
            };
            slid
        } else if from_database {
            session
        } else {
            return Ok(Some(session));
        };
        if let Some(client) = &self.cache
            && let Err(e) = cache::put(client, &self.sealer, hash, &session, now).await
        {
            tracing::warn!(error = %e, "session cache write failed");
        }
        Ok(Some(session))
    }

    /// Revokes one of `user_id`'s active sessions (audited as `session.revoked` by that user);
    /// `false` when `session_id` is not an active session of that user (another user's
    /// session is never touched).
    pub async fn revoke(
        &self,
        session_id: SessionId,
        user_id: Uuid,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<bool, SessionError> {
        let mut tx = self.pool.begin().await?;
        let revoked = store::revoke(&mut *tx, session_id, user_id, now).await?;
        if !revoked.is_empty() {
            let record = Record::new(
                context,
                Actor::User(user_id),
                Action::SessionRevoked,
                Outcome::Success,
            )
            .target("session", session_id.0);
            self.audit.append(&mut tx, &record, now).await?;
        }
        self.invalidate(&revoked, now).await?;
        tx.commit().await?;
        Ok(!revoked.is_empty())
    }

    /// Revokes the session of a presented cookie, audited as `action` by its user (`auth.logout`,
    /// or `session.revoked` when a login replaces it); `false` when it was not active.
    pub async fn revoke_presented(
        &self,
        presented: &CookieValue,
        action: Action,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<bool, SessionError> {
        let mut tx = self.pool.begin().await?;
        let revoked = store::revoke_by_hash(&mut *tx, &presented.hash(), now).await?;
        for r in &revoked {
            let record = Record::new(context, Actor::User(r.user_id), action, Outcome::Success)
                .target("session", r.id);
            self.audit.append(&mut tx, &record, now).await?;
        }
        self.invalidate(&revoked, now).await?;
        tx.commit().await?;
        Ok(!revoked.is_empty())
    }

    /// Ends every active session of `user_id` but `keep` on `conn`, the caller's transaction
    /// (password change or reset, account deletion, an operator disabling a user or ending
    /// their sessions), which also writes the audit entry; returns how many ended. The cache
    /// markers are written here, before the caller commits: an error means the transaction
    /// must not commit (fail closed: a cached session never outlives a committed revocation).
    pub async fn end_all(
        &self,
        conn: &mut sqlx::PgConnection,
        user_id: Uuid,
        keep: Option<SessionId>,
        now: OffsetDateTime,
    ) -> Result<u64, SessionError> {
        let revoked = store::revoke_all_except(conn, user_id, keep, now).await?;
        self.invalidate(&revoked, now).await?;
        Ok(u64::try_from(revoked.len()).unwrap_or(u64::MAX))
    }

    /// `user_id`'s active sessions at `now`, most recently used first.
    pub async fn list(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionInfo>, SessionError> {
        store::list(&self.pool, user_id, now).await
    }

    /// Writes the tombstones of `revoked` *before* the revocation commits. Tombstones win over
    /// cached entries, so a tombstone for a revocation that then fails to commit only ends the
    /// session early; a revocation whose tombstone cannot be written is not committed, so a
    /// cached entry can never outlive a committed revocation (fail closed).
    async fn invalidate(
        &self,
        revoked: &[store::Revoked],
        now: OffsetDateTime,
    ) -> Result<(), SessionError> {
        let Some(client) = &self.cache else {
            return Ok(());
        };
        for r in revoked {
            cache::revoke(client, &r.hash, r.absolute_expires_at, now)
                .await
                .map_err(|e| {
                    tracing::warn!(session_id = %r.id, error = %e, "session cache invalidation failed; revocation not committed");
                    SessionError::Cache
                })?;
        }
        Ok(())
    }
}

/// Drops control characters and cuts to [`MAX_USER_AGENT_CHARS`].
fn clean_user_agent(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}
