//! Against the real test PostgreSQL and Redis: a fresh database per test, permesi's
//! migrations applied. Most checks run twice, without and with the cache.

use std::net::IpAddr;

use fred::interfaces::KeysInterface;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::*;
use crate::audit::{Action, AuditLog, Context};

const IDLE: Duration = Duration::minutes(30);
const ABSOLUTE: Duration = Duration::hours(2);
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0";

struct Env {
    pool: PgPool,
    redis: Cache,
    /// Without a cache.
    plain: Sessions,
    /// With the test Redis.
    cached: Sessions,
}

/// Whole seconds, so stored and computed times compare exactly.
fn t0() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn audit_log() -> AuditLog {
    AuditLog::new(crate::audit::ChainKey::new([3; 32]))
}

fn ctx(client_ip: Option<IpAddr>) -> Context {
    Context {
        client_ip,
        request_id: None,
    }
}

/// Revokes all but `keep` in a transaction of its own.
async fn revoke_all(
    sessions: &Sessions,
    pool: &PgPool,
    user: Uuid,
    keep: Option<SessionId>,
    now: OffsetDateTime,
) -> u64 {
    let mut tx = pool.begin().await.unwrap();
    let ended = sessions.end_all(&mut tx, user, keep, now).await.unwrap();
    tx.commit().await.unwrap();
    ended
}

fn policy() -> SessionPolicy {
    SessionPolicy::new(IDLE, ABSOLUTE, true).unwrap()
}

async fn env(label: &str) -> Env {
    let url = testkit::fresh_database(label).await;
    let pool = PgPool::connect(&url).await.unwrap();
    sqlx::migrate!("../../db/migrations/permesi")
        .run(&pool)
        .await
        .unwrap();
    let redis = server::backends::connect_cache(&testkit::redis_url().into())
        .await
        .unwrap();
    Env {
        plain: Sessions::new(pool.clone(), None, sealer(), policy(), audit_log()),
        cached: Sessions::new(
            pool.clone(),
            Some(redis.clone()),
            sealer(),
            policy(),
            audit_log(),
        ),
        pool,
        redis,
    }
}

/// The same key for every test's sessions (entries written by one `Sessions` open in another).
fn sealer() -> std::sync::Arc<server::seal::Sealer> {
    std::sync::Arc::new(server::seal::Sealer::new(&[9; 32]))
}

impl Env {
    fn both(&self) -> [&Sessions; 2] {
        [&self.plain, &self.cached]
    }

    async fn user(&self) -> Uuid {
        let id = Uuid::now_v7();
        let index: Vec<u8> = [Uuid::new_v4().as_bytes().as_slice(), id.as_bytes()].concat();
        sqlx::query(
            "INSERT INTO users (id, email_index, email_ciphertext, opaque_record) \
             VALUES ($1, $2, 'sealed', $3)",
        )
        .bind(id)
        .bind(index)
        .bind(b"record".as_slice())
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    async fn login(&self, user: Uuid, now: OffsetDateTime) -> (Session, CookieValue) {
        self.plain
            .create(
                user,
                &[AuthMethod::Pwd],
                None,
                Some(UA),
                &ctx(Some("203.0.113.7".parse().unwrap())),
                now,
            )
            .await
            .unwrap()
    }

    /// Every stored column, as text.
    async fn dump(&self) -> String {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT string_agg(row_to_json(s)::text, '|') FROM sessions s",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
        .unwrap_or_default()
    }

    async fn stored(&self, id: SessionId) -> sqlx::postgres::PgRow {
        sqlx::query("SELECT * FROM sessions WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[tokio::test]
async fn create_then_authenticate_with_and_without_the_cache() {
    let env = env("sessions_auth").await;
    let user = env.user().await;
    let now = t0();
    let (session, cookie) = env.login(user, now).await;
    assert_eq!(session.user_id, user);
    assert_eq!(session.created_at, now);
    assert_eq!(session.last_seen_at, now);
    assert_eq!(session.idle_expires_at, now + IDLE);
    assert_eq!(session.absolute_expires_at, now + ABSOLUTE);
    assert_eq!(session.auth_methods, vec![AuthMethod::Pwd]);

    for sessions in env.both() {
        let found = sessions
            .authenticate(&cookie, now + Duration::seconds(5))
            .await;
        assert_eq!(found.unwrap(), Some(session.clone()));
    }
    // The cached service filled the cache; a second look is a hit with the same answer.
    let key = cache::entry_key(&cookie.hash());
    let ttl: i64 = env.redis.pttl(&key).await.unwrap();
    assert!(
        ttl > 0 && ttl <= i64::try_from(CACHE_TTL.whole_milliseconds()).unwrap(),
        "{ttl}"
    );
    let again = env
        .cached
        .authenticate(&cookie, now + Duration::seconds(6))
        .await;
    assert_eq!(again.unwrap(), Some(session.clone()));

    // The hit really came from the cache: a revocation written behind the service's back
    // (no tombstone) is seen at once by the database path, and by the cached path at its
    // next recorded use, which asks the database and drops the entry.
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1")
        .bind(session.id.as_uuid())
        .bind(now)
        .execute(&env.pool)
        .await
        .unwrap();
    let hit = env
        .cached
        .authenticate(&cookie, now + Duration::seconds(7))
        .await;
    assert_eq!(hit.unwrap(), Some(session.clone()));
    assert_eq!(env.plain.authenticate(&cookie, now).await.unwrap(), None);
    let due = now + SLIDE_INTERVAL;
    assert_eq!(env.cached.authenticate(&cookie, due).await.unwrap(), None);
    assert_eq!(env.redis.exists::<i64, _>(&key).await.unwrap(), 0);

    // Unknown secrets find nothing, in both.
    let stranger = CookieValue::generate();
    for sessions in env.both() {
        assert_eq!(sessions.authenticate(&stranger, now).await.unwrap(), None);
    }
}

#[tokio::test]
async fn only_the_hash_of_the_secret_is_stored() {
    let env = env("sessions_hash").await;
    let user = env.user().await;
    let (session, cookie) = env.login(user, t0()).await;
    let dump = env.dump().await;
    assert!(!dump.contains(cookie.as_str()), "{dump}");
    assert!(!dump.contains(&cookie.as_str().to_uppercase()));
    let row = env.stored(session.id).await;
    let stored: Vec<u8> = row.get("token_hash");
    let raw: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&cookie.as_str()[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(stored, Sha256::digest(&raw).to_vec());
    assert_ne!(stored, raw);
    assert!(!dump.contains(&hex(&raw)));
    assert_eq!(
        row.get::<Option<String>, _>("user_agent").as_deref(),
        Some(UA)
    );
    assert_eq!(row.get::<Vec<String>, _>("auth_methods"), vec!["pwd"]);
    assert_eq!(row.get::<Option<OffsetDateTime>, _>("revoked_at"), None);

    // Nor does the cache entry hold the secret.
    env.cached
        .authenticate(&cookie, t0())
        .await
        .unwrap()
        .unwrap();
    let entry: Vec<u8> = env
        .redis
        .get(cache::entry_key(&cookie.hash()))
        .await
        .unwrap();
    let entry = String::from_utf8_lossy(&entry);
    assert!(!entry.contains(cookie.as_str()) && !entry.contains(&hex(&raw)));
    // Sealed: the entry names no user in the clear.
    assert!(!entry.contains(&user.to_string()), "{entry}");
}

#[tokio::test]
async fn idle_expiry_is_exact_and_use_slides_it() {
    let env = env("sessions_idle").await;
    let user = env.user().await;
    for sessions in env.both() {
        let now = t0();
        let (_, cookie) = env.login(user, now).await;
        let boundary = now + IDLE;
        let second = Duration::seconds(1);
        assert_eq!(
            sessions.authenticate(&cookie, boundary).await.unwrap(),
            None
        );
        let first_use = sessions
            .authenticate(&cookie, boundary - second)
            .await
            .unwrap()
            .expect("one second before the idle expiry");
        // The use slid the idle expiry: idle from the use.
        let slid = boundary - second + IDLE;
        assert_eq!(first_use.last_seen_at, boundary - second);
        assert_eq!(first_use.idle_expires_at, slid);
        let row = env.stored(first_use.id).await;
        assert_eq!(row.get::<OffsetDateTime, _>("idle_expires_at"), slid);
        assert!(
            sessions
                .authenticate(&cookie, boundary)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            sessions
                .authenticate(&cookie, slid - second)
                .await
                .unwrap()
                .is_some()
        );
        // That use slid it again, by idle from `slid - 1s`; its own boundary is exact too.
        let last = slid - second + IDLE;
        assert_eq!(sessions.authenticate(&cookie, last).await.unwrap(), None);
        assert!(
            sessions
                .authenticate(&cookie, last - second)
                .await
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test]
async fn uses_are_recorded_at_most_once_a_minute() {
    let env = env("sessions_throttle").await;
    let user = env.user().await;
    for sessions in env.both() {
        let now = t0();
        let (session, cookie) = env.login(user, now).await;
        let soon = now + Duration::seconds(59);
        let seen = sessions.authenticate(&cookie, soon).await.unwrap().unwrap();
        assert_eq!(seen.last_seen_at, now);
        let row = env.stored(session.id).await;
        assert_eq!(row.get::<OffsetDateTime, _>("last_seen_at"), now);
        assert_eq!(row.get::<OffsetDateTime, _>("idle_expires_at"), now + IDLE);

        let later = now + Duration::seconds(60);
        let seen = sessions
            .authenticate(&cookie, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.last_seen_at, later);
        let row = env.stored(session.id).await;
        assert_eq!(row.get::<OffsetDateTime, _>("last_seen_at"), later);
        assert_eq!(
            row.get::<OffsetDateTime, _>("idle_expires_at"),
            later + IDLE
        );
    }
}

#[tokio::test]
async fn absolute_expiry_wins_over_sliding() {
    let env = env("sessions_absolute").await;
    let user = env.user().await;
    for sessions in env.both() {
        let now = t0();
        let (_, cookie) = env.login(user, now).await;
        let end = now + ABSOLUTE;
        // Used every 20 minutes, it never idles out...
        let mut at = now;
        while at + Duration::minutes(20) < end {
            at += Duration::minutes(20);
            let s = sessions.authenticate(&cookie, at).await.unwrap().unwrap();
            assert!(s.idle_expires_at <= end);
        }
        let s = sessions
            .authenticate(&cookie, end - Duration::seconds(1))
            .await
            .unwrap()
            .expect("one second before the absolute expiry");
        // ...but the slide stops at the absolute expiry, and there it ends.
        assert_eq!(s.idle_expires_at, end);
        assert_eq!(sessions.authenticate(&cookie, end).await.unwrap(), None);
        assert_eq!(
            sessions
                .authenticate(&cookie, end + Duration::seconds(1))
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn revoked_sessions_are_refused_even_with_a_warm_cache() {
    let env = env("sessions_revoke").await;
    let user = env.user().await;
    let now = t0();
    let (session, cookie) = env.login(user, now).await;
    // Warm the cache, then revoke through the cached service.
    assert!(
        env.cached
            .authenticate(&cookie, now)
            .await
            .unwrap()
            .is_some()
    );
    let key = cache::entry_key(&cookie.hash());
    assert_eq!(env.redis.exists::<i64, _>(&key).await.unwrap(), 1);
    assert!(
        env.cached
            .revoke(session.id, user, &ctx(None), now)
            .await
            .unwrap()
    );
    assert_eq!(env.redis.exists::<i64, _>(&key).await.unwrap(), 0);
    let tombstone_ttl: i64 = env
        .redis
        .pttl(cache::tombstone_key(&cookie.hash()))
        .await
        .unwrap();
    assert!(
        tombstone_ttl > 0 && tombstone_ttl <= i64::try_from(ABSOLUTE.whole_milliseconds()).unwrap()
    );
    for sessions in env.both() {
        assert_eq!(sessions.authenticate(&cookie, now).await.unwrap(), None);
    }
    let row = env.stored(session.id).await;
    assert_eq!(
        row.get::<Option<OffsetDateTime>, _>("revoked_at"),
        Some(now)
    );
    // A second revocation changes nothing.
    assert!(
        !env.cached
            .revoke(session.id, user, &ctx(None), now)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_late_cache_fill_cannot_resurrect_a_revoked_session() {
    let env = env("sessions_race").await;
    let user = env.user().await;
    let now = t0();
    let (session, cookie) = env.login(user, now).await;
    // A replica read the row before the revocation and writes its entry after it.
    assert!(
        env.cached
            .revoke(session.id, user, &ctx(None), now)
            .await
            .unwrap()
    );
    cache::put(&env.redis, &sealer(), &cookie.hash(), &session, now)
        .await
        .unwrap();
    assert_eq!(env.cached.authenticate(&cookie, now).await.unwrap(), None);

    // Revoked by a replica whose cache write was lost: a stale entry is caught at the next
    // slide by the database.
    let (session, cookie) = env.login(user, now).await;
    assert!(
        env.plain
            .revoke(session.id, user, &ctx(None), now)
            .await
            .unwrap()
    );
    cache::put(&env.redis, &sealer(), &cookie.hash(), &session, now)
        .await
        .unwrap();
    let slide_due = now + SLIDE_INTERVAL;
    assert_eq!(
        env.cached.authenticate(&cookie, slide_due).await.unwrap(),
        None
    );
    let key = cache::entry_key(&cookie.hash());
    assert_eq!(env.redis.exists::<i64, _>(&key).await.unwrap(), 0);
}

#[tokio::test]
async fn logout_revokes_the_presented_session() {
    let env = env("sessions_logout").await;
    let user = env.user().await;
    let now = t0();
    let (_, cookie) = env.login(user, now).await;
    assert!(
        env.cached
            .authenticate(&cookie, now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        env.cached
            .revoke_presented(&cookie, Action::Logout, &ctx(None), now)
            .await
            .unwrap()
    );
    assert!(
        !env.cached
            .revoke_presented(&cookie, Action::Logout, &ctx(None), now)
            .await
            .unwrap()
    );
    for sessions in env.both() {
        assert_eq!(sessions.authenticate(&cookie, now).await.unwrap(), None);
    }
    assert!(
        !env.cached
            .revoke_presented(&CookieValue::generate(), Action::Logout, &ctx(None), now)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_user_cannot_revoke_another_users_session() {
    let env = env("sessions_other").await;
    let (alice, mallory) = (env.user().await, env.user().await);
    let now = t0();
    let (session, cookie) = env.login(alice, now).await;
    assert!(
        env.cached
            .authenticate(&cookie, now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !env.cached
            .revoke(session.id, mallory, &ctx(None), now)
            .await
            .unwrap()
    );
    assert_eq!(
        revoke_all(&env.cached, &env.pool, mallory, None, now).await,
        0
    );
    assert!(
        !env.cached
            .revoke(SessionId::from_uuid(Uuid::now_v7()), alice, &ctx(None), now)
            .await
            .unwrap()
    );
    for sessions in env.both() {
        assert!(sessions.authenticate(&cookie, now).await.unwrap().is_some());
    }
    let row = env.stored(session.id).await;
    assert_eq!(row.get::<Option<OffsetDateTime>, _>("revoked_at"), None);
}

#[tokio::test]
async fn revoke_all_except_keeps_one_and_spares_other_users() {
    let env = env("sessions_all").await;
    let (user, other) = (env.user().await, env.user().await);
    let now = t0();
    let (keep, keep_cookie) = env.login(user, now).await;
    let mut ended = Vec::new();
    for _ in 0..3 {
        let (_, cookie) = env.login(user, now).await;
        assert!(
            env.cached
                .authenticate(&cookie, now)
                .await
                .unwrap()
                .is_some()
        );
        ended.push(cookie);
    }
    let (_, other_cookie) = env.login(other, now).await;
    // An already revoked one is not counted again.
    let (gone, _) = env.login(user, now).await;
    assert!(
        env.plain
            .revoke(gone.id, user, &ctx(None), now)
            .await
            .unwrap()
    );

    let later = now + Duration::seconds(10);
    assert_eq!(
        revoke_all(&env.cached, &env.pool, user, Some(keep.id), later).await,
        3
    );
    for sessions in env.both() {
        for cookie in &ended {
            assert_eq!(sessions.authenticate(cookie, later).await.unwrap(), None);
        }
        assert!(
            sessions
                .authenticate(&keep_cookie, later)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            sessions
                .authenticate(&other_cookie, later)
                .await
                .unwrap()
                .is_some()
        );
    }
    let listed: Vec<SessionId> = env
        .plain
        .list(user, later)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![keep.id]);
    // Without `keep`, everything goes.
    assert_eq!(
        revoke_all(&env.plain, &env.pool, user, None, later).await,
        1
    );
    assert!(env.plain.list(user, later).await.unwrap().is_empty());
}

#[tokio::test]
async fn list_shows_active_sessions_only_and_no_secrets() {
    let env = env("sessions_list").await;
    let user = env.user().await;
    let now = t0();
    let (old, _) = env.login(user, now - IDLE).await; // idle-expired at `now`
    let (revoked, _) = env.login(user, now).await;
    env.plain
        .revoke(revoked.id, user, &ctx(None), now)
        .await
        .unwrap();
    let (first, _) = env.login(user, now).await;
    let ip: IpAddr = "2001:db8::1".parse().unwrap();
    let (second, second_cookie) = env
        .plain
        .create(
            user,
            &[AuthMethod::Pwd, AuthMethod::Otp, AuthMethod::Pwd],
            None,
            Some("ua\u{7}\nwith controls"),
            &ctx(Some(ip)),
            now + Duration::seconds(1),
        )
        .await
        .unwrap();
    let listed = env
        .plain
        .list(user, now + Duration::seconds(2))
        .await
        .unwrap();
    let ids: Vec<SessionId> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![second.id, first.id], "most recent first");
    assert!(!ids.contains(&old.id) && !ids.contains(&revoked.id));
    let info = &listed[0];
    assert_eq!(info.client_ip, Some(ip));
    assert_eq!(info.user_agent.as_deref(), Some("uawith controls"));
    assert_eq!(info.auth_methods, vec![AuthMethod::Pwd, AuthMethod::Otp]);
    assert_eq!(info.created_at, now + Duration::seconds(1));
    assert_eq!(listed[1].client_ip, Some("203.0.113.7".parse().unwrap()));
    assert!(!format!("{listed:?}").contains(second_cookie.as_str()));
    assert!(!format!("{listed:?}").contains(&hex(&second_cookie.hash())));
}

#[tokio::test]
async fn every_login_gets_a_new_id_and_secret() {
    let env = env("sessions_fresh").await;
    let user = env.user().await;
    let now = t0();
    let (a, a_cookie) = env.login(user, now).await;
    let (b, b_cookie) = env.login(user, now).await;
    assert_ne!(a.id, b.id);
    assert_ne!(a_cookie, b_cookie);
    assert_ne!(a_cookie.hash(), b_cookie.hash());
    // Each cookie finds its own session.
    assert_eq!(
        env.cached
            .authenticate(&a_cookie, now)
            .await
            .unwrap()
            .unwrap()
            .id,
        a.id
    );
    assert_eq!(
        env.cached
            .authenticate(&b_cookie, now)
            .await
            .unwrap()
            .unwrap()
            .id,
        b.id
    );
}

#[tokio::test]
async fn unknown_and_disabled_accounts_get_no_session() {
    let env = env("sessions_users").await;
    let now = t0();
    let unknown = env
        .plain
        .create(
            Uuid::now_v7(),
            &[AuthMethod::Pwd],
            None,
            None,
            &ctx(None),
            now,
        )
        .await;
    assert!(matches!(unknown, Err(SessionError::UnknownUser)));
    let user = env.user().await;
    let none = env
        .plain
        .create(user, &[], None, None, &ctx(None), now)
        .await;
    assert_eq!(none.unwrap_err().code(), "invalid");

    let (_, cookie) = env.login(user, now).await;
    assert!(
        env.cached
            .authenticate(&cookie, now)
            .await
            .unwrap()
            .is_some()
    );
    sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
        .bind(user)
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(env.plain.authenticate(&cookie, now).await.unwrap(), None);
    // The cached entry holds until the next recorded use, which asks the database.
    let due = now + SLIDE_INTERVAL;
    assert_eq!(env.cached.authenticate(&cookie, due).await.unwrap(), None);
    let disabled = env
        .plain
        .create(user, &[AuthMethod::Pwd], None, None, &ctx(None), now)
        .await;
    assert!(matches!(disabled, Err(SessionError::UnknownUser)));
    // A login carries the password generation it started with: once the password changed
    // (generation bumped), it gets no session.
    sqlx::query(
        "UPDATE users SET status = 'active', password_generation = password_generation + 1 \
         WHERE id = $1",
    )
    .bind(user)
    .execute(&env.pool)
    .await
    .unwrap();
    let stale = env
        .plain
        .create(user, &[AuthMethod::Pwd], Some(0), None, &ctx(None), now)
        .await;
    assert!(matches!(stale, Err(SessionError::UnknownUser)));
    env.plain
        .create(user, &[AuthMethod::Pwd], Some(1), None, &ctx(None), now)
        .await
        .unwrap();
    // Deleting the account deletes its sessions.
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(env.dump().await, "");
}

#[tokio::test]
async fn the_schema_refuses_malformed_rows() {
    let env = env("sessions_schema").await;
    let user = env.user().await;
    let insert = |hash: Vec<u8>, methods: Vec<&'static str>, ua: String, idle: Duration| {
        let pool = env.pool.clone();
        async move {
            let now = t0();
            sqlx::query(
                "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, \
                 idle_expires_at, absolute_expires_at, user_agent, auth_methods, \
                 authenticated_at) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $4)",
            )
            .bind(Uuid::now_v7())
            .bind(hash)
            .bind(user)
            .bind(now)
            .bind(now + idle)
            .bind(now + ABSOLUTE)
            .bind(ua)
            .bind(methods)
            .execute(&pool)
            .await
        }
    };
    let ok = |n: u8| vec![n; 32];
    assert!(
        insert(ok(1), vec!["pwd"], "a".repeat(512), IDLE)
            .await
            .is_ok()
    );
    assert!(
        insert(vec![2; 31], vec!["pwd"], String::new(), IDLE)
            .await
            .is_err()
    );
    assert!(
        insert(vec![3; 33], vec!["pwd"], String::new(), IDLE)
            .await
            .is_err()
    );
    assert!(
        insert(ok(1), vec!["pwd"], String::new(), IDLE)
            .await
            .is_err(),
        "unique hash"
    );
    assert!(insert(ok(4), vec![], String::new(), IDLE).await.is_err());
    assert!(
        insert(ok(5), vec!["password"], String::new(), IDLE)
            .await
            .is_err()
    );
    assert!(
        insert(ok(6), vec!["pwd"], "a".repeat(513), IDLE)
            .await
            .is_err()
    );
    assert!(
        insert(ok(7), vec!["pwd"], String::new(), ABSOLUTE + IDLE)
            .await
            .is_err()
    );
}

#[test]
fn policies_are_validated() {
    let m = Duration::minutes;
    assert!(SessionPolicy::new(m(30), m(30), true).is_ok());
    assert!(SessionPolicy::new(m(31), m(30), true).is_err());
    assert!(SessionPolicy::new(Duration::ZERO, m(30), true).is_err());
    assert!(SessionPolicy::new(m(-1), m(30), true).is_err());
    let p = policy();
    // `Secure` cookies carry the `__Host-` prefix; plain-HTTP development keeps the bare name.
    assert_eq!(p.cookie_name(), "__Host-permesi_session");
    assert_eq!(
        SessionPolicy::new(m(30), m(30), false)
            .unwrap()
            .cookie_name(),
        "permesi_session"
    );
    assert!(p.clone().with_cookie_name("__Host-permesi").is_ok());
    for bad in ["", "a b", "a;b", "a=b", "é"] {
        assert!(p.clone().with_cookie_name(bad).is_err(), "{bad}");
    }
    assert_eq!(p.slide_interval(), SLIDE_INTERVAL);
    let short = SessionPolicy::new(m(2), m(10), true).unwrap();
    assert_eq!(short.slide_interval(), Duration::seconds(30));
    for m in [
        AuthMethod::Pwd,
        AuthMethod::Otp,
        AuthMethod::Hwk,
        AuthMethod::Swk,
        AuthMethod::Mfa,
    ] {
        assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
    }
}

/// A cache client that may read but not write (a Redis ACL user), as when writes fail.
async fn read_only_cache() -> Cache {
    let url = url::Url::parse(&testkit::redis_url()).unwrap();
    let user = format!("ro_{}", Uuid::new_v4().simple());
    let status = std::process::Command::new("redis-cli")
        .args(["--no-auth-warning", "-u", &testkit::redis_admin_url()])
        .args([
            "ACL",
            "SETUSER",
            &user,
            "on",
            ">pw",
            "~permesi:*",
            "resetchannels",
            "+@read",
            "+@connection",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let mut ro = url.clone();
    ro.set_username(&user).unwrap();
    ro.set_password(Some("pw")).unwrap();
    server::backends::connect_cache(&server::Secret::new(ro.to_string()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_revocation_the_cache_cannot_record_is_not_committed() {
    let env = env("sessions_cache_ro").await;
    let user = env.user().await;
    let now = t0();
    let (session, cookie) = env.login(user, now).await;
    // Cached by a healthy replica.
    assert!(
        env.cached
            .authenticate(&cookie, now)
            .await
            .unwrap()
            .is_some()
    );
    let crippled = Sessions::new(
        env.pool.clone(),
        Some(read_only_cache().await),
        sealer(),
        policy(),
        audit_log(),
    );
    // Reads still work, and serve the cached entry.
    assert!(crippled.authenticate(&cookie, now).await.unwrap().is_some());
    // The revocation cannot write its tombstone: refused, and nothing committed.
    let refused = crippled.revoke(session.id, user, &ctx(None), now).await;
    assert!(matches!(refused, Err(SessionError::Cache)), "{refused:?}");
    let refused = crippled
        .revoke_presented(&cookie, Action::Logout, &ctx(None), now)
        .await;
    assert!(matches!(refused, Err(SessionError::Cache)), "{refused:?}");
    let listed = env.plain.list(user, now).await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the row is still active: nothing half-done"
    );
    // A healthy replica's revocation wins over every cache entry at once.
    assert!(
        env.cached
            .revoke(session.id, user, &ctx(None), now)
            .await
            .unwrap()
    );
    assert_eq!(crippled.authenticate(&cookie, now).await.unwrap(), None);
}

#[tokio::test]
async fn a_session_cache_entry_written_into_valkey_by_hand_is_refused() {
    let env = env("sessions_forged_cache").await;
    let user = env.user().await;
    let now = t0();
    // What an attacker with write access to Valkey would plant: a well-formed entry naming
    // the victim, in the clear, under the hash of a cookie value they chose.
    let chosen = CookieValue::generate();
    let micros = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000;
    let forged = serde_json::json!({
        "v": 2, "id": Uuid::now_v7(), "user": user,
        "created": micros(now), "seen": micros(now),
        "idle": micros(now + time::Duration::hours(1)),
        "abs": micros(now + time::Duration::hours(2)),
        "auth": micros(now), "amr": ["pwd"],
    })
    .to_string();
    env.redis
        .set::<(), _, _>(cache::entry_key(&chosen.hash()), forged, None, None, false)
        .await
        .unwrap();
    assert_eq!(env.cached.authenticate(&chosen, now).await.unwrap(), None);
    // A genuine sealed entry moved under another cookie's key does not open either.
    let (_, cookie) = env.login(user, now).await;
    env.cached
        .authenticate(&cookie, now)
        .await
        .unwrap()
        .unwrap();
    let sealed: Vec<u8> = env
        .redis
        .get(cache::entry_key(&cookie.hash()))
        .await
        .unwrap();
    env.redis
        .set::<(), _, _>(cache::entry_key(&chosen.hash()), sealed, None, None, false)
        .await
        .unwrap();
    assert_eq!(env.cached.authenticate(&chosen, now).await.unwrap(), None);
}
