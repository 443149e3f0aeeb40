//! The one HTTP path to Vault: request, timeout, status mapping, token handling.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

pub(crate) use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{Endpoint, VaultAuth, validate_path};
use crate::KeysError;

/// Largest Vault answer read (key listings of many versions stay far below).
const MAX_BODY: usize = 1024 * 1024;
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

/// HTTP client for one Vault address; shared by the signer, cipher and secret store.
pub(crate) struct VaultClient {
    http: reqwest::Client,
    /// `<scheme>://<host>/v1/`.
    base: String,
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

fn map_reqwest(e: &reqwest::Error) -> KeysError {
    if e.is_timeout() {
        KeysError::Timeout
    } else if e.is_connect() {
        KeysError::Unavailable(format!("cannot connect to Vault: {e}"))
    } else {
        KeysError::Unavailable(format!("Vault request failed: {e}"))
    }
}

/// Joins Vault's `{"errors":[...]}` into one bounded line.
fn vault_errors(body: &Value) -> String {
    let mut msg = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errs| {
            errs.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    if msg.len() > 256 {
        let mut cut = 256;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
    }
    msg
}

/// The one mapping from an HTTP status to the crate's error.
fn map_status(status: StatusCode, body: Value, path: &str) -> Result<Value, KeysError> {
    if status.is_success() {
        return Ok(body);
    }
    let detail = format!("{path}: {} {}", status.as_u16(), vault_errors(&body));
    let detail = detail.trim_end().to_owned();
    Err(match status {
        StatusCode::BAD_REQUEST => KeysError::Rejected(detail),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => KeysError::Denied(detail),
        StatusCode::NOT_FOUND => KeysError::NotFound(detail),
        s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
            KeysError::Unavailable(detail)
        }
        _ => KeysError::Rejected(detail),
    })
}

fn parse_auth(body: &Value) -> Result<(Zeroizing<String>, Lease), KeysError> {
    let auth = body
        .get("auth")
        .ok_or_else(|| KeysError::Corrupt("Vault auth answer lacks auth".into()))?;
    let token = auth
        .get("client_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| KeysError::Corrupt("Vault auth answer lacks auth.client_token".into()))?;
    let duration = auth
        .get("lease_duration")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let renewable = auth
        .get("renewable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok((
        Zeroizing::new(token.to_owned()),
        Lease {
            duration: Duration::from_secs(duration),
            renewable,
        },
    ))
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
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("permesi-keys/", env!("CARGO_PKG_VERSION")));
        let (builder, base) = match &endpoint {
            Endpoint::Tcp(a) => (builder, format!("{a}/v1/")),
            // The host part is ignored on a Unix socket; Vault Agent does not check it.
            Endpoint::Unix(path) => (
                builder.unix_socket(path.as_path()).no_proxy(),
                "http://localhost/v1/".to_owned(),
            ),
        };
        let http = builder
            .build()
            .map_err(|e| KeysError::Config(format!("cannot build the Vault HTTP client: {e}")))?;
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
                    generation: 0,
                    obtained: Instant::now(),
                }),
                login_lock: tokio::sync::Mutex::new(()),
            }),
        };
        let client = Arc::new(Self {
            http,
            base,
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

    /// One HTTP exchange; `path` is relative to `/v1/`.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<(StatusCode, Value), KeysError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Vault-Request", "true");
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(token)
                .map_err(|_| KeysError::Corrupt("Vault token is not a valid header".into()))?;
            value.set_sensitive(true);
            req = req.header("X-Vault-Token", value);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| map_reqwest(&e))?;
        let status = resp.status();
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(KeysError::Corrupt(format!(
                "{path}: Vault answer too large"
            )));
        }
        let bytes = resp.bytes().await.map_err(|e| map_reqwest(&e))?;
        if bytes.len() > MAX_BODY {
            return Err(KeysError::Corrupt(format!(
                "{path}: Vault answer too large"
            )));
        }
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) if !status.is_success() => Value::Null,
                Err(e) => return Err(KeysError::Corrupt(format!("{path}: Vault answer: {e}"))),
            }
        };
        Ok((status, value))
    }

    fn current_token(&self) -> Option<(Zeroizing<String>, u64, Instant)> {
        match &self.auth {
            Auth::Agent => None,
            Auth::AppRole(a) => {
                let t = match a.token.read() {
                    Ok(t) => t,
                    Err(p) => p.into_inner(),
                };
                Some((t.value.clone(), t.generation, t.obtained))
            }
        }
    }

    /// Calls Vault with the current token and maps the answer. With AppRole, a 403 on a
    /// token older than [`MIN_RELOGIN_INTERVAL`] triggers one new login and one retry.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, KeysError> {
        let token = self.current_token();
        let (status, value) = self
            .raw(
                method.clone(),
                path,
                body,
                token.as_ref().map(|t| t.0.as_str()),
            )
            .await?;
        if status == StatusCode::FORBIDDEN
            && let Some((_, generation, obtained)) = token
            && obtained.elapsed() >= MIN_RELOGIN_INTERVAL
        {
            tracing::info!(
                path,
                "Vault answered 403; logging in again and retrying once"
            );
            self.relogin(generation).await?;
            let token = self.current_token();
            let (status, value) = self
                .raw(method, path, body, token.as_ref().map(|t| t.0.as_str()))
                .await?;
            return map_status(status, value, path);
        }
        map_status(status, value, path)
    }

    /// AppRole login; stores the new token.
    async fn login(&self) -> Result<Lease, KeysError> {
        let Auth::AppRole(a) = &self.auth else {
            return Err(KeysError::Config(
                "no AppRole credentials (Vault Agent mode)".into(),
            ));
        };
        let body = json!({ "role_id": a.role_id, "secret_id": a.secret_id.as_str() });
        let path = format!("auth/{}/login", a.mount);
        let (status, value) = self.raw(Method::POST, &path, Some(&body), None).await?;
        // Vault answers 400 "invalid role or secret ID".
        let value = map_status(status, value, &path).map_err(|e| match e {
            KeysError::Rejected(m) => KeysError::Denied(m),
            other => other,
        })?;
        let (token, lease) = parse_auth(&value)?;
        let mut slot = match a.token.write() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        slot.value = token;
        slot.generation += 1;
        slot.obtained = Instant::now();
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
        if self.current_token().is_some_and(|t| t.1 != seen_generation) {
            return Ok(());
        }
        self.login().await.map(|_| ())
    }

    /// `POST auth/token/renew-self`; keeps the token Vault returns.
    async fn renew(&self) -> Result<Lease, KeysError> {
        let Auth::AppRole(a) = &self.auth else {
            return Err(KeysError::Config(
                "no token to renew (Vault Agent mode)".into(),
            ));
        };
        let value = self
            .call(Method::POST, "auth/token/renew-self", Some(&json!({})))
            .await?;
        let (token, lease) = parse_auth(&value)?;
        let mut slot = match a.token.write() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        if *slot.value != *token {
            slot.value = token;
            slot.generation += 1;
            slot.obtained = Instant::now();
        }
        tracing::debug!(
            lease_secs = lease.duration.as_secs(),
            "renewed the Vault token"
        );
        Ok(lease)
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
        let body = json!({"errors": ["permission denied"]});
        let m = |s: u16| {
            map_status(
                StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
                body.clone(),
                "p",
            )
        };
        assert!(m(200).is_ok());
        assert!(m(204).is_ok());
        assert!(matches!(m(400), Err(KeysError::Rejected(_))));
        assert!(matches!(m(401), Err(KeysError::Denied(_))));
        assert!(matches!(m(403), Err(KeysError::Denied(ref d)) if d.contains("permission denied")));
        assert!(matches!(m(404), Err(KeysError::NotFound(_))));
        assert!(matches!(m(429), Err(KeysError::Unavailable(_))));
        assert!(matches!(m(500), Err(KeysError::Unavailable(_))));
        assert!(matches!(m(503), Err(KeysError::Unavailable(_))));
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
