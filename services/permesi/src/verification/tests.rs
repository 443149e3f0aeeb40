//! Against the real test PostgreSQL: a fresh database per test, permesi's migrations applied.

use std::{path::Path, sync::Arc};

use keys::Cipher;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::*;
use crate::audit::{AuditLog, ChainKey};

const ADDRESS: &str = "carol@example.org";
const BASE: &str = "https://permesi.localhost";

struct Env {
    pool: PgPool,
    cipher: Arc<dyn Cipher>,
    service: EmailVerification,
    mail: tempfile::TempDir,
    _keys: tempfile::TempDir,
}

/// Whole seconds, so stored and computed times compare exactly.
fn t0() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap()
}

async fn env(label: &str) -> Env {
    let url = testkit::fresh_database(label).await;
    let pool = PgPool::connect(&url).await.unwrap();
    sqlx::migrate!("../../db/migrations/permesi")
        .run(&pool)
        .await
        .unwrap();
    let keys_dir = tempfile::tempdir().unwrap();
    let backend = keys::KeyBackend::open(keys::BackendConfig::Local(keys::LocalConfig {
        dir: keys_dir.path().join("keys"),
        signing_key: "s".into(),
        encryption_key: "e".into(),
    }))
    .await
    .unwrap();
    let cipher = backend.cipher();
    let policy = Policy::new(BASE, Duration::hours(1), Duration::seconds(60)).unwrap();
    Env {
        service: EmailVerification::new(
            pool.clone(),
            Arc::clone(&cipher),
            policy,
            AuditLog::new(ChainKey::new([1; 32])),
        ),
        pool,
        cipher,
        mail: tempfile::tempdir().unwrap(),
        _keys: keys_dir,
    }
}

impl Env {
    async fn user(&self, address: &str) -> (Uuid, Email) {
        let id = Uuid::now_v7();
        let address = Email::parse(address).unwrap();
        let sealed = email::seal(self.cipher.as_ref(), id, &address)
            .await
            .unwrap();
        let index: Vec<u8> = [Uuid::new_v4().as_bytes().as_slice(), id.as_bytes()].concat();
        sqlx::query(
            "INSERT INTO users (id, email_index, email_ciphertext, opaque_record) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(index)
        .bind(sealed)
        .bind(b"record".as_slice())
        .execute(&self.pool)
        .await
        .unwrap();
        (id, address)
    }

    fn folder_worker(&self) -> Worker {
        Worker::new(
            self.pool.clone(),
            Arc::clone(&self.cipher),
            Mailer::Folder(self.mail.path().to_owned()),
            "permesi <no-reply@permesi.localhost>",
        )
        .unwrap()
    }

    /// Every stored column of both tables, as text.
    async fn dump(&self) -> String {
        sqlx::query_scalar::<_, String>(
            "SELECT coalesce((SELECT string_agg(row_to_json(t)::text, '|') \
                              FROM email_verification_tokens t), '') || \
                    coalesce((SELECT string_agg(row_to_json(o)::text, '|') \
                              FROM email_outbox o), '')",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn verified_at(&self, user: Uuid) -> Option<OffsetDateTime> {
        sqlx::query_scalar("SELECT email_verified_at FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// The raw messages in the mail folder, oldest first.
fn messages(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn token_of(link: &str) -> String {
    link.split_once("#token=").unwrap().1.to_owned()
}

fn invalid(result: &Result<Uuid, VerificationError>) -> bool {
    matches!(result, Err(VerificationError::InvalidOrExpired))
}

#[tokio::test]
async fn issue_stores_no_secret_and_the_worker_mails_the_link() {
    let env = env("verify_issue").await;
    let (user, address) = env.user(ADDRESS).await;
    let now = t0();
    env.service.issue(user, &address, now).await.unwrap();

    let before = env.dump().await;
    assert!(
        !before.contains(ADDRESS) && !before.contains("carol"),
        "{before}"
    );
    assert!(!before.contains("verify-email"), "{before}");
    let row = sqlx::query("SELECT kind, status, attempts, next_attempt_at FROM email_outbox")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("kind"), "verify_email");
    assert_eq!(row.get::<String, _>("status"), "pending");
    assert_eq!(row.get::<i32, _>("attempts"), 0);
    assert_eq!(row.get::<OffsetDateTime, _>("next_attempt_at"), now);

    let worker = env.folder_worker();
    assert_eq!(worker.deliver_due(now).await.unwrap(), 1);
    let mails = messages(env.mail.path());
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.contains(&format!("To: {ADDRESS}")), "{mail}");
    assert!(
        mail.contains("From: permesi <no-reply@permesi.localhost>"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: Confirm your email address"),
        "{mail}"
    );
    let link = latest_link(env.mail.path()).unwrap().unwrap();
    assert!(
        link.starts_with(&format!("{BASE}/verify-email#token=")),
        "{link}"
    );
    let text = delivery::message_text(mail);
    assert!(text.contains(&link), "{text}");
    assert!(
        mail.contains("Content-Transfer-Encoding: quoted-printable"),
        "{mail}"
    );
    let token = token_of(&link);
    assert_eq!(token.len(), 43);

    // Neither the token nor the address is stored; the hash is SHA-256 of the token bytes.
    let after = env.dump().await;
    assert!(
        !after.contains(&token) && !after.contains(ADDRESS),
        "{after}"
    );
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM email_verification_tokens")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    let raw = token::decode(&token).unwrap();
    assert_eq!(stored, Sha256::digest(raw.as_slice()).to_vec());

    // Sent: recorded, the encrypted link erased, and nothing sent twice.
    let row = sqlx::query(
        "SELECT status, attempts, sent_at, link_ciphertext, last_error FROM email_outbox",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("status"), "sent");
    assert_eq!(row.get::<i32, _>("attempts"), 1);
    assert_eq!(row.get::<Option<OffsetDateTime>, _>("sent_at"), Some(now));
    assert_eq!(row.get::<Option<String>, _>("link_ciphertext"), None);
    assert_eq!(row.get::<Option<String>, _>("last_error"), None);
    assert_eq!(worker.deliver_due(now).await.unwrap(), 0);
    assert_eq!(messages(env.mail.path()).len(), 1);
}

#[tokio::test]
async fn a_token_verifies_once() {
    let env = env("verify_once").await;
    let (user, address) = env.user(ADDRESS).await;
    let (other, _) = env.user("dave@example.org").await;
    let now = t0();
    env.service.issue(user, &address, now).await.unwrap();
    env.folder_worker().deliver_due(now).await.unwrap();
    let token = token_of(&latest_link(env.mail.path()).unwrap().unwrap());

    assert_eq!(env.verified_at(user).await, None);
    let at = now + Duration::minutes(5);
    assert_eq!(
        env.service
            .verify(&token, &Context::default(), at)
            .await
            .unwrap(),
        user
    );
    assert_eq!(env.verified_at(user).await, Some(at));
    assert_eq!(env.verified_at(other).await, None);
    let used_at: Option<OffsetDateTime> =
        sqlx::query_scalar("SELECT used_at FROM email_verification_tokens")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(used_at, Some(at));

    // Replay, even later, is refused and changes nothing.
    assert!(invalid(
        &env.service
            .verify(&token, &Context::default(), at + Duration::seconds(1))
            .await
    ));
    assert_eq!(env.verified_at(user).await, Some(at));
}

#[tokio::test]
async fn an_expired_token_is_refused_to_the_second() {
    let env = env("verify_expiry").await;
    let (user, address) = env.user(ADDRESS).await;
    // Issued two hours ago with a one-hour TTL.
    let issued = t0() - Duration::hours(2);
    env.service.issue(user, &address, issued).await.unwrap();
    env.folder_worker().deliver_due(t0()).await.unwrap();
    let token = token_of(&latest_link(env.mail.path()).unwrap().unwrap());

    assert!(invalid(
        &env.service.verify(&token, &Context::default(), t0()).await
    ));
    let expiry = issued + Duration::hours(1);
    assert!(invalid(
        &env.service
            .verify(&token, &Context::default(), expiry)
            .await
    ));
    assert_eq!(env.verified_at(user).await, None);
    // One second before expiry it still works (the refusals above consumed nothing).
    let last_second = expiry - Duration::seconds(1);
    assert_eq!(
        env.service
            .verify(&token, &Context::default(), last_second)
            .await
            .unwrap(),
        user
    );
    assert_eq!(env.verified_at(user).await, Some(last_second));
}

#[tokio::test]
async fn altered_or_malformed_tokens_are_refused() {
    let env = env("verify_tamper").await;
    let (user, address) = env.user(ADDRESS).await;
    let now = t0();
    env.service.issue(user, &address, now).await.unwrap();
    env.folder_worker().deliver_due(now).await.unwrap();
    let token = token_of(&latest_link(env.mail.path()).unwrap().unwrap());

    let mut chars: Vec<char> = token.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();
    assert!(invalid(
        &env.service.verify(&altered, &Context::default(), now).await
    ));
    for bad in [
        String::new(),
        token[..42].to_owned(),
        format!("{token}A"),
        format!("{token}="),
        token.to_uppercase(),
        " ".repeat(43),
    ] {
        assert!(
            invalid(&env.service.verify(&bad, &Context::default(), now).await),
            "{bad:?}"
        );
    }
    assert_eq!(env.verified_at(user).await, None);
    assert_eq!(
        env.service
            .verify(&token, &Context::default(), now)
            .await
            .unwrap(),
        user
    );
}

#[tokio::test]
async fn resend_respects_the_cooldown_and_verification() {
    let env = env("verify_resend").await;
    let (user, address) = env.user(ADDRESS).await;
    let now = t0();
    env.service.issue(user, &address, now).await.unwrap();

    let context = Context::default();
    let resend = |at| env.service.resend(user, &address, &context, at);
    assert_eq!(
        resend(now + Duration::seconds(45)).await.unwrap(),
        ResendOutcome::CoolingDown {
            retry_after_secs: 15
        }
    );
    assert_eq!(
        resend(now + Duration::milliseconds(59_500)).await.unwrap(),
        ResendOutcome::CoolingDown {
            retry_after_secs: 1
        }
    );
    assert_eq!(env.count("email_verification_tokens").await, 1);
    assert_eq!(env.count("email_outbox").await, 1);

    let second = now + Duration::seconds(60);
    assert_eq!(resend(second).await.unwrap(), ResendOutcome::Queued);
    assert_eq!(env.count("email_verification_tokens").await, 2);
    assert_eq!(env.count("email_outbox").await, 2);
    // The cooldown now runs from the second token.
    assert_eq!(
        resend(second + Duration::seconds(1)).await.unwrap(),
        ResendOutcome::CoolingDown {
            retry_after_secs: 59
        }
    );

    env.folder_worker().deliver_due(second).await.unwrap();
    let token = token_of(&latest_link(env.mail.path()).unwrap().unwrap());
    env.service
        .verify(&token, &Context::default(), second)
        .await
        .unwrap();
    assert_eq!(
        resend(second + Duration::hours(1)).await.unwrap(),
        ResendOutcome::AlreadyVerified
    );
    assert_eq!(env.count("email_outbox").await, 2);
    assert!(matches!(
        env.service
            .resend(Uuid::now_v7(), &address, &Context::default(), now)
            .await,
        Err(VerificationError::UnknownUser)
    ));
}

#[tokio::test]
async fn the_newest_token_verifies_and_retires_the_older_ones() {
    let env = env("verify_two").await;
    let (user, address) = env.user(ADDRESS).await;
    let now = t0();
    env.service.issue(user, &address, now).await.unwrap();
    env.service
        .issue(user, &address, now + Duration::seconds(1))
        .await
        .unwrap();
    let worker = env.folder_worker();
    assert_eq!(
        worker
            .deliver_due(now + Duration::seconds(1))
            .await
            .unwrap(),
        2
    );
    let links: Vec<String> = messages(env.mail.path())
        .iter()
        .map(|m| {
            delivery::message_text(m)
                .split_whitespace()
                .find(|w| w.contains("#token="))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(links.len(), 2);
    assert_ne!(links[0], links[1]);
    let newest = latest_link(env.mail.path()).unwrap().unwrap();
    let older = links.iter().find(|l| **l != newest).unwrap();

    let at = now + Duration::seconds(2);
    assert_eq!(
        env.service
            .verify(&token_of(&newest), &Context::default(), at)
            .await
            .unwrap(),
        user
    );
    assert!(invalid(
        &env.service
            .verify(&token_of(older), &Context::default(), at)
            .await
    ));
}

#[tokio::test]
async fn an_older_token_works_until_one_is_used() {
    let env = env("verify_older").await;
    let (user, address) = env.user(ADDRESS).await;
    let now = t0();
    env.service.issue(user, &address, now).await.unwrap();
    env.folder_worker().deliver_due(now).await.unwrap();
    let first = token_of(&latest_link(env.mail.path()).unwrap().unwrap());
    env.service
        .issue(user, &address, now + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        env.service
            .verify(&first, &Context::default(), now + Duration::seconds(2))
            .await
            .unwrap(),
        user
    );
    let unused: i64 =
        sqlx::query_scalar("SELECT count(*) FROM email_verification_tokens WHERE used_at IS NULL")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(unused, 0);
}

#[tokio::test]
async fn a_failing_mailer_schedules_a_retry_without_secrets() {
    let env = env("verify_smtp_fail").await;
    let (user, address) = env.user(ADDRESS).await;
    let now = t0();
    env.service.issue(user, &address, now).await.unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let smtp = Mailer::smtp(&format!("smtp://127.0.0.1:{port}")).unwrap();
    assert_eq!(format!("{smtp:?}"), "Mailer::Smtp(..)");
    let worker = Worker::new(
        env.pool.clone(),
        Arc::clone(&env.cipher),
        smtp,
        "no-reply@permesi.localhost",
    )
    .unwrap()
    .with_retry(Retry {
        max_attempts: 2,
        ..Retry::default()
    });

    assert_eq!(worker.deliver_due(now).await.unwrap(), 0);
    let row = sqlx::query(
        "SELECT status, attempts, next_attempt_at, last_error, link_ciphertext FROM email_outbox",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("status"), "pending");
    assert_eq!(row.get::<i32, _>("attempts"), 1);
    assert_eq!(
        row.get::<OffsetDateTime, _>("next_attempt_at"),
        now + Duration::seconds(30)
    );
    let error: String = row.get("last_error");
    assert_eq!(error, "smtp_unavailable");
    assert!(row.get::<Option<String>, _>("link_ciphertext").is_some());
    assert!(!env.dump().await.contains(ADDRESS));

    // Not due yet: untouched.
    assert_eq!(
        worker
            .deliver_due(now + Duration::seconds(29))
            .await
            .unwrap(),
        0
    );
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM email_outbox")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1);

    // Second failure reaches max_attempts: failed, the encrypted link erased.
    worker
        .deliver_due(now + Duration::seconds(30))
        .await
        .unwrap();
    let row = sqlx::query("SELECT status, attempts, link_ciphertext FROM email_outbox")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("status"), "failed");
    assert_eq!(row.get::<i32, _>("attempts"), 2);
    assert_eq!(row.get::<Option<String>, _>("link_ciphertext"), None);
}

#[tokio::test]
async fn an_encrypted_link_moved_to_another_row_does_not_decrypt() {
    let env = env("verify_swap").await;
    let (carol, carol_address) = env.user(ADDRESS).await;
    let (dave, dave_address) = env.user("dave@example.org").await;
    let now = t0();
    env.service.issue(carol, &carol_address, now).await.unwrap();
    env.service.issue(dave, &dave_address, now).await.unwrap();
    // An attacker with write access copies Carol's link onto Dave's message.
    sqlx::query(
        "UPDATE email_outbox SET link_ciphertext = \
         (SELECT link_ciphertext FROM email_outbox WHERE user_id = $1) WHERE user_id = $2",
    )
    .bind(carol)
    .bind(dave)
    .execute(&env.pool)
    .await
    .unwrap();
    assert_eq!(env.folder_worker().deliver_due(now).await.unwrap(), 1);
    let mails = messages(env.mail.path());
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(&format!("To: {ADDRESS}")));
    let (status, error): (String, String) =
        sqlx::query_as("SELECT status, last_error FROM email_outbox WHERE user_id = $1")
            .bind(dave)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), error.as_str()), ("failed", "decrypt"));
}

#[tokio::test]
async fn issuing_is_atomic() {
    let env = env("verify_atomic").await;
    let (user, address) = env.user(ADDRESS).await;
    // Make the outbox insert (the second statement) fail.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON email_outbox \
         FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    assert!(matches!(
        env.service.issue(user, &address, t0()).await,
        Err(VerificationError::Database(_))
    ));
    assert_eq!(env.count("email_verification_tokens").await, 0);
    assert_eq!(env.count("email_outbox").await, 0);
    assert!(matches!(
        env.service
            .resend(user, &address, &Context::default(), t0())
            .await,
        Err(VerificationError::Database(_))
    ));
    assert_eq!(env.count("email_verification_tokens").await, 0);

    sqlx::raw_sql("DROP TRIGGER refuse ON email_outbox")
        .execute(&env.pool)
        .await
        .unwrap();
    assert!(matches!(
        env.service.issue(Uuid::now_v7(), &address, t0()).await,
        Err(VerificationError::UnknownUser)
    ));
    assert_eq!(env.count("email_verification_tokens").await, 0);
    env.service.issue(user, &address, t0()).await.unwrap();
    assert_eq!(env.count("email_verification_tokens").await, 1);
    assert_eq!(env.count("email_outbox").await, 1);
}

#[tokio::test]
async fn the_database_refuses_inconsistent_rows() {
    let env = env("verify_constraints").await;
    let (user, _) = env.user(ADDRESS).await;
    for sql in [
        // Not a SHA-256.
        "INSERT INTO email_verification_tokens (token_hash, user_id, created_at, expires_at) \
         VALUES ('\\x00', $1, now(), now() + interval '1 hour')",
        // Expires before it is created.
        "INSERT INTO email_verification_tokens (token_hash, user_id, created_at, expires_at) \
         VALUES (sha256('x'), $1, now(), now() - interval '1 second')",
        // Unknown kind.
        "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, link_ciphertext, \
         next_attempt_at, created_at) VALUES (gen_random_uuid(), $1, 'marketing', 'r', 'l', \
         now(), now())",
        // Pending without a link.
        "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, next_attempt_at, \
         created_at) VALUES (gen_random_uuid(), $1, 'verify_email', 'r', now(), now())",
        // Sent without sent_at.
        "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, status, \
         next_attempt_at, created_at) VALUES (gen_random_uuid(), $1, 'verify_email', 'r', \
         'sent', now(), now())",
        // A free-text error (could carry a server reply).
        "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, link_ciphertext, \
         next_attempt_at, created_at, last_error) VALUES (gen_random_uuid(), $1, \
         'verify_email', 'r', 'l', now(), now(), '550 <carol@example.org> unknown')",
    ] {
        let result = sqlx::query(sql).bind(user).execute(&env.pool).await;
        assert!(result.is_err(), "{sql}");
    }
    // Deleting the account removes its tokens and messages.
    env.service
        .issue(user, &Email::parse(ADDRESS).unwrap(), t0())
        .await
        .unwrap();
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(env.count("email_verification_tokens").await, 0);
    assert_eq!(env.count("email_outbox").await, 0);
}

#[test]
fn policy_validates_its_settings() {
    let ok = Policy::new("https://a.example/", Duration::hours(24), Duration::ZERO).unwrap();
    assert_eq!(ok.base_url, "https://a.example");
    for bad in [
        "",
        "a.example",
        "ftp://a.example",
        "https://",
        "https://a.example/?x=1",
        "https://a.example/#x",
        "https://a example",
    ] {
        assert!(
            Policy::new(bad, Duration::hours(1), Duration::ZERO).is_err(),
            "{bad:?}"
        );
    }
    assert!(Policy::new(BASE, Duration::ZERO, Duration::ZERO).is_err());
    assert!(Policy::new(BASE, Duration::hours(1), Duration::seconds(-1)).is_err());
}

#[test]
fn retries_back_off_exponentially_up_to_the_cap() {
    let retry = Retry::default();
    assert_eq!(retry.delay_after(1), Duration::seconds(30));
    assert_eq!(retry.delay_after(2), Duration::seconds(60));
    assert_eq!(retry.delay_after(7), Duration::seconds(1920));
    assert_eq!(retry.delay_after(8), Duration::hours(1));
    assert_eq!(retry.delay_after(1_000), Duration::hours(1));
}

#[test]
fn quoted_printable_bodies_decode() {
    let raw = "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
               https://a.example/verify-email?token=3DabcDEF_-=\r\n12=\r\n3 caf=C3=A9 =ZZ\r\n";
    assert_eq!(
        delivery::message_text(raw),
        "https://a.example/verify-email?token=abcDEF_-123 caf\u{e9} =ZZ\r\n"
    );
    assert_eq!(delivery::message_text("A: b\r\n\r\nx=3D"), "x=3D");
}

#[test]
fn latest_link_is_none_for_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(latest_link(dir.path()).unwrap(), None);
    std::fs::write(dir.path().join("a.eml"), "no link here").unwrap();
    assert_eq!(latest_link(dir.path()).unwrap(), None);
}
