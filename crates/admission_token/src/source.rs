//! Where the keyset comes from, and the verifier that uses it.

use std::path::Path;
use std::sync::Arc;

use crate::clock::Clock;
use crate::keyset::{Keyset, KeysetError};
use crate::verify::{VerifiedToken, Verifier, VerifierConfig, VerifyError};

#[cfg(feature = "fetch")]
use crate::cache::{CacheOptions, CachedKeyset, HttpKeysetFetcher};

/// Why a keyset could not be obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The document was refused.
    #[error(transparent)]
    Keyset(#[from] KeysetError),
    /// The URL is not an absolute `http` or `https` URL.
    #[error("invalid keyset url")]
    InvalidUrl,
    /// Transport failure (connect, TLS, timeout).
    #[error("keyset fetch failed: {0}")]
    Transport(String),
    /// The server answered with a non-success status.
    #[error("keyset fetch returned status {0}")]
    Status(u16),
    /// The last fetch failed recently and nothing usable is cached; no new fetch before the
    /// cooldown ends.
    #[error("keyset unavailable")]
    Unavailable,
}

/// A keyset source: fixed (inline JSON or a file, read once) or, with the `fetch` feature, a
/// URL behind a [`CachedKeyset`]. Cheap to clone.
#[derive(Debug, Clone)]
pub enum KeysetSource {
    /// A keyset loaded once.
    Fixed(Arc<Keyset>),
    /// A URL, cached and refreshed.
    #[cfg(feature = "fetch")]
    Cached(Arc<CachedKeyset>),
}

impl KeysetSource {
    /// An inline JSON document.
    pub fn inline(json: &str) -> Result<Self, KeysetError> {
        Ok(Self::Fixed(Arc::new(Keyset::from_json(json)?)))
    }

    /// A JSON file, read now.
    pub fn file(path: impl AsRef<Path>) -> Result<Self, KeysetError> {
        Ok(Self::Fixed(Arc::new(Keyset::from_file(path)?)))
    }

    /// A keyset already in hand.
    pub fn fixed(keyset: Keyset) -> Self {
        Self::Fixed(Arc::new(keyset))
    }

    /// A URL fetched with reqwest (rustls), cached per `options`, timed by `clock`. Nothing is
    /// fetched until first use; call [`KeysetSource::current`] at start-up to fail fast.
    #[cfg(feature = "fetch")]
    pub fn url(
        url: &str,
        options: CacheOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SourceError> {
        let fetcher = HttpKeysetFetcher::new(url, options.http_timeout)?;
        Ok(Self::Cached(Arc::new(CachedKeyset::new(
            Arc::new(fetcher),
            clock,
            options,
        ))))
    }

    /// The keyset to verify with now.
    #[cfg_attr(not(feature = "fetch"), allow(clippy::unused_async))]
    pub async fn current(&self) -> Result<Arc<Keyset>, SourceError> {
        match self {
            Self::Fixed(k) => Ok(Arc::clone(k)),
            #[cfg(feature = "fetch")]
            Self::Cached(c) => c.current().await,
        }
    }

    /// The keyset after a token named an unknown kid: a refetch for URL sources, at most once
    /// per cooldown; the same keyset for fixed sources.
    #[cfg_attr(not(feature = "fetch"), allow(clippy::unused_async))]
    pub async fn after_unknown_kid(&self) -> Result<Arc<Keyset>, SourceError> {
        match self {
            Self::Fixed(k) => Ok(Arc::clone(k)),
            #[cfg(feature = "fetch")]
            Self::Cached(c) => c.refresh_for_unknown_kid().await,
        }
    }
}

/// A [`Verifier`] with its keyset source and clock: what a service keeps in its state.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    verifier: Verifier,
    source: KeysetSource,
    clock: Arc<dyn Clock>,
}

impl TokenVerifier {
    /// Assembles the parts.
    pub fn new(config: VerifierConfig, source: KeysetSource, clock: Arc<dyn Clock>) -> Self {
        Self {
            verifier: Verifier::new(config),
            source,
            clock,
        }
    }

    /// The keyset source.
    pub fn source(&self) -> &KeysetSource {
        &self.source
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        self.verifier.config()
    }

    /// Verifies `token` for `expected_action`. The token is parsed and its kid read before the
    /// keyset is consulted; an unknown kid triggers at most one (cooldown-limited) refresh.
    pub async fn verify(
        &self,
        token: &str,
        expected_action: &str,
    ) -> Result<VerifiedToken, VerifyError> {
        let parsed = self.verifier.parse(token)?;
        let mut keyset = self
            .source
            .current()
            .await
            .map_err(|_| VerifyError::KeysetUnavailable)?;
        if !keyset.contains(&parsed.kid) {
            keyset = self
                .source
                .after_unknown_kid()
                .await
                .map_err(|_| VerifyError::KeysetUnavailable)?;
        }
        self.verifier
            .verify_parsed(parsed, &keyset, expected_action, self.clock.now())
    }
}
