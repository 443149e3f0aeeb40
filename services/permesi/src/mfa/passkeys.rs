//! Passkeys (WebAuthn, webauthn-rs): registration while logged in, login with an email first
//! or with a discoverable credential, and the persisted credentials.
//!
//! Ceremony state lives server-side in `server::ephemeral` (single use, 5 minutes). An email
//! with no account, or an account without passkeys, gets options shaped like a real account's:
//! credential ids from webauthn-rs's fake-credential generator, keyed by a secret and the email,
//! so the same address always gets the same fake list; the finish then fails like a wrong
//! credential. A counter that does not move forward (a cloned authenticator) is refused and
//! audited.

use serde::{Deserialize, Serialize};
use server::ephemeral::EphemeralStore;
use sqlx::{PgPool, Row};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::{
    audit::{Action, Actor, AuditLog, Context, Outcome, Record},
    error::Error,
    sessions::AuthMethod,
};

/// How long a ceremony may take.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);
/// Longest passkey name.
pub const MAX_NAME_CHARS: usize = 64;

/// Relying party settings.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    /// RP id (a registrable domain: `localhost`, `permesi.example`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Origins allowed to run ceremonies (the console's).
    pub origins: Vec<String>,
}

impl RelyingParty {
    /// The webauthn-rs verifier for these settings, or the reason they are unusable.
    pub fn build(&self) -> Result<Webauthn, String> {
        let mut origins = self
            .origins
            .iter()
            .map(|o| Url::parse(o).map_err(|e| format!("origin {o:?}: {e}")));
        let first = origins
            .next()
            .ok_or_else(|| "at least one origin is required".to_owned())??;
        let mut builder = WebauthnBuilder::new(&self.id, &first)
            .map_err(|e| format!("RP id {:?} does not match origin {first}: {e}", self.id))?
            .rp_name(&self.name);
        for origin in origins {
            builder = builder.append_allowed_origin(&origin?);
        }
        builder.build().map_err(|e| e.to_string())
    }
}

/// One of a user's passkeys, as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PasskeyLine {
    /// Id (to rename or delete).
    pub id: Uuid,
    /// The user's name for it.
    pub name: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last login with it.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    /// Whether it may be synced (backup eligible).
    pub backup_eligible: bool,
    /// Whether it is synced (backed up).
    pub backup_state: bool,
    /// Transports the authenticator reported.
    pub transports: Vec<String>,
}

/// The authenticator's answer to a registration.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The ceremony it answers.
    pub ceremony_id: &'a str,
    /// The user's name for the passkey.
    pub name: &'a str,
    /// The new credential.
    pub credential: &'a RegisterPublicKeyCredential,
}

#[derive(Serialize, Deserialize)]
struct Registration {
    user: Uuid,
    state: PasskeyRegistration,
}

#[derive(Serialize, Deserialize)]
enum Login {
    Known {
        user: Uuid,
        state: PasskeyAuthentication,
    },
    Unknown,
    Discoverable(DiscoverableAuthentication),
}

/// Passkeys over the database.
#[derive(Clone)]
pub struct Passkeys {
    webauthn: std::sync::Arc<Webauthn>,
    pool: PgPool,
    audit: AuditLog,
    fake: std::sync::Arc<
        webauthn_rs::fake::WebauthnFakeCredentialGenerator<
            webauthn_rs::fake::FakePasskeyDistribution,
        >,
    >,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys").finish_non_exhaustive()
    }
}

fn webauthn_error(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::CredentialPossibleCompromise => "counter_regression",
        WebauthnError::InvalidRPOrigin => "wrong_origin",
        WebauthnError::InvalidRPIDHash => "wrong_rp_id",
        WebauthnError::MismatchedChallenge => "wrong_challenge",
        _ => "invalid_credential",
    }
}

fn ceremony<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Unavailable(format!("passkey state: {e}")))
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|_| Error::Unavailable("corrupt passkey state".into()))
}

fn handle() -> String {
    Uuid::new_v4().simple().to_string()
}

fn clean_name(name: &str) -> Result<String, Error> {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::Invalid("passkey_name"));
    }
    Ok(name.to_owned())
}

/// Same shape for every email: ids only, no transports, no extensions.
fn uniform(mut options: RequestChallengeResponse) -> RequestChallengeResponse {
    options.public_key.extensions = None;
    for credential in &mut options.public_key.allow_credentials {
        credential.transports = None;
    }
    options
}

impl Passkeys {
    /// Passkeys verified by `webauthn`; fake credential ids keyed by `fake_key`.
    pub fn new(
        webauthn: Webauthn,
        pool: PgPool,
        audit: AuditLog,
        fake_key: &[u8; 32],
    ) -> Result<Self, String> {
        let fake = webauthn_rs::fake::WebauthnFakeCredentialGenerator::new(fake_key)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            webauthn: std::sync::Arc::new(webauthn),
            pool,
            audit,
            fake: std::sync::Arc::new(fake),
        })
    }

    async fn passkeys_of(&self, user: Uuid) -> Result<Vec<(Uuid, Passkey)>, Error> {
        let rows =
            sqlx::query("SELECT id, passkey FROM passkeys WHERE user_id = $1 ORDER BY created_at")
                .bind(user)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let value: serde_json::Value = r.try_get("passkey")?;
                let passkey: Passkey = serde_json::from_value(value)
                    .map_err(|_| Error::Unavailable("corrupt passkey".into()))?;
                Ok((r.try_get("id")?, passkey))
            })
            .collect()
    }

    /// Starts registering a passkey for a logged-in user.
    pub async fn register_start(
        &self,
        ceremonies: &EphemeralStore,
        user: Uuid,
        account: &str,
    ) -> Result<(String, CreationChallengeResponse), Error> {
        let existing = self.passkeys_of(user).await?;
        let exclude = existing
            .iter()
            .map(|(_, p)| p.cred_id().clone())
            .collect::<Vec<_>>();
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(user, account, account, Some(exclude))
            .map_err(|e| Error::Unavailable(format!("webauthn: {e}")))?;
        // Ask for a discoverable credential where the authenticator can keep one (usernameless
        // login), without refusing authenticators that cannot.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
            selection.require_resident_key = false;
        }
        let id = handle();
        ceremonies
            .put(
                &format!("passkey-reg:{id}"),
                &ceremony(&Registration { user, state })?,
                CEREMONY_TTL.unsigned_abs(),
            )
            .await?;
        Ok((id, options))
    }

    /// Finishes a registration: verifies the authenticator's answer and stores the passkey.
    pub async fn register_finish(
        &self,
        ceremonies: &EphemeralStore,
        user: Uuid,
        answer: Answer<'_>,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<PasskeyLine, Error> {
        let Answer {
            ceremony_id: registration_id,
            name,
            credential,
        } = answer;
        let name = clean_name(name)?;
        let stored = ceremonies
            .take(&format!("passkey-reg:{registration_id}"))
            .await?
            .ok_or(Error::CeremonyExpired)?;
        let registration: Registration = decode(&stored)?;
        if registration.user != user {
            return Err(Error::CeremonyExpired);
        }
        let passkey = match self
            .webauthn
            .finish_passkey_registration(credential, &registration.state)
        {
            Ok(p) => p,
            Err(e) => {
                let record = Record::new(
                    context,
                    Actor::User(user),
                    Action::PasskeyRegistered,
                    Outcome::Failure,
                )
                .detail("reason", webauthn_error(&e));
                self.audit.append_alone(&self.pool, &record, now).await?;
                return Err(Error::InvalidCredential);
            }
        };
        let transports: Vec<String> = credential
            .response
            .transports
            .iter()
            .flatten()
            .filter_map(|t| serde_json::to_value(t).ok())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let value =
            serde_json::to_value(&passkey).map_err(|e| Error::Unavailable(e.to_string()))?;
        let flag = |name: &str| value["cred"][name].as_bool().unwrap_or(false);
        let (backup_eligible, backup_state) = (flag("backup_eligible"), flag("backup_state"));
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO passkeys (id, user_id, credential_id, passkey, name, transports, \
             backup_eligible, backup_state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(id)
        .bind(user)
        .bind(passkey.cred_id().as_slice())
        .bind(&value)
        .bind(&name)
        .bind(&transports)
        .bind(backup_eligible)
        .bind(backup_state)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(Error::Conflict("passkey_exists"));
        }
        let record = Record::new(
            context,
            Actor::User(user),
            Action::PasskeyRegistered,
            Outcome::Success,
        )
        .target("passkey", id);
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(PasskeyLine {
            id,
            name,
            created_at: now,
            last_used_at: None,
            backup_eligible,
            backup_state,
            transports,
        })
    }

    /// The user's passkeys, oldest first.
    pub async fn list(&self, user: Uuid) -> Result<Vec<PasskeyLine>, Error> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at, backup_eligible, backup_state, transports \
             FROM passkeys WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PasskeyLine {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                    backup_eligible: r.try_get("backup_eligible")?,
                    backup_state: r.try_get("backup_state")?,
                    transports: r.try_get("transports")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Error::from)
    }

    /// Renames one of the user's passkeys.
    pub async fn rename(
        &self,
        user: Uuid,
        id: Uuid,
        name: &str,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let name = clean_name(name)?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user)
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(Error::NotFound);
        }
        let record = Record::new(
            context,
            Actor::User(user),
            Action::PasskeyRenamed,
            Outcome::Success,
        )
        .target("passkey", id);
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes one of the user's passkeys, unless it is the last credential of an account
    /// without a password.
    pub async fn delete(
        &self,
        user: Uuid,
        id: Uuid,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        // Locks the user's passkeys, so two deletions cannot remove the last two together.
        let (has_password, count): (bool, i64) = sqlx::query_as(
            "SELECT (SELECT length(opaque_record) > 0 FROM users WHERE id = $1), \
                    (SELECT count(*) FROM (SELECT 1 FROM passkeys WHERE user_id = $1 FOR UPDATE) p)",
        )
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
        if !has_password && count <= 1 {
            return Err(Error::Conflict("last_credential"));
        }
        let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(Error::NotFound);
        }
        let record = Record::new(
            context,
            Actor::User(user),
            Action::PasskeyDeleted,
            Outcome::Success,
        )
        .target("passkey", id);
        self.audit.append(&mut tx, &record, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts a passkey login: for `account` (its blind index and the user, when there is one
    /// with passkeys), or discoverable when `None`.
    pub async fn login_start(
        &self,
        ceremonies: &EphemeralStore,
        account: Option<(&[u8], Option<Uuid>)>,
    ) -> Result<(String, RequestChallengeResponse), Error> {
        let fail = |e: WebauthnError| Error::Unavailable(format!("webauthn: {e}"));
        let (options, state) = match account {
            None => {
                let (options, state) = self
                    .webauthn
                    .start_discoverable_authentication()
                    .map_err(fail)?;
                (options, Login::Discoverable(state))
            }
            Some((index, user)) => {
                let passkeys = match user {
                    Some(user) => self.passkeys_of(user).await?,
                    None => Vec::new(),
                };
                if let (Some(user), false) = (user, passkeys.is_empty()) {
                    let keys: Vec<Passkey> = passkeys.into_iter().map(|(_, p)| p).collect();
                    let (options, state) = self
                        .webauthn
                        .start_passkey_authentication(&keys)
                        .map_err(fail)?;
                    (uniform(options), Login::Known { user, state })
                } else {
                    let (mut options, _) = self
                        .webauthn
                        .start_discoverable_authentication()
                        .map_err(fail)?;
                    let ids = self.fake.generate(index).map_err(fail)?;
                    options.public_key.allow_credentials = ids
                        .into_iter()
                        .map(|id| webauthn_rs_proto::AllowCredentials {
                            type_: "public-key".to_owned(),
                            id,
                            transports: None,
                        })
                        .collect();
                    options.mediation = None;
                    (uniform(options), Login::Unknown)
                }
            }
        };
        let id = handle();
        ceremonies
            .put(
                &format!("passkey-login:{id}"),
                &ceremony(&state)?,
                CEREMONY_TTL.unsigned_abs(),
            )
            .await?;
        Ok((id, options))
    }

    /// Finishes a passkey login: the user and how they authenticated, or
    /// `AuthenticationFailed` (audited with the reason).
    pub async fn login_finish(
        &self,
        ceremonies: &EphemeralStore,
        login_id: &str,
        credential: &PublicKeyCredential,
        context: &Context,
        now: OffsetDateTime,
    ) -> Result<(Uuid, Vec<AuthMethod>), Error> {
        let failed = async |user: Option<Uuid>,
                            reason: &'static str|
               -> Result<(Uuid, Vec<AuthMethod>), Error> {
            let mut record = Record::new(
                context,
                Actor::Anonymous,
                Action::PasskeyLogin,
                Outcome::Failure,
            )
            .detail("reason", reason);
            if let Some(user) = user {
                record = record.target("user", user);
            }
            self.audit.append_alone(&self.pool, &record, now).await?;
            Err(Error::AuthenticationFailed)
        };
        let Some(stored) = ceremonies
            .take(&format!("passkey-login:{login_id}"))
            .await?
        else {
            // Anyone can send unknown handles, for free: nothing is recorded.
            return Err(Error::AuthenticationFailed);
        };
        let state: Login = decode(&stored)?;
        // The stored credential the assertion names, whoever it belongs to.
        let row = sqlx::query("SELECT id, user_id, passkey FROM passkeys WHERE credential_id = $1")
            .bind(credential.raw_id.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return failed(None, "unknown_credential").await;
        };
        let (key_id, owner): (Uuid, Uuid) = (row.try_get("id")?, row.try_get("user_id")?);
        let mut passkey: Passkey = serde_json::from_value(row.try_get("passkey")?)
            .map_err(|_| Error::Unavailable("corrupt passkey".into()))?;
        let result = match state {
            Login::Unknown => return failed(None, "unknown_account").await,
            Login::Known { user, state } => {
                if user != owner {
                    return failed(Some(user), "foreign_credential").await;
                }
                self.webauthn
                    .finish_passkey_authentication(credential, &state)
            }
            Login::Discoverable(state) => {
                match self
                    .webauthn
                    .identify_discoverable_authentication(credential)
                {
                    Ok((handle, _)) if handle == owner => self
                        .webauthn
                        .finish_discoverable_authentication_v2(credential, state, &passkey),
                    _ => return failed(Some(owner), "foreign_credential").await,
                }
            }
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                let reason = webauthn_error(&e);
                let outcome = if reason == "counter_regression" {
                    Outcome::Denied
                } else {
                    Outcome::Failure
                };
                let record = Record::new(context, Actor::Anonymous, Action::PasskeyLogin, outcome)
                    .target("user", owner)
                    .detail("reason", reason)
                    .detail("passkey", key_id.to_string());
                self.audit.append_alone(&self.pool, &record, now).await?;
                return Err(Error::AuthenticationFailed);
            }
        };
        passkey.update_credential(&result);
        let value =
            serde_json::to_value(&passkey).map_err(|e| Error::Unavailable(e.to_string()))?;
        sqlx::query(
            "UPDATE passkeys SET passkey = $2, sign_count = $3, last_used_at = $4, \
             backup_state = $5 WHERE id = $1",
        )
        .bind(key_id)
        .bind(&value)
        .bind(i64::from(result.counter()))
        .bind(now)
        .bind(result.backup_state())
        .execute(&self.pool)
        .await?;
        // A synced passkey is software-bound (swk); otherwise hardware-bound (hwk).
        let method = if result.backup_eligible() {
            AuthMethod::Swk
        } else {
            AuthMethod::Hwk
        };
        Ok((owner, vec![method]))
    }
}
