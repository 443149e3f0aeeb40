//! The provider's flows over the database: authorization (with the console's login and consent
//! pages), the token endpoint's grants and client authentication, userinfo, introspection,
//! revocation and RP-initiated logout. Handlers in `api::oauth` only decode and encode.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use server::replay::ReplayGuard;
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    AuthorizationRequest, MacKey, OidcConfig, Prompt, RefreshDecision, RefreshState, acr, amr,
    check_assertion_claims, client_key, decide_refresh, hash_secret, jose,
    keys::{Alg, SigningKeys},
    new_secret, parse_scopes, pkce_matches, redirect_registered, refresh_successor, subject,
    valid_challenge,
};
use crate::{
    app::AppState,
    audit::{Action, Actor, Context, Outcome, Record},
    error::Error,
    identity::email,
    sessions::Session,
    store::{
        oauth::{self, Client, Consumed, Grant, NewAccess, NewCode, NewRefresh},
        users,
    },
    tenancy::{ClientType, GrantType, verify_client_secret},
};

/// What the provider holds beyond the shared state.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Settings.
    pub config: Arc<OidcConfig>,
    /// Token signing keys.
    pub keys: SigningKeys,
    /// Pairwise subject key.
    pub pairwise: MacKey,
    /// Refresh-token successor key.
    pub refresh: MacKey,
    /// Spent `private_key_jwt` `jti`s.
    pub assertions: Arc<ReplayGuard>,
    /// Clients as the token endpoint authenticates them, for [`CLIENT_CACHE_TTL`].
    pub clients: ClientCache,
}

/// How long the token endpoint trusts a cached client row (secret MAC, grants, keys): a
/// rotated secret, a changed setting or a deleted application takes effect on every replica
/// within this time. The authorization endpoint always reads the database.
pub const CLIENT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Most cached clients; the cache is emptied when it is full.
const CLIENT_CACHE_MAX: usize = 10_000;

/// Known clients by client id, each kept [`CLIENT_CACHE_TTL`]. Unknown client ids are never
/// cached (nothing to grow with guesses).
#[derive(Debug, Clone, Default)]
pub struct ClientCache(Arc<std::sync::RwLock<std::collections::HashMap<String, CachedClient>>>);

type CachedClient = (std::time::Instant, Arc<Client>);

impl ClientCache {
    async fn get(
        &self,
        pool: &sqlx::PgPool,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, Error> {
        if let Ok(map) = self.0.read()
            && let Some((at, client)) = map.get(client_id)
            && at.elapsed() < CLIENT_CACHE_TTL
        {
            return Ok(Some(client.clone()));
        }
        let Some(client) = oauth::client_by_client_id(pool, client_id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        if let Ok(mut map) = self.0.write() {
            if map.len() >= CLIENT_CACHE_MAX {
                map.clear();
            }
            map.insert(
                client_id.to_owned(),
                (std::time::Instant::now(), client.clone()),
            );
        }
        Ok(Some(client))
    }

    /// Drops `client_id`, so that a change made through this instance applies at once here
    /// (other instances see it within [`CLIENT_CACHE_TTL`]).
    pub fn forget(&self, client_id: &str) {
        if let Ok(mut map) = self.0.write() {
            map.remove(client_id);
        }
    }
}

fn oauth(error: &'static str, description: &'static str) -> Error {
    Error::oauth(error, description)
}

/// The query of `/oauth/authorize`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// The client.
    pub client_id: Option<String>,
    /// One of its registered redirect URIs, exactly.
    pub redirect_uri: Option<String>,
    /// Must be `code`.
    pub response_type: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Echoed back.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// Must be `S256`.
    pub code_challenge_method: Option<String>,
    /// `none`, `login`, `consent`.
    pub prompt: Option<String>,
    /// Seconds.
    pub max_age: Option<String>,
    /// Passed to the login page.
    pub login_hint: Option<String>,
    /// RFC 8707 resource indicator.
    pub resource: Option<String>,
    /// Resume a stored request after login or consent.
    pub request: Option<String>,
    /// `response_mode`: only `query` is supported.
    pub response_mode: Option<String>,
}

/// Where `/oauth/authorize` sends the browser.
#[derive(Debug)]
pub enum Authorize {
    /// A redirect (to the client, or to the console's login or consent page).
    Redirect(String),
    /// An error shown to the user, never redirected (unknown client or redirect URI).
    Page(Error),
}

/// `redirect_uri` with `params` appended to its query.
fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in params {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => base.to_owned(),
    }
}

impl Provider {
    fn error_redirect(
        &self,
        redirect_uri: &str,
        error: &str,
        description: &str,
        state: Option<&str>,
    ) -> Authorize {
        let mut params = vec![
            ("error", error),
            ("error_description", description),
            ("iss", self.config.issuer.as_str()),
        ];
        if let Some(state) = state {
            params.push(("state", state));
        }
        Authorize::Redirect(with_query(redirect_uri, &params))
    }
}

/// Validates a new authorization request after the client and redirect URI are known good:
/// the error code and description to send to the redirect URI, or the request to store.
fn validate(
    client: &Client,
    q: &AuthorizeQuery,
    redirect_uri: &str,
) -> Result<AuthorizationRequest, (&'static str, &'static str)> {
    if q.response_type.as_deref() != Some("code") {
        return Err((
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        ));
    }
    if q.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(("invalid_request", "only response_mode=query is supported"));
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err((
            "unauthorized_client",
            "the client may not use the authorization code grant",
        ));
    }
    let scopes = parse_scopes(q.scope.as_deref().unwrap_or(""))
        .ok_or(("invalid_scope", "malformed scope"))?;
    if scopes.is_empty() || !scopes.iter().all(|s| client.allowed_scopes.contains(s)) {
        return Err((
            "invalid_scope",
            "scope is empty or not allowed for this client",
        ));
    }
    match q.code_challenge_method.as_deref() {
        Some("S256") => {}
        Some(_) => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        None => {
            return Err((
                "invalid_request",
                "PKCE is required: code_challenge and code_challenge_method=S256",
            ));
        }
    }
    let code_challenge = q
        .code_challenge
        .as_deref()
        .filter(|c| valid_challenge(c))
        .ok_or((
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ))?;
    let prompt = Prompt::parse(q.prompt.as_deref()).ok_or(("invalid_request", "invalid prompt"))?;
    let max_age = match q.max_age.as_deref() {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or(("invalid_request", "invalid max_age"))?,
        ),
    };
    // Short, and without control characters (PostgreSQL refuses NUL in text and JSON: it
    // would surface as a 503 instead of this answer).
    let fits = |v: &Option<String>, max: usize| {
        v.as_ref()
            .is_none_or(|v| v.len() <= max && !v.contains(char::is_control))
    };
    if !fits(&q.state, 1024)
        || !fits(&q.nonce, 512)
        || !fits(&q.login_hint, 256)
        || !fits(&q.resource, 2048)
    {
        return Err((
            "invalid_request",
            "state, nonce, login_hint or resource is too long or has control characters",
        ));
    }
    if let Some(resource) = &q.resource
        && !valid_resource(resource)
    {
        return Err((
            "invalid_target",
            "resource must be an absolute URI without a fragment",
        ));
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: q.state.clone(),
        nonce: q.nonce.clone(),
        code_challenge: code_challenge.to_owned(),
        prompt,
        max_age,
        login_hint: q.login_hint.clone(),
        resource: q.resource.clone(),
    })
}

/// A stored request resumed by its id, or a new one validated and stored; `Err` with the
/// answer when the request is unusable.
async fn load_request(
    state: &AppState,
    q: AuthorizeQuery,
    now: OffsetDateTime,
) -> Result<Result<(Zeroizing<String>, oauth::PendingRequest, Client), Authorize>, Error> {
    let found = if let Some(id) = q.request.as_deref() {
        let hash = hash_secret(id);
        let Some(pending) = oauth::get_request(&state.pool, &hash, now).await? else {
            return Ok(Err(Authorize::Page(oauth(
                "invalid_request",
                "unknown or expired authorization request",
            ))));
        };
        let Some(client) = oauth::client_by_id(&state.pool, pending.application_id).await? else {
            return Ok(Err(Authorize::Page(oauth(
                "invalid_request",
                "unknown client",
            ))));
        };
        (Zeroizing::new(id.to_owned()), pending, client)
    } else {
        let client = match q.client_id.as_deref() {
            Some(id) => oauth::client_by_client_id(&state.pool, id).await?,
            None => None,
        };
        let Some(client) = client else {
            return Ok(Err(Authorize::Page(oauth(
                "invalid_request",
                "unknown client_id",
            ))));
        };
        let Some(redirect_uri) = q
            .redirect_uri
            .as_deref()
            .filter(|r| redirect_registered(&client.redirect_uris, r))
        else {
            return Ok(Err(Authorize::Page(oauth(
                "invalid_request",
                "redirect_uri is missing or not registered for this client",
            ))));
        };
        let params = match validate(&client, &q, redirect_uri) {
            Ok(params) => params,
            Err((error, description)) => {
                return Ok(Err(state.oidc.error_redirect(
                    redirect_uri,
                    error,
                    description,
                    q.state.as_deref(),
                )));
            }
        };
        let (id, hash) = new_secret();
        oauth::put_request(&state.pool, &hash, client.id, &params, now).await?;
        let pending = oauth::PendingRequest {
            application_id: client.id,
            params,
            consented_by: None,
            created_at: now,
        };
        (id, pending, client)
    };
    Ok(Ok(found))
}

/// `/oauth/authorize`: validate (client and redirect URI first: errors about them are shown,
/// never redirected), store the request, then send the browser to the login page, the consent
/// page or back to the client with a code.
pub async fn authorize(
    state: &AppState,
    q: AuthorizeQuery,
    session: Option<Session>,
    context: &Context,
) -> Result<Authorize, Error> {
    let provider = &state.oidc;
    let now = OffsetDateTime::now_utc();
    let (request_id, pending, client) = match load_request(state, q, now).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let params = &pending.params;
    let hash = hash_secret(&request_id);
    let fail = |error: &str, description: &str| {
        provider.error_redirect(
            &params.redirect_uri,
            error,
            description,
            params.state.as_deref(),
        )
    };

    // Login: none yet, a forced re-login not done since the request, or too old for max_age.
    let session = session.filter(|s| {
        let fresh_enough = params
            .max_age
            .is_none_or(|max| (now - s.created_at).whole_seconds() <= max);
        let relogged = !params.prompt.login || s.created_at >= pending.created_at;
        fresh_enough && relogged
    });
    let Some(session) = session else {
        if params.prompt.none {
            let mut conn = state.pool.acquire().await?;
            oauth::delete_request(&mut conn, &hash).await?;
            return Ok(fail("login_required", "the user is not logged in"));
        }
        let mut query = vec![("request", request_id.as_str())];
        if let Some(hint) = params.login_hint.as_deref() {
            query.push(("login_hint", hint));
        }
        return Ok(Authorize::Redirect(with_query(
            &provider.config.login_url,
            &query,
        )));
    };

    // Consent: remembered per (user, application) covering every scope, or given just now.
    let approved_now = pending.consented_by == Some(session.user_id);
    let remembered = oauth::consent(&state.pool, session.user_id, client.id)
        .await?
        .is_some_and(|granted| params.scopes.iter().all(|s| granted.contains(s)));
    if !approved_now && (params.prompt.consent || !remembered) {
        if params.prompt.none {
            let mut conn = state.pool.acquire().await?;
            oauth::delete_request(&mut conn, &hash).await?;
            return Ok(fail("consent_required", "the user has not consented"));
        }
        return Ok(Authorize::Redirect(with_query(
            &provider.config.consent_url,
            &[("request", request_id.as_str())],
        )));
    }

    issue_code(state, &client, &session, params, &hash, context, now).await
}

/// Issues the code; the request is used up in the same transaction.
async fn issue_code(
    state: &AppState,
    client: &Client,
    session: &Session,
    params: &AuthorizationRequest,
    hash: &[u8; 32],
    context: &Context,
    now: OffsetDateTime,
) -> Result<Authorize, Error> {
    let provider = &state.oidc;
    let (code, code_hash) = new_secret();
    let code_id = Uuid::now_v7();
    let grant = Grant {
        application_id: client.id,
        user_id: session.user_id,
        session_id: session.id.as_uuid(),
        scopes: params.scopes.clone(),
        resource: params.resource.clone(),
        auth_time: session.created_at,
        amr: amr(&session.auth_methods),
    };
    let mut tx = state.pool.begin().await?;
    if !oauth::delete_request(&mut tx, hash).await? {
        return Ok(Authorize::Page(oauth(
            "invalid_request",
            "authorization request already used",
        )));
    }
    oauth::insert_code(
        &mut tx,
        &NewCode {
            id: code_id,
            hash: code_hash,
            grant: &grant,
            redirect_uri: &params.redirect_uri,
            nonce: params.nonce.as_deref(),
            code_challenge: &params.code_challenge,
        },
        now,
    )
    .await?;
    state
        .audit
        .append(
            &mut tx,
            &Record::new(
                context,
                Actor::User(session.user_id),
                Action::OAuthCodeIssued,
                Outcome::Success,
            )
            .target("application", client.id)
            .org(client.org_id)
            .detail("code_id", code_id.to_string())
            .detail("scope", params.scopes.join(" ")),
            now,
        )
        .await?;
    tx.commit().await?;
    let mut query = vec![
        ("code", code.as_str()),
        ("iss", provider.config.issuer.as_str()),
    ];
    if let Some(s) = params.state.as_deref() {
        query.push(("state", s));
    }
    Ok(Authorize::Redirect(with_query(
        &params.redirect_uri,
        &query,
    )))
}

/// What the console shows on its consent page.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// The application's display name.
    pub application: String,
    /// Its client id.
    pub client_id: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Whether the user must approve (not yet granted, or `prompt=consent`).
    pub consent_required: bool,
    /// The hint the client gave for the login form.
    pub login_hint: Option<String>,
}

/// The pending request `id` for the logged-in user's console page.
pub async fn request_view(
    state: &AppState,
    id: &str,
    session: &Session,
) -> Result<RequestView, Error> {
    let now = OffsetDateTime::now_utc();
    let pending = oauth::get_request(&state.pool, &hash_secret(id), now)
        .await?
        .ok_or(Error::NotFound)?;
    let client = oauth::client_by_id(&state.pool, pending.application_id)
        .await?
        .ok_or(Error::NotFound)?;
    let remembered = oauth::consent(&state.pool, session.user_id, client.id)
        .await?
        .is_some_and(|granted| pending.params.scopes.iter().all(|s| granted.contains(s)));
    Ok(RequestView {
        application: client.name,
        client_id: client.client_id,
        consent_required: pending.params.prompt.consent || !remembered,
        scopes: pending.params.scopes,
        login_hint: pending.params.login_hint,
    })
}

/// The user's answer on the consent page: where the browser goes next (back to
/// `/oauth/authorize` to get the code, or to the client with `access_denied`).
pub async fn decide_consent(
    state: &AppState,
    id: &str,
    session: &Session,
    approve: bool,
    context: &Context,
) -> Result<String, Error> {
    let now = OffsetDateTime::now_utc();
    let hash = hash_secret(id);
    let pending = oauth::get_request(&state.pool, &hash, now)
        .await?
        .ok_or(Error::NotFound)?;
    let client = oauth::client_by_id(&state.pool, pending.application_id)
        .await?
        .ok_or(Error::NotFound)?;
    let mut tx = state.pool.begin().await?;
    if !approve {
        oauth::delete_request(&mut tx, &hash).await?;
        tx.commit().await?;
        let mut params = vec![
            ("error", "access_denied"),
            ("error_description", "the user denied the request"),
            ("iss", state.oidc.config.issuer.as_str()),
        ];
        if let Some(s) = pending.params.state.as_deref() {
            params.push(("state", s));
        }
        return Ok(with_query(&pending.params.redirect_uri, &params));
    }
    oauth::grant_consent(
        &mut tx,
        session.user_id,
        client.id,
        &pending.params.scopes,
        now,
    )
    .await?;
    oauth::mark_consented(&mut tx, &hash, session.user_id).await?;
    state
        .audit
        .append(
            &mut tx,
            &Record::new(
                context,
                Actor::User(session.user_id),
                Action::OAuthConsentGranted,
                Outcome::Success,
            )
            .target("application", client.id)
            .org(client.org_id)
            .detail("scope", pending.params.scopes.join(" ")),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(with_query(
        &state.oidc.config.url("/oauth/authorize"),
        &[("request", id)],
    ))
}

/// Withdraws the user's consent for `client_id` and revokes what it was issued.
pub async fn revoke_consent(
    state: &AppState,
    session: &Session,
    client_id: &str,
    context: &Context,
) -> Result<(), Error> {
    let now = OffsetDateTime::now_utc();
    let mut tx = state.pool.begin().await?;
    let app = oauth::revoke_consent(&mut tx, session.user_id, client_id, now)
        .await?
        .ok_or(Error::NotFound)?;
    state
        .audit
        .append(
            &mut tx,
            &Record::new(
                context,
                Actor::User(session.user_id),
                Action::OAuthConsentRevoked,
                Outcome::Success,
            )
            .target("application", app),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The token endpoint's form (and introspection's and revocation's). Unknown parameters are
/// ignored, as RFC 6749 section 3.2 requires; a repeated one is refused. `Debug` shows the
/// grant type and the client only: the rest are credentials.
#[derive(Default, Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    pub grant_type: Option<String>,
    /// The code.
    pub code: Option<String>,
    /// The redirect URI the code was sent to.
    pub redirect_uri: Option<String>,
    /// PKCE verifier.
    pub code_verifier: Option<String>,
    /// The refresh token.
    pub refresh_token: Option<String>,
    /// Scopes (narrowing on refresh; asked for in client credentials).
    pub scope: Option<String>,
    /// RFC 8707 resource (client credentials).
    pub resource: Option<String>,
    /// `client_secret_post` or public clients.
    pub client_id: Option<String>,
    /// `client_secret_post`.
    pub client_secret: Option<String>,
    /// `private_key_jwt`.
    pub client_assertion_type: Option<String>,
    /// `private_key_jwt`.
    pub client_assertion: Option<String>,
    /// Introspection and revocation: the token.
    pub token: Option<String>,
    /// Introspection and revocation: `access_token` or `refresh_token`.
    pub token_type_hint: Option<String>,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Client credentials from `Authorization: Basic` (already decoded). `Debug` hides the secret.
pub struct BasicCredentials {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Authenticates the client of a token, introspection or revocation request by exactly one
/// method: `client_secret_basic`, `client_secret_post`, `private_key_jwt` (confidential
/// clients), or `none` (public clients: `client_id` only).
pub async fn authenticate_client(
    state: &AppState,
    form: &TokenForm,
    basic: Option<BasicCredentials>,
) -> Result<Arc<Client>, Error> {
    let invalid = || oauth("invalid_client", "client authentication failed");
    let methods = usize::from(basic.is_some())
        + usize::from(form.client_secret.is_some())
        + usize::from(form.client_assertion.is_some());
    if methods > 1 {
        return Err(oauth(
            "invalid_request",
            "use exactly one client authentication method",
        ));
    }
    let assertion = match (&form.client_assertion, &form.client_assertion_type) {
        (Some(a), Some(t)) if t == super::JWT_BEARER => Some(a.as_str()),
        (Some(_), _) => {
            return Err(oauth(
                "invalid_request",
                "unsupported client_assertion_type",
            ));
        }
        _ => None,
    };
    let parsed_assertion = assertion.map(jose::parse);
    let client_id = match (&basic, &parsed_assertion) {
        (Some(b), _) => b.client_id.clone(),
        (None, Some(Some(parsed))) => parsed
            .str_claim("sub")
            .map(str::to_owned)
            .ok_or_else(invalid)?,
        (None, Some(None)) => return Err(invalid()),
        (None, None) => form.client_id.clone().ok_or_else(invalid)?,
    };
    if form.client_id.as_ref().is_some_and(|id| *id != client_id) {
        return Err(invalid());
    }
    let client = state
        .oidc
        .clients
        .get(&state.pool, &client_id)
        .await?
        .ok_or_else(invalid)?;
    let ok = match (
        client.client_type,
        &basic,
        &form.client_secret,
        &parsed_assertion,
    ) {
        (ClientType::Public, None, None, None) => true,
        (ClientType::Confidential, Some(b), None, None) => {
            client.secret_mac.as_ref().is_some_and(|mac| {
                verify_client_secret(&state.client_secrets, &client_id, &b.secret, mac)
            })
        }
        (ClientType::Confidential, None, Some(secret), None) => {
            client.secret_mac.as_ref().is_some_and(|mac| {
                verify_client_secret(&state.client_secrets, &client_id, secret, mac)
            })
        }
        (ClientType::Confidential, None, None, Some(Some(parsed))) => {
            verify_assertion(state, &client, parsed).await?
        }
        _ => false,
    };
    if ok { Ok(client) } else { Err(invalid()) }
}

/// `private_key_jwt`: a key of the client's registered JWKS with `EdDSA` only, the claims
/// (`iss` = `sub` = client id, `aud` the token endpoint or the issuer, `exp` within 5 minutes),
/// and the `jti` never seen before.
async fn verify_assertion(
    state: &AppState,
    client: &Client,
    parsed: &jose::Parsed,
) -> Result<bool, Error> {
    let Some(jwks) = client.jwks.as_ref() else {
        return Ok(false);
    };
    let Some(key) = client_key(jwks, parsed) else {
        return Ok(false);
    };
    if !parsed.verify_ed25519(&key) {
        return Ok(false);
    }
    let now = OffsetDateTime::now_utc();
    let config = &state.oidc.config;
    let token_endpoint = config.url("/oauth/token");
    let audiences = [token_endpoint.as_str(), config.issuer.as_str()];
    let Some((jti, exp)) = check_assertion_claims(parsed, &client.client_id, &audiences, now)
    else {
        return Ok(false);
    };
    let id = hash_secret(&format!("{}\0{jti}", client.client_id));
    let ttl =
        std::time::Duration::from_secs(u64::try_from((exp - now).whole_seconds()).unwrap_or(0) + 5);
    state
        .oidc
        .assertions
        .first_use(&id, ttl)
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))
}

/// A successful token response.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    /// Granted scopes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The ID token (`openid` scope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The refresh token (`offline_access` scope, refresh grant allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The token endpoint.
pub async fn token(
    state: &AppState,
    form: TokenForm,
    basic: Option<BasicCredentials>,
    context: &Context,
) -> Result<TokenResponse, Error> {
    let grant_type = form
        .grant_type
        .clone()
        .ok_or_else(|| oauth("invalid_request", "grant_type is required"))?;
    let grant = match grant_type.as_str() {
        "authorization_code" => GrantType::AuthorizationCode,
        "refresh_token" => GrantType::RefreshToken,
        "client_credentials" => GrantType::ClientCredentials,
        _ => {
            return Err(oauth(
                "unsupported_grant_type",
                "supported: authorization_code, refresh_token, client_credentials",
            ));
        }
    };
    let client = authenticate_client(state, &form, basic).await?;
    if !client.allows(grant) {
        return Err(oauth(
            "unauthorized_client",
            "the client may not use this grant type",
        ));
    }
    match grant {
        GrantType::AuthorizationCode => exchange_code(state, &client, &form, context).await,
        GrantType::RefreshToken => refresh(state, &client, &form, context).await,
        GrantType::ClientCredentials => client_credentials(state, &client, &form).await,
    }
}

async fn exchange_code(
    state: &AppState,
    client: &Client,
    form: &TokenForm,
    context: &Context,
) -> Result<TokenResponse, Error> {
    let (Some(code), Some(redirect_uri)) = (form.code.as_deref(), form.redirect_uri.as_deref())
    else {
        return Err(oauth(
            "invalid_request",
            "code and redirect_uri are required",
        ));
    };
    let Some(verifier) = form.code_verifier.as_deref() else {
        return Err(oauth("invalid_request", "code_verifier is required (PKCE)"));
    };
    let now = OffsetDateTime::now_utc();
    let invalid = || {
        oauth(
            "invalid_grant",
            "invalid, expired or used authorization code",
        )
    };
    // Consumed on its own (committed at once): a failed check below still burns the code.
    let mut conn = state.pool.acquire().await?;
    let consumed = oauth::consume_code(&mut conn, &hash_secret(code), now).await?;
    drop(conn);
    let code = match consumed {
        Consumed::Fresh(code) => code,
        // Only the code's own client can set off the reuse revocation: another client
        // presenting a leaked code must not end this application's tokens.
        Consumed::Reused(code_id, app) if app == client.id => {
            code_reused(state, client, code_id, app, context, now).await?;
            return Err(invalid());
        }
        Consumed::Invalid | Consumed::Reused(..) => return Err(invalid()),
    };
    if code.grant.application_id != client.id
        || code.redirect_uri != redirect_uri
        || !pkce_matches(verifier, &code.code_challenge)
    {
        return Err(invalid());
    }
    let mut tx = state.pool.begin().await?;
    let refresh = if code.grant.scopes.iter().any(|s| s == "offline_access")
        && client.allows(GrantType::RefreshToken)
    {
        let (text, hash) = new_secret();
        let family = Uuid::now_v7();
        oauth::insert_refresh(
            &mut tx,
            &NewRefresh {
                id: Uuid::now_v7(),
                hash,
                family_id: family,
                parent_id: None,
                code_id: Some(code.id),
                grant: &code.grant,
                expires_at: now + state.oidc.config.refresh_ttl,
            },
            now,
        )
        .await?;
        Some((family, text))
    } else {
        None
    };
    let response = issue_user_tokens(
        state,
        &mut tx,
        client,
        &code.grant,
        &code.grant.scopes,
        code.nonce.as_deref(),
        (Some(code.id), refresh.as_ref().map(|(f, _)| *f)),
        refresh.map(|(_, t)| t),
        now,
    )
    .await?;
    audit_issued(
        state,
        &mut tx,
        client,
        &code.grant,
        "authorization_code",
        context,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(response)
}

/// A used code came back: revoke everything it issued, and record it.
async fn code_reused(
    state: &AppState,
    client: &Client,
    code_id: Uuid,
    app: Uuid,
    context: &Context,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let mut tx = state.pool.begin().await?;
    let revoked = oauth::revoke_by_code(&mut tx, code_id, now).await?;
    state
        .audit
        .append(
            &mut tx,
            &Record::new(
                context,
                Actor::Client(client.id),
                Action::OAuthCodeReuse,
                Outcome::Denied,
            )
            .target("application", app)
            .org(client.org_id)
            .detail("code_id", code_id.to_string())
            .detail("revoked", revoked),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn audit_issued(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    client: &Client,
    grant: &Grant,
    grant_type: &str,
    context: &Context,
    now: OffsetDateTime,
) -> Result<(), Error> {
    state
        .audit
        .append(
            tx,
            &Record::new(
                context,
                Actor::Client(client.id),
                Action::OAuthTokenIssued,
                Outcome::Success,
            )
            .target("user", grant.user_id)
            .org(client.org_id)
            .detail("grant_type", grant_type.to_owned())
            .detail("scope", grant.scopes.join(" ")),
            now,
        )
        .await?;
    Ok(())
}

/// The scopes a refresh asks for: the original grant, or a subset of it.
/// An RFC 8707 resource: an absolute URI without a fragment, at most 2000 characters (it
/// becomes a signed token's `aud`).
fn valid_resource(resource: &str) -> bool {
    resource.len() <= 2000 && url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none())
}

fn narrowed(asked: Option<&str>, granted: &[String]) -> Result<Vec<String>, Error> {
    let Some(raw) = asked else {
        return Ok(granted.to_vec());
    };
    let asked = parse_scopes(raw).ok_or_else(|| oauth("invalid_scope", "malformed scope"))?;
    if !asked.iter().all(|s| granted.contains(s)) {
        return Err(oauth("invalid_scope", "scope exceeds the original grant"));
    }
    Ok(asked)
}

async fn refresh(
    state: &AppState,
    client: &Client,
    form: &TokenForm,
    context: &Context,
) -> Result<TokenResponse, Error> {
    let presented = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| oauth("invalid_request", "refresh_token is required"))?;
    let invalid = || oauth("invalid_grant", "invalid, expired or revoked refresh token");
    let now = OffsetDateTime::now_utc();
    let mut tx = state.pool.begin().await?;
    let Some(token) = oauth::lock_refresh(&mut tx, &hash_secret(presented)).await? else {
        return Err(invalid());
    };
    if token.grant.application_id != client.id {
        return Err(invalid());
    }
    // On the transaction's own connection: a second pool connection while the refresh row is
    // locked would let requests wait on each other for connections.
    if !users::is_active(&mut *tx, token.grant.user_id).await? {
        return Err(invalid());
    }
    // A scope the application may no longer ask for is not issued again on refresh.
    let scopes: Vec<String> = narrowed(form.scope.as_deref(), &token.grant.scopes)?
        .into_iter()
        .filter(|s| client.allowed_scopes.contains(s))
        .collect();
    let decision = decide_refresh(
        &RefreshState {
            used_at: token.used_at,
            revoked: token.revoked,
            expires_at: token.expires_at,
            successors: token.successors,
            successor_used: token.successor_used,
        },
        now,
    );
    let successor = refresh_successor(&state.oidc.refresh, presented);
    match decision {
        RefreshDecision::Invalid => return Err(invalid()),
        RefreshDecision::Reuse => {
            let revoked = oauth::revoke_family(&mut tx, token.family_id, now).await?;
            let record = Record::new(
                context,
                Actor::Client(client.id),
                Action::OAuthRefreshReuse,
                Outcome::Denied,
            )
            .target("user", token.grant.user_id)
            .org(client.org_id)
            .detail("family_id", token.family_id.to_string())
            .detail("revoked", revoked);
            state.audit.append(&mut tx, &record, now).await?;
            tx.commit().await?;
            return Err(invalid());
        }
        RefreshDecision::Retry => {}
        RefreshDecision::Rotate => {
            oauth::mark_refresh_used(&mut tx, token.id, now).await?;
            oauth::insert_refresh(
                &mut tx,
                &NewRefresh {
                    id: Uuid::now_v7(),
                    hash: hash_secret(&successor),
                    family_id: token.family_id,
                    parent_id: Some(token.id),
                    code_id: token.code_id,
                    grant: &token.grant,
                    expires_at: now + state.oidc.config.refresh_ttl,
                },
                now,
            )
            .await?;
        }
    }
    let response = issue_user_tokens(
        state,
        &mut tx,
        client,
        &token.grant,
        &scopes,
        None,
        (None, Some(token.family_id)),
        Some(successor),
        now,
    )
    .await?;
    audit_issued(
        state,
        &mut tx,
        client,
        &token.grant,
        "refresh_token",
        context,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(response)
}

/// Access token (recorded for revocation), ID token when `openid` was granted.
#[allow(clippy::too_many_arguments)]
async fn issue_user_tokens(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    client: &Client,
    grant: &Grant,
    scopes: &[String],
    nonce: Option<&str>,
    (code_id, family_id): (Option<Uuid>, Option<Uuid>),
    refresh_token: Option<Zeroizing<String>>,
    now: OffsetDateTime,
) -> Result<TokenResponse, Error> {
    let provider = &state.oidc;
    let config = &provider.config;
    let sub = subject(
        client.subject_type,
        &provider.pairwise,
        client.id,
        grant.user_id,
    );
    let acr = acr(&grant.amr);
    let exp = now + config.access_ttl;
    let jti = Uuid::new_v4();
    let scope = scopes.join(" ");
    let aud = grant
        .resource
        .clone()
        .unwrap_or_else(|| config.issuer.clone());
    let access = json!({
        "iss": config.issuer, "sub": sub, "aud": aud, "exp": exp.unix_timestamp(),
        "iat": now.unix_timestamp(), "jti": jti.to_string(), "client_id": client.client_id,
        "scope": scope, "auth_time": grant.auth_time.unix_timestamp(), "acr": acr,
        "amr": grant.amr, "sid": grant.session_id.to_string(),
    });
    let access_token = provider.keys.sign(Alg::EdDsa, "at+jwt", &access).await?;
    oauth::insert_access(
        tx,
        &NewAccess {
            jti,
            application_id: client.id,
            user_id: Some(grant.user_id),
            code_id,
            family_id,
            expires_at: exp,
        },
    )
    .await?;
    let id_token = if scopes.iter().any(|s| s == "openid") {
        let mut claims = json!({
            "iss": config.issuer, "sub": sub, "aud": client.client_id,
            "azp": client.client_id, "exp": exp.unix_timestamp(), "iat": now.unix_timestamp(),
            "auth_time": grant.auth_time.unix_timestamp(), "acr": acr, "amr": grant.amr,
            "sid": grant.session_id.to_string(),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::from(nonce);
        }
        if scopes.iter().any(|s| s == "email") {
            add_email(state, &mut *tx, grant.user_id, &mut claims).await?;
        }
        Some(
            provider
                .keys
                .sign(client.id_token_alg, "JWT", &claims)
                .await?,
        )
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: config.access_ttl.whole_seconds(),
        scope,
        id_token,
        refresh_token: refresh_token.map(|t| t.as_str().to_owned()),
    })
}

async fn add_email(
    state: &AppState,
    db: impl sqlx::PgExecutor<'_>,
    user: Uuid,
    claims: &mut Value,
) -> Result<(), Error> {
    if let Some((address, verified)) = email::of_user(db, state.cipher.as_ref(), user).await? {
        claims["email"] = Value::from(address.as_str());
        claims["email_verified"] = Value::from(verified);
    }
    Ok(())
}

async fn client_credentials(
    state: &AppState,
    client: &Client,
    form: &TokenForm,
) -> Result<TokenResponse, Error> {
    let scopes = parse_scopes(form.scope.as_deref().unwrap_or(""))
        .ok_or_else(|| oauth("invalid_scope", "malformed scope"))?;
    let user_scope = |s: &String| super::STANDARD_SCOPES.contains(&s.as_str());
    if scopes
        .iter()
        .any(|s| user_scope(s) || !client.allowed_scopes.contains(s))
    {
        return Err(oauth(
            "invalid_scope",
            "scope not allowed for this client (user scopes need a user)",
        ));
    }
    if let Some(resource) = &form.resource
        && !valid_resource(resource)
    {
        return Err(oauth("invalid_target", "resource must be an absolute URI"));
    }
    let config = &state.oidc.config;
    let now = OffsetDateTime::now_utc();
    let scope = scopes.join(" ");
    let aud = form
        .resource
        .clone()
        .unwrap_or_else(|| config.issuer.clone());
    let claims = json!({
        "iss": config.issuer, "sub": client.client_id, "aud": aud,
        "exp": (now + config.access_ttl).unix_timestamp(), "iat": now.unix_timestamp(),
        "jti": Uuid::new_v4().to_string(), "client_id": client.client_id, "scope": scope,
    });
    Ok(TokenResponse {
        access_token: state.oidc.keys.sign(Alg::EdDsa, "at+jwt", &claims).await?,
        token_type: "Bearer",
        expires_in: config.access_ttl.whole_seconds(),
        scope,
        id_token: None,
        refresh_token: None,
    })
}

/// A verified, unexpired access token of ours (signature, `typ`, `iss`, `exp`).
async fn access_token(state: &AppState, token: &str) -> Result<Option<jose::Parsed>, Error> {
    let Some(parsed) = state.oidc.keys.verify(token).await? else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let ok = parsed.typ() == Some("at+jwt")
        && parsed.str_claim("iss") == Some(state.oidc.config.issuer.as_str())
        && parsed.int_claim("exp").is_some_and(|exp| exp > now);
    Ok(ok.then_some(parsed))
}

fn jti(parsed: &jose::Parsed) -> Option<Uuid> {
    parsed
        .str_claim("jti")
        .and_then(|j| Uuid::parse_str(j).ok())
}

/// `/oauth/userinfo`: the claims of the access token's user for its scopes.
pub async fn userinfo(state: &AppState, token: &str) -> Result<Value, Error> {
    let invalid = || oauth("invalid_token", "invalid, expired or revoked access token");
    let parsed = access_token(state, token).await?.ok_or_else(invalid)?;
    if !parsed.audience_contains(&state.oidc.config.issuer) {
        return Err(invalid());
    }
    let id = jti(&parsed).ok_or_else(invalid)?;
    let Some((Some(user), false)) = oauth::access_state(&state.pool, id).await? else {
        return Err(invalid());
    };
    if !users::is_active(&state.pool, user).await? {
        return Err(invalid());
    }
    let scopes: Vec<&str> = parsed.str_claim("scope").unwrap_or("").split(' ').collect();
    if !scopes.contains(&"openid") {
        return Err(oauth("insufficient_scope", "the openid scope is required"));
    }
    let mut claims = json!({ "sub": parsed.str_claim("sub").unwrap_or_default() });
    if scopes.contains(&"email") {
        add_email(state, &state.pool, user, &mut claims).await?;
    }
    Ok(claims)
}

/// `/oauth/introspect` (RFC 7662): active only for the calling client's own live tokens.
pub async fn introspect(state: &AppState, client: &Client, token: &str) -> Result<Value, Error> {
    // Discovery offers no `none` method here: a public client proves nothing about itself.
    if client.client_type == ClientType::Public {
        return Err(oauth(
            "invalid_client",
            "introspection needs client authentication",
        ));
    }
    let inactive = json!({ "active": false });
    if let Some(parsed) = access_token(state, token).await? {
        if parsed.str_claim("client_id") != Some(client.client_id.as_str()) {
            return Ok(inactive);
        }
        let Some(id) = jti(&parsed) else {
            return Ok(inactive);
        };
        match oauth::access_state(&state.pool, id).await? {
            Some((_, true)) => return Ok(inactive),
            // A disabled user's tokens are dead, as at userinfo and refresh.
            Some((Some(user), false)) if !users::is_active(&state.pool, user).await? => {
                return Ok(inactive);
            }
            _ => {}
        }
        let mut out = json!({ "active": true, "token_type": "Bearer" });
        for claim in [
            "scope",
            "client_id",
            "sub",
            "exp",
            "iat",
            "iss",
            "aud",
            "jti",
            "auth_time",
            "acr",
        ] {
            if let Some(v) = parsed.claims.get(claim) {
                out[claim] = v.clone();
            }
        }
        return Ok(out);
    }
    let Some((_, _, grant, expires_at, dead)) =
        oauth::peek_refresh(&state.pool, &hash_secret(token)).await?
    else {
        return Ok(inactive);
    };
    if grant.application_id != client.id
        || dead
        || expires_at <= OffsetDateTime::now_utc()
        || !users::is_active(&state.pool, grant.user_id).await?
    {
        return Ok(inactive);
    }
    Ok(json!({
        "active": true, "token_type": "refresh_token", "client_id": client.client_id,
        "scope": grant.scopes.join(" "), "exp": expires_at.unix_timestamp(),
        "sub": subject(client.subject_type, &state.oidc.pairwise, client.id, grant.user_id),
        "iss": state.oidc.config.issuer,
    }))
}

/// `/oauth/revoke` (RFC 7009): revokes the calling client's own token (a refresh token with
/// its whole family); anything else is ignored, as the RFC asks.
pub async fn revoke(
    state: &AppState,
    client: &Client,
    token: &str,
    context: &Context,
) -> Result<(), Error> {
    let now = OffsetDateTime::now_utc();
    let record = |kind: &str| {
        Record::new(
            context,
            Actor::Client(client.id),
            Action::OAuthTokenRevoked,
            Outcome::Success,
        )
        .target("application", client.id)
        .org(client.org_id)
        .detail("token_type", kind.to_owned())
    };
    if let Some(parsed) = access_token(state, token).await? {
        let (Some(id), Some(exp)) = (jti(&parsed), parsed.int_claim("exp")) else {
            return Ok(());
        };
        if parsed.str_claim("client_id") != Some(client.client_id.as_str()) {
            return Ok(());
        }
        let mut tx = state.pool.begin().await?;
        oauth::revoke_access(
            &mut tx,
            &NewAccess {
                jti: id,
                application_id: client.id,
                user_id: None,
                code_id: None,
                family_id: None,
                expires_at: OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now),
            },
            now,
        )
        .await?;
        state
            .audit
            .append(&mut tx, &record("access_token"), now)
            .await?;
        tx.commit().await?;
        return Ok(());
    }
    if let Some((_, family, grant, _, _)) =
        oauth::peek_refresh(&state.pool, &hash_secret(token)).await?
        && grant.application_id == client.id
    {
        let mut tx = state.pool.begin().await?;
        oauth::revoke_family(&mut tx, family, now).await?;
        state
            .audit
            .append(&mut tx, &record("refresh_token"), now)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The query of `/oauth/logout`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogoutQuery {
    /// An ID token we issued to the client (expired ones are accepted).
    pub id_token_hint: Option<String>,
    /// The client (when no hint is given, or to confirm it).
    pub client_id: Option<String>,
    /// Exactly one of the client's registered post-logout redirect URIs.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed back.
    pub state: Option<String>,
}

/// What RP-initiated logout decided.
#[derive(Debug)]
pub struct Logout {
    /// The session to end: only the one the ID token hint names (its `sid`).
    pub end_session: Option<Uuid>,
    /// Where to send the browser, if the client registered it.
    pub redirect: Option<String>,
}

/// RP-initiated logout: the session ends only when a valid `id_token_hint` names it (so a
/// cross-site link cannot log users out); `post_logout_redirect_uri` must match exactly.
pub async fn logout(state: &AppState, q: &LogoutQuery) -> Result<Logout, Error> {
    let hint = match q.id_token_hint.as_deref() {
        Some(token) => Some(
            state
                .oidc
                .keys
                .verify(token)
                .await?
                .filter(|p| {
                    p.str_claim("iss") == Some(state.oidc.config.issuer.as_str())
                        && p.typ() != Some("at+jwt")
                })
                .ok_or_else(|| oauth("invalid_request", "invalid id_token_hint"))?,
        ),
        None => None,
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|p| p.str_claim("aud"))
        .map(str::to_owned);
    let client_id = match (&q.client_id, &hinted_client) {
        (Some(a), Some(b)) if a != b => {
            return Err(oauth(
                "invalid_request",
                "client_id does not match the ID token",
            ));
        }
        (Some(a), _) | (None, Some(a)) => Some(a.clone()),
        (None, None) => None,
    };
    let redirect = match &q.post_logout_redirect_uri {
        None => None,
        Some(uri) => {
            let client = match client_id.as_deref() {
                Some(id) => oauth::client_by_client_id(&state.pool, id).await?,
                None => None,
            };
            let client = client.ok_or_else(|| {
                oauth(
                    "invalid_request",
                    "post_logout_redirect_uri needs a known client",
                )
            })?;
            if !redirect_registered(&client.post_logout_redirect_uris, uri) {
                return Err(oauth(
                    "invalid_request",
                    "post_logout_redirect_uri is not registered for this client",
                ));
            }
            Some(match q.state.as_deref() {
                Some(s) => with_query(uri, &[("state", s)]),
                None => uri.clone(),
            })
        }
    };
    let end_session = hint
        .as_ref()
        .and_then(|p| p.str_claim("sid"))
        .and_then(|s| Uuid::parse_str(s).ok());
    Ok(Logout {
        end_session,
        redirect,
    })
}

/// The discovery document (OpenID Connect Discovery 1.0, RFC 8414).
pub fn discovery(config: &OidcConfig, algorithms: &[Alg]) -> Value {
    let algorithms: Vec<&str> = algorithms.iter().map(|a| a.as_str()).collect();
    json!({
        "issuer": config.issuer,
        "authorization_endpoint": config.url("/oauth/authorize"),
        "token_endpoint": config.url("/oauth/token"),
        "userinfo_endpoint": config.url("/oauth/userinfo"),
        "jwks_uri": config.url("/oauth/jwks"),
        "revocation_endpoint": config.url("/oauth/revoke"),
        "introspection_endpoint": config.url("/oauth/introspect"),
        "end_session_endpoint": config.url("/oauth/logout"),
        "scopes_supported": super::STANDARD_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr",
                             "amr", "sid", "azp", "email", "email_verified"],
        "acr_values_supported": ["urn:permesi:acr:pwd", "urn:permesi:acr:mfa"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    })
}

/// Removes expired authorization requests, codes and access-token records every 10 minutes.
pub fn spawn_purge(pool: sqlx::PgPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_mins(10));
        loop {
            tick.tick().await;
            if let Err(e) = oauth::purge_expired(&pool, OffsetDateTime::now_utc()).await {
                tracing::warn!(error = %e, "oauth purge failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_appended_and_encoded() {
        assert_eq!(
            with_query("https://a.example/cb", &[("code", "x y"), ("state", "s&t")]),
            "https://a.example/cb?code=x+y&state=s%26t"
        );
        assert_eq!(
            with_query("https://a.example/cb?k=v", &[("code", "c")]),
            "https://a.example/cb?k=v&code=c"
        );
    }
}
