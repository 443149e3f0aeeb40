//! The admission gate: every auth POST requires a genesis admission token.
//!
//! The token travels in one header, [`ADMISSION_TOKEN`] (`x-permesi-admission`). [`Gate::check`]
//! runs, in this order:
//! 1. the header is present once, visible ASCII, and no longer than the verifier's bound;
//! 2. offline verification with [`admission_token::TokenVerifier`] against the configured PASERK
//!    keyset (URL, file or inline JSON): signature, `iss`, `aud`, `action`, time claims, TTL;
//! 3. single use of the `jti` for the rest of the token's life plus leeway, in Valkey
//!    (`SET NX PX`, key prefix [`REPLAY_PREFIX`]) or in memory without it.
//!
//! Nothing here calls genesis: a URL keyset is fetched once (call [`Gate::preload`] at start-up)
//! and then cached, refreshed only on its TTL or, at most once per cooldown, on an unknown kid.
//! The gate fails closed: an unavailable keyset or replay store is a 503, never a pass.
//!
//! [`require`] wraps [`Gate::check`] as a route layer; handlers take [`Admitted`] as an
//! extractor. [`GateError`] maps every refusal to `application/problem+json` in one place. The
//! token itself is never logged: at most the verifier's code and the `jti`.

use std::{future::Future, pin::Pin, sync::Arc};

use admission_token::{
    Clock, DEFAULT_LEEWAY, DEFAULT_MAX_TTL, Jti, KeysetSource, SystemClock, TokenVerifier,
    VerifierConfig, VerifyError,
};
use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::{FromFnLayer, Next, from_fn_with_state},
    response::{IntoResponse, Response},
};
use server::{
    Problem,
    backends::Cache,
    middleware::ADMISSION_TOKEN,
    replay::{ReplayError, ReplayGuard},
};
use time::{Duration, OffsetDateTime};

/// Key prefix of used `jti`s in Valkey.
pub const REPLAY_PREFIX: &str = "permesi:jti:";

/// Seconds a client is asked to wait after a 503 from the gate.
const RETRY_AFTER_SECS: &str = "5";

/// What the gate expects of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateConfig {
    /// Expected `iss` (genesis's configured issuer).
    pub issuer: String,
    /// Expected `aud` (this permesi deployment).
    pub audience: String,
    /// Clock leeway for `exp`, `nbf` and `iat`; also added to the replay record's lifetime.
    pub leeway: Duration,
    /// Longest accepted `exp - iat`.
    pub max_ttl: Duration,
}

impl GateConfig {
    /// `issuer` and `audience` with the default leeway (30 s) and maximum TTL (10 min).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: DEFAULT_LEEWAY,
            max_ttl: DEFAULT_MAX_TTL,
        }
    }
}

/// A request that passed the gate, in the request's extensions (and an extractor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The token id, now spent.
    pub jti: Jti,
    /// The action the token admitted (the route's action).
    pub action: String,
    /// When the token expires.
    pub expires_at: OffsetDateTime,
}

/// Why the gate refused a request. [`GateError::code`] is stable and goes on the wire.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// No admission header.
    #[error("admission token required")]
    Missing,
    /// The token failed verification (malformed, bad signature, unknown kid, foreign issuer or
    /// audience, expired, not yet valid, lifetime too long). Carries the verifier's reason.
    #[error("invalid admission token: {0}")]
    Invalid(VerifyError),
    /// A valid token for another action.
    #[error("admission token is for another action")]
    WrongAction,
    /// The token's `jti` was already used.
    #[error("admission token already used")]
    Replayed,
    /// The keyset could not be loaded: nothing is admitted.
    #[error("admission keyset unavailable")]
    KeysetUnavailable,
    /// The replay store did not answer: nothing is admitted.
    #[error("admission replay store unavailable: {0}")]
    ReplayStore(#[source] ReplayError),
}

impl GateError {
    /// Stable ASCII code, the problem's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "admission_required",
            Self::Invalid(_) => "admission_invalid",
            Self::WrongAction => "admission_wrong_action",
            Self::Replayed => "admission_replayed",
            Self::KeysetUnavailable | Self::ReplayStore(_) => "admission_unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Invalid(_) | Self::Replayed => StatusCode::UNAUTHORIZED,
            Self::WrongAction => StatusCode::FORBIDDEN,
            Self::KeysetUnavailable | Self::ReplayStore(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The problem details: fixed title, and a fixed non-secret detail (the verifier's code for
    /// an invalid token).
    pub fn problem(&self) -> Problem {
        let (title, detail) = match self {
            Self::Missing => (
                "Admission token required",
                "send a genesis admission token in the x-permesi-admission header",
            ),
            Self::Invalid(e) => ("Invalid admission token", e.code()),
            Self::WrongAction => (
                "Admission token is for another action",
                "request a token for this endpoint's action",
            ),
            Self::Replayed => (
                "Admission token already used",
                "an admission token is accepted once",
            ),
            Self::KeysetUnavailable => ("Admission unavailable", "keyset_unavailable"),
            Self::ReplayStore(_) => ("Admission unavailable", "replay_store_unavailable"),
        };
        Problem::new(self.status(), self.code(), title).with_detail(detail)
    }

    fn from_verify(e: VerifyError) -> Self {
        match e {
            VerifyError::WrongAction => Self::WrongAction,
            VerifyError::KeysetUnavailable => Self::KeysetUnavailable,
            other => Self::Invalid(other),
        }
    }
}

impl IntoResponse for GateError {
    fn into_response(self) -> Response {
        let unavailable = self.status() == StatusCode::SERVICE_UNAVAILABLE;
        let mut response = self.problem().into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if unavailable {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// The gate: verifier and replay guard. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    verifier: TokenVerifier,
    replay: ReplayGuard,
    clock: Arc<dyn Clock>,
    leeway: Duration,
    max_token_len: usize,
}

impl Gate {
    /// A gate over `source` (build a URL source with the same clock it will be used with;
    /// [`SystemClock`] here) recording spent `jti`s in `replay` (see [`Gate::replay_guard`]).
    pub fn new(config: GateConfig, source: KeysetSource, replay: ReplayGuard) -> Self {
        Self::with_clock(config, source, replay, Arc::new(SystemClock))
    }

    /// [`Gate::new`] with an injected clock.
    pub fn with_clock(
        config: GateConfig,
        source: KeysetSource,
        replay: ReplayGuard,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let GateConfig {
            issuer,
            audience,
            leeway,
            max_ttl,
        } = config;
        let verifier_config = VerifierConfig {
            leeway,
            max_ttl,
            ..VerifierConfig::new(issuer, audience)
        };
        let max_token_len = verifier_config.max_token_len;
        Self {
            inner: Arc::new(Inner {
                verifier: TokenVerifier::new(verifier_config, source, Arc::clone(&clock)),
                replay,
                clock,
                leeway,
                max_token_len,
            }),
        }
    }

    /// The replay guard for the gate: shared in Valkey under [`REPLAY_PREFIX`] when a cache is
    /// configured, in this process's memory otherwise (one replica only).
    pub fn replay_guard(cache: Option<Cache>) -> ReplayGuard {
        match cache {
            Some(client) => ReplayGuard::Redis {
                client,
                prefix: REPLAY_PREFIX,
            },
            None => ReplayGuard::memory(),
        }
    }

    /// Loads the keyset now (a URL source fetches it once), so that start-up fails fast and no
    /// request waits on genesis.
    pub async fn preload(&self) -> Result<(), GateError> {
        self.inner
            .verifier
            .source()
            .current()
            .await
            .map(|_| ())
            .map_err(|_| GateError::KeysetUnavailable)
    }

    /// Admits a request for `action`, or says why not. A token is spent only once it has
    /// verified for this action.
    pub async fn check(&self, headers: &HeaderMap, action: &str) -> Result<Admitted, GateError> {
        let token = self.token(headers)?;
        let verified = self
            .inner
            .verifier
            .verify(token, action)
            .await
            .map_err(GateError::from_verify)?;
        let jti = verified.jti().as_str();
        let ttl = verified.replay_ttl(self.inner.clock.now(), self.inner.leeway);
        let ttl = std::time::Duration::try_from(ttl).unwrap_or(std::time::Duration::from_secs(1));
        if !self
            .inner
            .replay
            .first_use(&replay_id(jti), ttl)
            .await
            .map_err(GateError::ReplayStore)?
        {
            return Err(GateError::Replayed);
        }
        Ok(Admitted {
            jti: verified.jti().clone(),
            action: verified.claims.action.clone(),
            expires_at: verified.expires_at(),
        })
    }

    /// Step 1: exactly one header value, bounded, visible ASCII.
    fn token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h str, GateError> {
        let mut values = headers.get_all(ADMISSION_TOKEN).iter();
        let value = values.next().ok_or(GateError::Missing)?;
        if values.next().is_some() {
            return Err(GateError::Invalid(VerifyError::Malformed));
        }
        if value.len() > self.inner.max_token_len {
            return Err(GateError::Invalid(VerifyError::TooLarge));
        }
        value
            .to_str()
            .map_err(|_| GateError::Invalid(VerifyError::Malformed))
    }
}

/// The replay-store id of a `jti`: its 22 base64url characters, zero-padded to 32 bytes (the
/// verifier has checked the shape, so the mapping is one-to-one).
fn replay_id(jti: &str) -> [u8; 32] {
    let mut id = [0u8; 32];
    let n = jti.len().min(id.len());
    id[..n].copy_from_slice(&jti.as_bytes()[..n]);
    id
}

/// The state of one [`require`] layer: the gate and the route's action.
#[derive(Debug, Clone)]
pub struct Requirement {
    gate: Gate,
    action: &'static str,
}

/// The future a [`require`] layer runs per request.
pub type GateFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// The middleware function behind [`require`].
pub type GateFn = fn(State<Requirement>, Request, Next) -> GateFuture;

/// The layer [`require`] returns, for `route_layer`.
pub type RequireLayer = FromFnLayer<GateFn, Requirement, (State<Requirement>, Request)>;

/// A route layer admitting only requests with a token for `action`: it answers a refusal
/// itself and puts [`Admitted`] into the request extensions otherwise.
///
/// ```ignore
/// .route("/v1/auth/signup/start", post(start).route_layer(require(gate, "signup")))
/// ```
pub fn require(gate: Gate, action: &'static str) -> RequireLayer {
    from_fn_with_state(Requirement { gate, action }, gate_middleware as GateFn)
}

fn gate_middleware(
    State(requirement): State<Requirement>,
    mut request: Request,
    next: Next,
) -> GateFuture {
    Box::pin(async move {
        let Requirement { gate, action } = requirement;
        match gate.check(request.headers(), action).await {
            Ok(admitted) => {
                tracing::debug!(action, jti = %admitted.jti, "admitted");
                request.extensions_mut().insert(admitted);
                next.run(request).await
            }
            Err(error) => {
                log_refusal(&error, action);
                error.into_response()
            }
        }
    })
}

/// One line per refusal: the codes, never the token.
fn log_refusal(error: &GateError, action: &str) {
    let code = error.code();
    match error {
        GateError::Invalid(e) => tracing::info!(action, code, reason = e.code(), "refused"),
        GateError::ReplayStore(e) => tracing::error!(action, code, error = %e, "refused"),
        GateError::KeysetUnavailable => tracing::error!(action, code, "refused"),
        _ => tracing::info!(action, code, "refused"),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admitted {
    type Rejection = Problem;

    /// The [`Admitted`] left by [`require`]. Without the layer the handler is refused (500):
    /// a route that forgot its gate fails closed.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            tracing::error!("handler requires admission but the route has no admission gate");
            Problem::from_status(StatusCode::INTERNAL_SERVER_ERROR)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use admission_token::{CacheOptions, Claims, Keyset, KeysetSource, SystemClock, mint};
    use axum::{
        Router,
        body::Body,
        http::{HeaderValue, Request, StatusCode, header},
        routing::post,
    };
    use genesis::config::Settings;
    use serde_json::{Value, json};
    use server::{
        cli::Service as _, metrics::Metrics, middleware::ADMISSION_TOKEN, replay::ReplayGuard,
    };
    use testkit::TestServer;
    use time::{Duration, OffsetDateTime};
    use tower::ServiceExt as _;

    use super::{Admitted, Gate, GateConfig, REPLAY_PREFIX, require};

    /// A genesis served in-process, with cheap work, no database, no Redis.
    struct Genesis {
        server: TestServer,
        metrics: Arc<Metrics>,
        _keys: tempfile::TempDir,
    }

    impl Genesis {
        async fn start() -> Self {
            let keys = tempfile::tempdir().unwrap();
            let settings = Settings {
                database_url: None,
                redis_url: None,
                keys_dir: keys.path().join("keys"),
                pow_actions: "signup:4,login:4".to_owned(),
                rate_limit_per_ip: 1000.0,
                rate_limit_per_ip_burst: 1000.0,
                rate_limit_global: 10_000.0,
                rate_limit_global_burst: 10_000.0,
                ..Settings::default()
            };
            let app = genesis::Genesis::build(settings)
                .await
                .expect("genesis starts");
            Self {
                server: TestServer::start(app.router).await,
                metrics: app.metrics,
                _keys: keys,
            }
        }

        /// Challenge, proof of work, admission: a real token for `action`.
        async fn token(&self, action: &str) -> String {
            testkit::admission_token(&self.server.url(""), action).await
        }

        fn keyset(&self) -> KeysetSource {
            KeysetSource::url(
                &self.server.url("/paserk.json"),
                CacheOptions::default(),
                Arc::new(SystemClock),
            )
            .unwrap()
        }

        /// Requests genesis has served on `/paserk.json`, from its own metrics.
        fn keyset_fetches(&self) -> u64 {
            self.metrics
                .render()
                .lines()
                .filter(|l| l.starts_with("genesis_http_requests_total{"))
                .filter(|l| l.contains(r#"route="/paserk.json""#))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
                .sum()
        }
    }

    fn config() -> GateConfig {
        GateConfig::new("genesis", "permesi")
    }

    /// One POST route per action behind the gate; the handler echoes what it was admitted for.
    fn app(gate: &Gate) -> Router {
        async fn handler(admitted: Admitted) -> axum::Json<Value> {
            axum::Json(json!({ "action": admitted.action, "jti": admitted.jti.as_str() }))
        }
        Router::new()
            .route(
                "/signup",
                post(handler).route_layer(require(gate.clone(), "signup")),
            )
            .route(
                "/login",
                post(handler).route_layer(require(gate.clone(), "login")),
            )
    }

    async fn call(app: &Router, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::post(path);
        if let Some(token) = token {
            request = request.header(ADMISSION_TOKEN, token);
        }
        send(app, request.body(Body::empty()).unwrap()).await
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        if !status.is_success() {
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
        }
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    fn assert_problem(got: &(StatusCode, Value), status: StatusCode, code: &str) {
        assert_eq!(got.0, status, "{}", got.1);
        assert_eq!(got.1["code"], code, "{}", got.1);
        assert_eq!(got.1["status"], status.as_u16());
    }

    #[tokio::test]
    async fn a_real_token_is_admitted_once_for_its_action() {
        let genesis = Genesis::start().await;
        let gate = Gate::new(config(), genesis.keyset(), ReplayGuard::memory());
        let app = app(&gate);
        let token = genesis.token("signup").await;

        let (status, body) = call(&app, "/signup", Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["action"], "signup");
        assert_eq!(body["jti"].as_str().unwrap().len(), 22);

        let again = call(&app, "/signup", Some(&token)).await;
        assert_problem(&again, StatusCode::UNAUTHORIZED, "admission_replayed");
    }

    #[tokio::test]
    async fn missing_garbage_and_oversized_headers_are_refused() {
        let genesis = Genesis::start().await;
        let gate = Gate::new(config(), genesis.keyset(), ReplayGuard::memory());
        let app = app(&gate);

        let missing = call(&app, "/signup", None).await;
        assert_problem(&missing, StatusCode::UNAUTHORIZED, "admission_required");

        let garbage = call(&app, "/signup", Some("not-a-token")).await;
        assert_problem(&garbage, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(garbage.1["detail"], "unsupported_header");

        let local = call(&app, "/signup", Some("v4.local.AAAA")).await;
        assert_problem(&local, StatusCode::UNAUTHORIZED, "admission_invalid");

        let broken = call(&app, "/signup", Some("v4.public.!!!.???")).await;
        assert_problem(&broken, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(broken.1["detail"], "malformed");

        // Boundary: 2048 bytes reach the verifier, 2049 are refused before parsing.
        let at_limit = format!("v4.public.{}", "A".repeat(2048 - 10));
        let at = call(&app, "/signup", Some(&at_limit)).await;
        assert_problem(&at, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(at.1["detail"], "malformed");
        let over = format!("{at_limit}A");
        let over = call(&app, "/signup", Some(&over)).await;
        assert_problem(&over, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(over.1["detail"], "too_large");

        // Not visible ASCII.
        let request = Request::post("/signup")
            .header(
                ADMISSION_TOKEN,
                HeaderValue::from_bytes(b"v4.public.\xff").unwrap(),
            )
            .body(Body::empty())
            .unwrap();
        let non_ascii = send(&app, request).await;
        assert_problem(&non_ascii, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(non_ascii.1["detail"], "malformed");

        // Two tokens in one request: ambiguous, refused even when one is valid, and the valid
        // one is not spent.
        let token = genesis.token("signup").await;
        let request = Request::post("/signup")
            .header(ADMISSION_TOKEN, &token)
            .header(ADMISSION_TOKEN, &token)
            .body(Body::empty())
            .unwrap();
        let doubled = send(&app, request).await;
        assert_problem(&doubled, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(call(&app, "/signup", Some(&token)).await.0, StatusCode::OK);

        // A tampered valid token (one payload character changed) fails its signature.
        let token = genesis.token("signup").await;
        let mut bytes = token.clone().into_bytes();
        let i = "v4.public.".len() + 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let tampered = call(&app, "/signup", Some(&tampered)).await;
        assert_problem(&tampered, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(tampered.1["detail"], "bad_signature");
    }

    #[tokio::test]
    async fn a_token_for_another_action_is_forbidden_and_not_spent() {
        let genesis = Genesis::start().await;
        let gate = Gate::new(config(), genesis.keyset(), ReplayGuard::memory());
        let app = app(&gate);
        let token = genesis.token("login").await;

        let wrong = call(&app, "/signup", Some(&token)).await;
        assert_problem(&wrong, StatusCode::FORBIDDEN, "admission_wrong_action");

        let (status, body) = call(&app, "/login", Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["action"], "login");
    }

    #[tokio::test]
    async fn tokens_from_another_genesis_or_for_another_audience_are_invalid() {
        let genesis = Genesis::start().await;
        let other = Genesis::start().await;
        let app_ours = app(&Gate::new(
            config(),
            genesis.keyset(),
            ReplayGuard::memory(),
        ));

        let foreign = other.token("signup").await;
        let refused = call(&app_ours, "/signup", Some(&foreign)).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(refused.1["detail"], "unknown_kid");

        let token = genesis.token("signup").await;
        let other_audience = app(&Gate::new(
            GateConfig::new("genesis", "permesi-staging"),
            genesis.keyset(),
            ReplayGuard::memory(),
        ));
        let refused = call(&other_audience, "/signup", Some(&token)).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(refused.1["detail"], "wrong_audience");

        let other_issuer = app(&Gate::new(
            GateConfig::new("genesis-eu", "permesi"),
            genesis.keyset(),
            ReplayGuard::memory(),
        ));
        let refused = call(&other_issuer, "/signup", Some(&token)).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(refused.1["detail"], "wrong_issuer");

        // Refusals spend nothing: the token is still good where it belongs.
        assert_eq!(
            call(&app_ours, "/signup", Some(&token)).await.0,
            StatusCode::OK
        );
    }

    /// A local signer and the inline keyset of its versions, for claims genesis would never
    /// sign (times in the past or future, long lifetimes).
    struct LocalMint {
        backend: keys::KeyBackend,
        public_key: [u8; 32],
        _dir: tempfile::TempDir,
    }

    impl LocalMint {
        async fn open() -> (Self, KeysetSource) {
            let dir = tempfile::tempdir().unwrap();
            let backend = keys::KeyBackend::open(keys::BackendConfig::Local(keys::LocalConfig {
                dir: dir.path().join("keys"),
                signing_key: "test".to_owned(),
                encryption_key: "test".to_owned(),
            }))
            .await
            .unwrap();
            let versions = backend.signer().versions().await.unwrap();
            let keyset = Keyset::from_versions(&versions, 1, None).unwrap();
            let source = KeysetSource::inline(&keyset.to_json()).unwrap();
            let public_key = versions[0].public_key;
            (
                Self {
                    backend,
                    public_key,
                    _dir: dir,
                },
                source,
            )
        }

        async fn token(&self, starts: OffsetDateTime, ttl: Duration) -> String {
            let claims = Claims::new(
                "genesis",
                "permesi",
                "signup",
                starts,
                ttl,
                &mut rand::rngs::OsRng,
            )
            .unwrap();
            mint(&*self.backend.signer(), 1, &self.public_key, &claims)
                .await
                .unwrap()
        }
    }

    #[tokio::test]
    async fn expired_future_and_overlong_tokens_are_invalid() {
        let (local, source) = LocalMint::open().await;
        let app = app(&Gate::new(config(), source, ReplayGuard::memory()));
        let now = OffsetDateTime::now_utc();
        let two_minutes = Duration::minutes(2);

        // Control: the same signer and keyset admit a current token.
        let fresh = local.token(now, two_minutes).await;
        assert_eq!(call(&app, "/signup", Some(&fresh)).await.0, StatusCode::OK);

        let cases = [
            // Expired well beyond the 30 s leeway.
            (now - Duration::minutes(10), two_minutes, "expired"),
            // Valid from five minutes from now, beyond the leeway.
            (now + Duration::minutes(5), two_minutes, "not_yet_valid"),
            (now, Duration::minutes(11), "ttl_too_long"),
        ];
        for (starts, ttl, reason) in cases {
            let token = local.token(starts, ttl).await;
            let refused = call(&app, "/signup", Some(&token)).await;
            assert_problem(&refused, StatusCode::UNAUTHORIZED, "admission_invalid");
            assert_eq!(refused.1["detail"], reason);
        }

        // Leeway boundary: expired 20 s ago is still admitted, 40 s ago is not.
        let within = local
            .token(now - Duration::seconds(80), Duration::minutes(1))
            .await;
        assert_eq!(call(&app, "/signup", Some(&within)).await.0, StatusCode::OK);
        let beyond = local
            .token(now - Duration::seconds(100), Duration::minutes(1))
            .await;
        let refused = call(&app, "/signup", Some(&beyond)).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED, "admission_invalid");
        assert_eq!(refused.1["detail"], "expired");
    }

    #[tokio::test]
    async fn replay_is_refused_across_replicas_sharing_redis() {
        let redis = server::backends::connect_cache(&testkit::redis_url().into())
            .await
            .expect("the test Redis (bash /tmp/testenv.sh)");
        let genesis = Genesis::start().await;
        let replica = |cache| {
            app(&Gate::new(
                config(),
                genesis.keyset(),
                Gate::replay_guard(cache),
            ))
        };
        let (a, b) = (replica(Some(redis.clone())), replica(Some(redis.clone())));
        let token = genesis.token("signup").await;

        let (status, body) = call(&a, "/signup", Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for app in [&a, &b] {
            let again = call(app, "/signup", Some(&token)).await;
            assert_problem(&again, StatusCode::UNAUTHORIZED, "admission_replayed");
        }

        // The record lives under permesi's prefix for the token's remaining life plus leeway
        // (genesis's default TTL is 120 s; leeway 30 s).
        let jti = body["jti"].as_str().unwrap();
        let hex = server::to_hex(&super::replay_id(jti));
        let key = format!("{REPLAY_PREFIX}{hex}");
        let pttl: i64 = fred::interfaces::KeysInterface::pttl(&redis, &key)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= 150_000, "{key}: {pttl}");
    }

    #[tokio::test]
    async fn the_gate_fails_closed_when_the_keyset_or_replay_store_is_unavailable() {
        // Nothing listens on the keyset URL.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let unreachable = KeysetSource::url(
            &format!("http://127.0.0.1:{port}/paserk.json"),
            CacheOptions::default(),
            Arc::new(SystemClock),
        )
        .unwrap();
        let gate = Gate::new(config(), unreachable, ReplayGuard::memory());
        assert_eq!(
            gate.preload().await.unwrap_err().code(),
            "admission_unavailable"
        );
        let (local, source) = LocalMint::open().await;
        let token = local
            .token(OffsetDateTime::now_utc(), Duration::minutes(2))
            .await;
        let refused = call(&app(&gate), "/signup", Some(&token)).await;
        assert_problem(
            &refused,
            StatusCode::SERVICE_UNAVAILABLE,
            "admission_unavailable",
        );
        assert_eq!(refused.1["detail"], "keyset_unavailable");

        // A replay store that cannot answer (a poisoned in-memory map) admits nothing.
        let guard = ReplayGuard::memory();
        if let ReplayGuard::Memory(map) = &guard {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _held = map.lock().unwrap();
                panic!("poison the replay map");
            }));
        }
        let response = app(&Gate::new(config(), source, guard))
            .oneshot(
                Request::post("/signup")
                    .header(ADMISSION_TOKEN, &token)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "admission_unavailable");
        assert_eq!(problem["detail"], "replay_store_unavailable");
    }

    #[tokio::test]
    async fn genesis_is_not_called_per_request() {
        let genesis = Genesis::start().await;
        let gate = Gate::new(config(), genesis.keyset(), ReplayGuard::memory());
        assert_eq!(genesis.keyset_fetches(), 0, "nothing fetched before use");
        gate.preload().await.unwrap();
        assert_eq!(genesis.keyset_fetches(), 1);

        let app = app(&gate);
        let mut tokens = Vec::new();
        for i in 0..12 {
            tokens.push(
                genesis
                    .token(if i % 2 == 0 { "signup" } else { "login" })
                    .await,
            );
        }
        for (i, token) in tokens.iter().enumerate() {
            let path = if i % 2 == 0 { "/signup" } else { "/login" };
            assert_eq!(call(&app, path, Some(token)).await.0, StatusCode::OK);
            let replayed = call(&app, path, Some(token)).await;
            assert_problem(&replayed, StatusCode::UNAUTHORIZED, "admission_replayed");
        }
        assert_eq!(
            call(&app, "/signup", Some("garbage")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            genesis.keyset_fetches(),
            1,
            "36 verifications, one keyset fetch"
        );

        // Unknown kids may trigger a refresh, but at most one per cooldown.
        let other = Genesis::start().await;
        for _ in 0..5 {
            let foreign = other.token("signup").await;
            let refused = call(&app, "/signup", Some(&foreign)).await;
            assert_problem(&refused, StatusCode::UNAUTHORIZED, "admission_invalid");
        }
        assert!(
            genesis.keyset_fetches() <= 2,
            "{}",
            genesis.keyset_fetches()
        );
    }
}
