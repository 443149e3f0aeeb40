//! The one path to Vault: vaultrs API functions over a reqwest client built here
//! (TCP or Vault Agent Unix socket), one timeout, one error mapping, token handling.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use vaultrs::api::AuthInfo;
use vaultrs::client::{Client as _, VaultClient as ApiClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use zeroize::Zeroizing;

use super::{Endpoint, VaultAuth, validate_path};
use crate::KeysError;

/// Shortest wait between two renewals, whatever the lease says.
const MIN_RENEW_WAIT: Duration = Duration::from_millis(100);
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A 403 triggers a new AppRole login only when the current token is older than this,
/// so a policy that denies a path does not turn every request into a login.
const MIN_RELOGIN_INTERVAL: Duration = Duration::from_secs(2);

/// A token's lease as Vault reports it.
#[derive(Debug, Clone, Copy)]
struct Lease {
    duration: Duration,
    renewable: bool,
}

struct Token {
    value: Zeroizing<String>,
    /// A vaultrs client sending `value` as `X-Vault-Token`.
    api: Arc<ApiClient>,
    generation: u64,
    obtained: Instant,
}

struct AppRole {
    mount: String,
    role_id: String,
    secret_id: Zeroizing<String>,
    token: RwLock<Token>,
    login_lock: tokio::sync::Mutex<()>,
}

enum Auth {
    Agent,
    AppRole(AppRole),
}

/// Vault client for one address; shared by the signer, cipher and secret store.
pub(crate) struct VaultClient {
    /// The transport every vaultrs client of this backend uses (TCP or Unix socket).
    http: reqwest::Client,
    /// Base URL given to rustify (`http://localhost` on a Unix socket).
    base: String,
    /// vaultrs client without a token: AppRole login, and every call in Agent mode
    /// (the agent injects the token).
    anonymous: Arc<ApiClient>,
    endpoint: Endpoint,
    auth: Auth,
    renewal: Mutex<Option<tokio::task::AbortHandle>>,
}

impl std::fmt::Debug for VaultClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::Agent => "agent",
            Auth::AppRole(_) => "approle",
        };
        f.debug_struct("VaultClient")
            .field("endpoint", &self.endpoint)
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

impl Drop for VaultClient {
    fn drop(&mut self) {
        if let Ok(mut h) = self.renewal.lock()
            && let Some(h) = h.take()
        {
            h.abort();
        }
    }
}

/// Bounded, one-line form of Vault's `errors` list.
fn join_errors(errors: &[String]) -> String {
    let mut msg = errors.join("; ");
    if msg.len() > 256 {
        let mut cut = 256;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
    }
    msg
}

/// The one mapping from a non-success HTTP status to the crate's error.
fn map_status(code: u16, errors: &[String], what: &str) -> KeysError {
    let detail = format!("{what}: {code} {}", join_errors(errors));
    let detail = detail.trim_end().to_owned();
    match code {
        401 | 403 => KeysError::Denied(detail),
        404 => KeysError::NotFound(detail),
        429 | 500..=599 => KeysError::Unavailable(detail),
        // 400 (invalid request) and any other status.
        _ => KeysError::Rejected(detail),
    }
}

/// Transport failures, as reqwest reports them through rustify.
fn map_transport(source: &(dyn std::error::Error + 'static), what: &str) -> KeysError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(source);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<reqwest::Error>() {
            return if r.is_timeout() {
                KeysError::Timeout
            } else if r.is_connect() {
                KeysError::Unavailable(format!("{what}: cannot connect to Vault: {r}"))
            } else {
                KeysError::Unavailable(format!("{what}: Vault request failed: {r}"))
            };
        }
        cur = e.source();
    }
    KeysError::Unavailable(format!("{what}: Vault request failed: {source}"))
}

/// The one mapping from a vaultrs error to the crate's error.
fn map_err(e: ClientError, what: &str) -> KeysError {
    use rustify::errors::ClientError as Rest;
    match e {
        ClientError::APIError { code, errors } => map_status(code, &errors, what),
        ClientError::RestClientError { source } => match source {
            // An error status whose body is not Vault's `{"errors":[...]}`.
            Rest::ServerResponseError { code, .. } => map_status(code, &[], what),
            Rest::RequestError { source, .. } | Rest::ResponseError { source } => {
                map_transport(source.as_ref(), what)
            }
            Rest::ResponseParseError { .. } | Rest::ResponseConversionError { .. } => {
                KeysError::Corrupt(format!("{what}: Vault answer could not be parsed"))
            }
            other => KeysError::Config(format!("{what}: cannot build the Vault request: {other}")),
        },
        ClientError::JsonParseError { source } => {
            KeysError::Corrupt(format!("{what}: Vault answer: {source}"))
        }
        ClientError::ResponseEmptyError | ClientError::ResponseDataEmptyError => {
            KeysError::Corrupt(format!("{what}: Vault answer lacks data"))
        }
        other => KeysError::Unavailable(format!("{what}: {other}")),
    }
}

/// The HTTP status of a Vault error answer, with or without an `errors` body.
fn status_of(e: &ClientError) -> Option<u16> {
    match e {
        ClientError::APIError { code, .. }
        | ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, .. },
        } => Some(*code),
        _ => None,
    }
}

fn lease_of(auth: &AuthInfo) -> Lease {
    Lease {
        duration: Duration::from_secs(auth.lease_duration),
        renewable: auth.renewable,
    }
}

/// A token goes into a header: refuse anything that is not visible ASCII
/// (vaultrs would panic on it).
fn checked_token(auth: &AuthInfo) -> Result<Zeroizing<String>, KeysError> {
    let t = &auth.client_token;
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KeysError::Corrupt(
            "Vault auth answer: client_token is empty or not a valid header".into(),
        ));
    }
    Ok(Zeroizing::new(t.clone()))
}

impl VaultClient {
    /// Builds the client; with AppRole, logs in and starts the renewal task.
    pub(crate) async fn connect(
        addr: &str,
        auth: VaultAuth,
        timeout: Duration,
    ) -> Result<Arc<Self>, KeysError> {
        if timeout.is_zero() {
            return Err(KeysError::Config(
                "Vault timeout must be greater than zero".into(),
            ));
        }
        let endpoint = Endpoint::parse(addr)?;
        // reqwest is built without a bundled crypto provider; use ring unless the
        // process already installed one (an error here means one is installed).
        let _ = rustls::crypto::ring::default_provider().install_default();

        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("permesi-keys/", env!("CARGO_PKG_VERSION")));
        let (builder, base) = match &endpoint {
            // https: rustls with the system trust store (rustls-platform-verifier).
            Endpoint::Tcp(a) if a.starts_with("https://") => (builder, a.clone()),
            // Plain http needs no roots: do not load (or require) the system's.
            Endpoint::Tcp(a) => (builder.tls_certs_only(Vec::new()), a.clone()),
            // The host part is ignored on a Unix socket; Vault Agent does not check it.
            Endpoint::Unix(path) => (
                builder
                    .unix_socket(path.as_path())
                    .no_proxy()
                    .tls_certs_only(Vec::new()),
                "http://localhost".to_owned(),
            ),
        };
        reqwest::Url::parse(&base)
            .map_err(|e| KeysError::Config(format!("Vault address {addr:?}: {e}")))?;
        let http = builder
            .build()
            .map_err(|e| KeysError::Config(format!("cannot build the Vault HTTP client: {e}")))?;

        // Every setting given explicitly, so that VAULT_* variables of the environment
        // (VAULT_TOKEN above all: Agent mode sends no token) do not leak in.
        let settings = VaultClientSettingsBuilder::default()
            .address(&base)
            .token("")
            .ca_certs(Vec::new())
            .identity(None)
            .verify(true)
            .namespace(None)
            .timeout(Some(timeout))
            .build()
            .map_err(|e| KeysError::Config(format!("Vault client settings: {e}")))?;
        let mut anonymous = ApiClient::new(settings)
            .map_err(|e| KeysError::Config(format!("cannot build the Vault client: {e}")))?;
        // vaultrs's own HTTP client cannot reach a Unix socket: swap in ours.
        anonymous.http = rustify::clients::reqwest::Client::new(&base, http.clone());
        let anonymous = Arc::new(anonymous);

        let auth = match auth {
            VaultAuth::Agent => Auth::Agent,
            VaultAuth::AppRole {
                mount,
                role_id,
                secret_id,
            } => Auth::AppRole(AppRole {
                mount: validate_path("approle mount", &mount, false)?,
                role_id,
                secret_id: Zeroizing::new(secret_id),
                token: RwLock::new(Token {
                    value: Zeroizing::new(String::new()),
                    api: Arc::clone(&anonymous),
                    generation: 0,
                    obtained: Instant::now(),
                }),
                login_lock: tokio::sync::Mutex::new(()),
            }),
        };
        let client = Arc::new(Self {
            http,
            base,
            anonymous,
            endpoint,
            auth,
            renewal: Mutex::new(None),
        });
        if matches!(client.auth, Auth::AppRole(_)) {
            let lease = client.login().await?;
            let task = tokio::spawn(renewal_loop(Arc::downgrade(&client), lease));
            if let Ok(mut slot) = client.renewal.lock() {
                *slot = Some(task.abort_handle());
            }
        }
        Ok(client)
    }

    /// A vaultrs client on the shared transport that sends `token`.
    fn api_with_token(&self, token: &str) -> ApiClient {
        let mut api = ApiClient {
            http: rustify::clients::reqwest::Client::new(&self.base, self.http.clone()),
            middle: self.anonymous.middle.clone(),
            settings: self.anonymous.settings.clone(),
        };
        api.set_token(token);
        api
    }

    /// The vaultrs client to use now, with its token's generation and age (AppRole).
    fn current(&self) -> (Arc<ApiClient>, Option<(u64, Instant)>) {
        match &self.auth {
            Auth::Agent => (Arc::clone(&self.anonymous), None),
            Auth::AppRole(a) => {
                let t = match a.token.read() {
                    Ok(t) => t,
                    Err(p) => p.into_inner(),
                };
                (Arc::clone(&t.api), Some((t.generation, t.obtained)))
            }
        }
    }

    /// Runs one vaultrs call (`op`, given the client to use) and maps its error. With
    /// AppRole, a 403 on a token older than [`MIN_RELOGIN_INTERVAL`] triggers one new
    /// login and one retry.
    pub(crate) async fn call<T, F, Fut>(&self, what: &str, op: F) -> Result<T, KeysError>
    where
        F: Fn(Arc<ApiClient>) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let (api, token) = self.current();
        match op(api).await {
            Ok(v) => Ok(v),
            Err(e)
                if status_of(&e) == Some(403)
                    && token.is_some_and(|(_, obtained)| {
                        obtained.elapsed() >= MIN_RELOGIN_INTERVAL
                    }) =>
            {
                tracing::info!(
                    what,
                    "Vault answered 403; logging in again and retrying once"
                );
                if let Some((generation, _)) = token {
                    self.relogin(generation).await?;
                }
                let (api, _) = self.current();
                op(api).await.map_err(|e| map_err(e, what))
            }
            Err(e) => Err(map_err(e, what)),
        }
    }

    /// Stores a token Vault issued (login or renewal).
    fn store_token(a: &AppRole, token: Zeroizing<String>, api: ApiClient, always: bool) {
        let mut slot = match a.token.write() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        if always || *slot.value != *token {
            slot.value = token;
            slot.api = Arc::new(api);
            slot.generation += 1;
            slot.obtained = Instant::now();
        }
    }

    /// AppRole login (`vaultrs::auth::approle::login`, sent without a token); stores
    /// the new token.
    async fn login(&self) -> Result<Lease, KeysError> {
        let Auth::AppRole(a) = &self.auth else {
            return Err(KeysError::Config(
                "no AppRole credentials (Vault Agent mode)".into(),
            ));
        };
        let what = format!("auth/{}/login", a.mount);
        let info = vaultrs::auth::approle::login(
            self.anonymous.as_ref(),
            &a.mount,
            &a.role_id,
            a.secret_id.as_str(),
        )
        .await
        // Vault answers 400 "invalid role or secret ID".
        .map_err(|e| match map_err(e, &what) {
            KeysError::Rejected(m) => KeysError::Denied(m),
            other => other,
        })?;
        let token = checked_token(&info)?;
        let lease = lease_of(&info);
        let api = self.api_with_token(&token);
        Self::store_token(a, token, api, true);
        tracing::debug!(
            lease_secs = lease.duration.as_secs(),
            "logged in to Vault with AppRole"
        );
        Ok(lease)
    }

    /// Logs in again unless another task already did since `seen_generation`.
    async fn relogin(&self, seen_generation: u64) -> Result<(), KeysError> {
        let Auth::AppRole(a) = &self.auth else {
            return Ok(());
        };
        let _guard = a.login_lock.lock().await;
        if self
            .current()
            .1
            .is_some_and(|(generation, _)| generation != seen_generation)
        {
            return Ok(());
        }
        self.login().await.map(|_| ())
    }

    /// `vaultrs::token::renew_self`; keeps the token Vault returns.
    async fn renew(&self) -> Result<Lease, KeysError> {
        let Auth::AppRole(a) = &self.auth else {
            return Err(KeysError::Config(
                "no token to renew (Vault Agent mode)".into(),
            ));
        };
        let info = self
            .call("auth/token/renew-self", |api| async move {
                vaultrs::token::renew_self(api.as_ref(), None).await
            })
            .await?;
        let token = checked_token(&info)?;
        let lease = lease_of(&info);
        let api = self.api_with_token(&token);
        Self::store_token(a, token, api, false);
        tracing::debug!(
            lease_secs = lease.duration.as_secs(),
            "renewed the Vault token"
        );
        Ok(lease)
    }

    /// `vaultrs::token::lookup_self`: the token (or the agent's) is valid.
    pub(crate) async fn lookup_self(&self) -> Result<(), KeysError> {
        self.call("auth/token/lookup-self", |api| async move {
            vaultrs::token::lookup_self(api.as_ref()).await
        })
        .await
        .map(|_| ())
    }
}

#[async_trait::async_trait]
impl crate::TokenPolicies for VaultClient {
    async fn policies_of(&self, token: &str) -> Result<Vec<String>, KeysError> {
        const WHAT: &str = "auth/token/lookup-self";
        let api = self.api_with_token(token);
        // The shared transport carries the backend's timeout.
        let info = vaultrs::token::lookup_self(&api)
            .await
            .map_err(|e| map_err(e, WHAT))?;
        let mut policies = info.policies;
        policies.extend(info.identity_policies.unwrap_or_default());
        Ok(policies)
    }
}

fn renew_wait(lease: Lease) -> Option<Duration> {
    (!lease.duration.is_zero()).then(|| (lease.duration * 2 / 3).max(MIN_RENEW_WAIT))
}

/// Keeps the AppRole token alive: renew at two thirds of the lease; log in again when the
/// token is not renewable, renewal fails, or the renewed lease is cut short by the max TTL.
/// Ends when the client is dropped (it holds only a weak reference) or the token has no TTL.
async fn renewal_loop(weak: Weak<VaultClient>, first: Lease) {
    let mut lease = first;
    let mut login_ttl = first.duration;
    let mut backoff = INITIAL_BACKOFF;
    let Some(mut wait) = renew_wait(lease) else {
        return;
    };
    loop {
        tokio::time::sleep(wait).await;
        let Some(client) = weak.upgrade() else {
            return;
        };
        let renewed = if lease.renewable {
            client.renew().await
        } else {
            Err(KeysError::Denied("token is not renewable".into()))
        };
        let next = match renewed {
            Ok(l) if l.duration * 2 >= login_ttl => Ok(l),
            Ok(_) => {
                tracing::debug!("Vault token near its max TTL; logging in again");
                client.login().await.inspect(|l| login_ttl = l.duration)
            }
            Err(e) => {
                tracing::info!(error = %e, "Vault token not renewed; logging in again");
                client.login().await.inspect(|l| login_ttl = l.duration)
            }
        };
        drop(client);
        match next {
            Ok(l) => {
                lease = l;
                backoff = INITIAL_BACKOFF;
                match renew_wait(lease) {
                    Some(w) => wait = w,
                    None => return,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "Vault AppRole login failed");
                wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        let errors = vec!["permission denied".to_owned()];
        let m = |code: u16| {
            map_err(
                ClientError::APIError {
                    code,
                    errors: errors.clone(),
                },
                "p",
            )
        };
        assert!(matches!(m(400), KeysError::Rejected(_)));
        assert!(matches!(m(401), KeysError::Denied(_)));
        assert!(matches!(m(403), KeysError::Denied(ref d) if d.contains("permission denied")));
        assert!(matches!(m(404), KeysError::NotFound(_)));
        assert!(matches!(m(429), KeysError::Unavailable(_)));
        assert!(matches!(m(500), KeysError::Unavailable(_)));
        assert!(matches!(m(503), KeysError::Unavailable(_)));
        let plain = map_err(
            ClientError::RestClientError {
                source: rustify::errors::ClientError::ServerResponseError {
                    code: 502,
                    content: Some("<html>bad gateway</html>".into()),
                },
            },
            "p",
        );
        assert!(matches!(plain, KeysError::Unavailable(ref d) if d.contains("502")));
        assert!(matches!(
            map_err(ClientError::ResponseDataEmptyError, "p"),
            KeysError::Corrupt(_)
        ));
    }

    #[test]
    fn renew_schedule() {
        let l = |s| Lease {
            duration: Duration::from_secs(s),
            renewable: true,
        };
        assert_eq!(renew_wait(l(0)), None);
        assert_eq!(renew_wait(l(3)), Some(Duration::from_secs(2)));
        assert_eq!(renew_wait(l(3600)), Some(Duration::from_mins(40)));
    }
}
