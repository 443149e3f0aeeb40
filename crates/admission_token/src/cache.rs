//! URL keyset source: an HTTP fetcher and a cache with TTL, unknown-kid refresh, cooldown and
//! coalescing. The cache logic sees only a [`KeysetFetcher`] and a [`Clock`], so it is tested
//! without network or sleeps.

use std::sync::{Arc, Mutex, PoisonError};

use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::keyset::{Keyset, MAX_KEYSET_BYTES};
use crate::source::SourceError;

/// Fetches a keyset document.
#[async_trait::async_trait]
pub trait KeysetFetcher: Send + Sync + std::fmt::Debug {
    /// One fetch.
    async fn fetch(&self) -> Result<Keyset, SourceError>;
}

/// Cache behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// How long a fetched keyset is used without refetching (default 5 min).
    pub ttl: Duration,
    /// Minimum time between two fetch attempts of any kind, in particular those triggered by an
    /// unknown kid (default 10 s).
    pub refresh_cooldown: Duration,
    /// How long after its fetch a keyset is still served when refetching fails (default 1 h).
    pub max_stale: Duration,
    /// HTTP timeout for one fetch (default 5 s).
    pub http_timeout: std::time::Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::minutes(5),
            refresh_cooldown: Duration::seconds(10),
            max_stale: Duration::hours(1),
            http_timeout: std::time::Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    keyset: Option<Arc<Keyset>>,
    fetched_at: Option<OffsetDateTime>,
    last_attempt: Option<OffsetDateTime>,
}

/// A cached keyset. Requests never fetch while the keyset is fresh; at most one fetch attempt
/// happens per `refresh_cooldown`; concurrent refreshes wait for the one in flight and share
/// its result.
#[derive(Debug)]
pub struct CachedKeyset {
    fetcher: Arc<dyn KeysetFetcher>,
    clock: Arc<dyn Clock>,
    options: CacheOptions,
    state: Mutex<State>,
    fetch_lock: tokio::sync::Mutex<()>,
}

impl CachedKeyset {
    /// An empty cache over `fetcher`.
    pub fn new(
        fetcher: Arc<dyn KeysetFetcher>,
        clock: Arc<dyn Clock>,
        options: CacheOptions,
    ) -> Self {
        Self {
            fetcher,
            clock,
            options,
            state: Mutex::new(State::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self, now: OffsetDateTime) -> Option<Arc<Keyset>> {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match (&st.keyset, st.fetched_at) {
            (Some(k), Some(at)) if now - at < self.options.ttl => Some(Arc::clone(k)),
            _ => None,
        }
    }

    fn usable(&self, now: OffsetDateTime) -> Option<Arc<Keyset>> {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match (&st.keyset, st.fetched_at) {
            (Some(k), Some(at)) if now - at <= self.options.max_stale => Some(Arc::clone(k)),
            _ => None,
        }
    }

    /// The keyset: cached while fresh, otherwise refreshed (a stale one is served while another
    /// task refreshes, and when the refresh fails, up to `max_stale`).
    pub async fn current(&self) -> Result<Arc<Keyset>, SourceError> {
        let now = self.clock.now();
        if let Some(k) = self.fresh(now) {
            return Ok(k);
        }
        let guard = match self.fetch_lock.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.usable(now) {
                Some(k) => return Ok(k),
                None => self.fetch_lock.lock().await,
            },
        };
        // Someone may have refreshed while we waited for the lock.
        if let Some(k) = self.fresh(self.clock.now()) {
            return Ok(k);
        }
        self.fetch_locked(guard).await
    }

    /// Refetch because a token named a kid the cached keyset lacks, unless a fetch was attempted
    /// within the cooldown (then the cached keyset, or `Unavailable`).
    pub async fn refresh_for_unknown_kid(&self) -> Result<Arc<Keyset>, SourceError> {
        let guard = self.fetch_lock.lock().await;
        self.fetch_locked(guard).await
    }

    async fn fetch_locked(
        &self,
        _guard: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<Arc<Keyset>, SourceError> {
        let now = self.clock.now();
        {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if st
                .last_attempt
                .is_some_and(|t| now - t < self.options.refresh_cooldown)
            {
                drop(st);
                return self.usable(now).ok_or(SourceError::Unavailable);
            }
            st.last_attempt = Some(now);
        }
        match self.fetcher.fetch().await {
            Ok(keyset) => {
                let keyset = Arc::new(keyset);
                let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                st.keyset = Some(Arc::clone(&keyset));
                st.fetched_at = Some(now);
                Ok(keyset)
            }
            Err(err) => {
                tracing::warn!(error = %err, "keyset fetch failed");
                self.usable(now).ok_or(err)
            }
        }
    }
}

/// Fetches the keyset over HTTP(S) with reqwest (rustls), bounded to [`MAX_KEYSET_BYTES`].
#[derive(Debug, Clone)]
pub struct HttpKeysetFetcher {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl HttpKeysetFetcher {
    /// A fetcher for an absolute `http`/`https` URL.
    pub fn new(url: &str, timeout: std::time::Duration) -> Result<Self, SourceError> {
        let url = reqwest::Url::parse(url).map_err(|_| SourceError::InvalidUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SourceError::InvalidUrl);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SourceError::Transport(e.to_string()))?;
        Ok(Self { client, url })
    }
}

#[async_trait::async_trait]
impl KeysetFetcher for HttpKeysetFetcher {
    async fn fetch(&self) -> Result<Keyset, SourceError> {
        let transport = |e: reqwest::Error| SourceError::Transport(e.to_string());
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        if !response.status().is_success() {
            return Err(SourceError::Status(response.status().as_u16()));
        }
        let too_large = || SourceError::Keyset(crate::keyset::KeysetError::TooLarge);
        if response
            .content_length()
            .is_some_and(|n| n > MAX_KEYSET_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_KEYSET_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Keyset::from_slice(&body)?)
    }
}
