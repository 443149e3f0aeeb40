//! The URL keyset source against a tiny local HTTP server that counts fetches, and the cache
//! logic against in-test fetchers. Time moves only by the injected clock.
#![cfg(feature = "fetch")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use admission_token::{
    CacheOptions, CachedKeyset, Keyset, KeysetFetcher, KeysetSource, ManualClock, SourceError,
    TokenVerifier, VerifierConfig, VerifyError, mint,
};
use common::{AUD, ISS, MemSigner, claims, t0};
use time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `body` at any path; counts requests.
struct Server {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl Server {
    async fn start(body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/paserk.json", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(body));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (Arc::clone(&body), Arc::clone(&hits));
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (b, h) = (Arc::clone(&b), Arc::clone(&h));
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
                        let n = sock.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        req.extend_from_slice(&buf[..n]);
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let body = b.lock().unwrap().clone();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self { url, body, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn publish(&self, keyset: &Keyset) {
        *self.body.lock().unwrap() = keyset.to_json();
    }
}

struct Setup {
    server: Server,
    clock: Arc<ManualClock>,
    verifier: TokenVerifier,
    signer: MemSigner,
}

async fn setup() -> Setup {
    let signer = MemSigner::new(7, 3, t0());
    // Initially only version 1 is published.
    let ks = Keyset::from_versions(&signer.all_versions()[..1], 1, None).unwrap();
    let server = Server::start(ks.to_json()).await;
    let clock = Arc::new(ManualClock::new(t0()));
    let source = KeysetSource::url(&server.url, CacheOptions::default(), clock.clone()).unwrap();
    let verifier = TokenVerifier::new(VerifierConfig::new(ISS, AUD), source, clock.clone());
    Setup {
        server,
        clock,
        verifier,
        signer,
    }
}

impl Setup {
    async fn token(&self, version: u32) -> String {
        let now = self.clock.now_value();
        mint(
            &self.signer,
            version,
            &self.signer.public(version),
            &claims("signup", now, 120),
        )
        .await
        .unwrap()
    }
}

trait NowValue {
    fn now_value(&self) -> time::OffsetDateTime;
}
impl NowValue for ManualClock {
    fn now_value(&self) -> time::OffsetDateTime {
        admission_token::Clock::now(self)
    }
}

#[tokio::test]
async fn cached_one_fetch_for_many_verifies() {
    let s = setup().await;
    assert_eq!(s.server.hits(), 0, "nothing fetched before first use");
    let token = s.token(1).await;
    for _ in 0..50 {
        s.verifier.verify(&token, "signup").await.unwrap();
    }
    assert_eq!(s.server.hits(), 1);
    // A bad token does not cause a fetch either.
    assert!(s.verifier.verify("v4.local.xxx", "signup").await.is_err());
    assert_eq!(s.server.hits(), 1);
}

#[tokio::test]
async fn unknown_kid_refresh_then_cooldown() {
    let s = setup().await;
    s.verifier
        .verify(&s.token(1).await, "signup")
        .await
        .unwrap();
    assert_eq!(s.server.hits(), 1);

    // genesis rotates to v2 and publishes it; 11 s later a v2 token arrives.
    s.server
        .publish(&Keyset::from_versions(&s.signer.all_versions()[..2], 2, None).unwrap());
    s.clock.advance(Duration::seconds(11));
    let ok = s
        .verifier
        .verify(&s.token(2).await, "signup")
        .await
        .unwrap();
    assert_eq!(ok.kid, s.signer.kid(2));
    assert_eq!(s.server.hits(), 2, "refreshed on the unknown kid");

    // A second unknown kid within the cooldown: no fetch, refused.
    s.server
        .publish(&Keyset::from_versions(&s.signer.all_versions(), 3, None).unwrap());
    s.clock.advance(Duration::seconds(9));
    let v3 = s.token(3).await;
    assert_eq!(
        s.verifier.verify(&v3, "signup").await,
        Err(VerifyError::UnknownKid)
    );
    for _ in 0..10 {
        assert_eq!(
            s.verifier.verify(&v3, "signup").await,
            Err(VerifyError::UnknownKid)
        );
    }
    assert_eq!(s.server.hits(), 2, "cooldown: no fetch");
    // After the cooldown, the next unknown kid refreshes.
    s.clock.advance(Duration::seconds(1));
    assert!(s.verifier.verify(&v3, "signup").await.is_ok());
    assert_eq!(s.server.hits(), 3);
    // A kid nobody publishes: one fetch per cooldown at most.
    let stranger = MemSigner::new(99, 1, t0());
    let foreign = mint(
        &stranger,
        1,
        &stranger.public(1),
        &claims("signup", s.clock.now_value(), 60),
    )
    .await
    .unwrap();
    s.clock.advance(Duration::seconds(10));
    for _ in 0..20 {
        assert_eq!(
            s.verifier.verify(&foreign, "signup").await,
            Err(VerifyError::UnknownKid)
        );
    }
    assert_eq!(s.server.hits(), 4);
}

#[tokio::test]
async fn ttl_expiry_refetches() {
    let s = setup().await;
    s.verifier
        .verify(&s.token(1).await, "signup")
        .await
        .unwrap();
    s.clock.advance(Duration::minutes(5) - Duration::seconds(1));
    s.verifier
        .verify(&s.token(1).await, "signup")
        .await
        .unwrap();
    assert_eq!(s.server.hits(), 1, "still fresh at 4:59");
    s.clock.advance(Duration::seconds(1));
    s.verifier
        .verify(&s.token(1).await, "signup")
        .await
        .unwrap();
    s.verifier
        .verify(&s.token(1).await, "signup")
        .await
        .unwrap();
    assert_eq!(s.server.hits(), 2, "refetched once at 5:00");
}

#[tokio::test]
async fn rejects_non_http_urls() {
    let clock = Arc::new(ManualClock::new(t0()));
    for url in ["file:///etc/passwd", "not a url", "ftp://x/paserk.json"] {
        assert!(matches!(
            KeysetSource::url(url, CacheOptions::default(), clock.clone()),
            Err(SourceError::InvalidUrl)
        ));
    }
}

/// A fetcher whose answers the test controls.
#[derive(Debug)]
struct FakeFetcher {
    keyset: Mutex<Option<Keyset>>,
    calls: AtomicUsize,
    delay: std::time::Duration,
}

#[async_trait::async_trait]
impl KeysetFetcher for FakeFetcher {
    async fn fetch(&self) -> Result<Keyset, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await; // hold the fetch open so others pile up
        }
        self.keyset
            .lock()
            .unwrap()
            .clone()
            .ok_or(SourceError::Status(503))
    }
}

fn fake(keyset: Option<Keyset>, delay_ms: u64) -> Arc<FakeFetcher> {
    Arc::new(FakeFetcher {
        keyset: Mutex::new(keyset),
        calls: AtomicUsize::new(0),
        delay: std::time::Duration::from_millis(delay_ms),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_coalesce() {
    let signer = MemSigner::new(7, 1, t0());
    let fetcher = fake(Some(signer.keyset(1)), 100);
    let clock = Arc::new(ManualClock::new(t0()));
    let cache = Arc::new(CachedKeyset::new(
        fetcher.clone(),
        clock,
        CacheOptions::default(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let cache = Arc::clone(&cache);
        tasks.spawn(async move {
            if i % 2 == 0 {
                cache.current().await
            } else {
                cache.refresh_for_unknown_kid().await
            }
        });
    }
    while let Some(res) = tasks.join_next().await {
        assert!(res.unwrap().is_ok());
    }
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn failing_source_serves_stale_then_unavailable() {
    let signer = MemSigner::new(7, 1, t0());
    let fetcher = fake(Some(signer.keyset(1)), 0);
    let clock = Arc::new(ManualClock::new(t0()));
    let opts = CacheOptions::default();
    let cache = CachedKeyset::new(fetcher.clone(), clock.clone(), opts.clone());
    cache.current().await.unwrap();
    *fetcher.keyset.lock().unwrap() = None; // upstream now fails
    clock.advance(Duration::minutes(6));
    assert!(
        cache.current().await.is_ok(),
        "stale served when the refresh fails"
    );
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);
    for _ in 0..10 {
        assert!(cache.current().await.is_ok());
    }
    assert_eq!(
        fetcher.calls.load(Ordering::SeqCst),
        2,
        "no fetch per request while failing"
    );
    clock.advance(opts.max_stale);
    assert!(cache.current().await.is_err(), "too stale");

    // Nothing ever fetched: the verifier reports keyset_unavailable.
    let empty = fake(None, 0);
    let source = KeysetSource::Cached(Arc::new(CachedKeyset::new(empty, clock.clone(), opts)));
    let tv = TokenVerifier::new(VerifierConfig::new(ISS, AUD), source, clock.clone());
    let token = mint(
        &signer,
        1,
        &signer.public(1),
        &claims("signup", clock.now_value(), 60),
    )
    .await
    .unwrap();
    let e = tv.verify(&token, "signup").await.unwrap_err();
    assert_eq!(
        (e.clone(), e.code()),
        (VerifyError::KeysetUnavailable, "keyset_unavailable")
    );
}
