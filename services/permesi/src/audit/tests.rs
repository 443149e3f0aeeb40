//! Against the real test PostgreSQL: appends chain, concurrent appends stay gap-free, and
//! verification finds a changed, deleted or inserted row.

use std::net::{IpAddr, Ipv4Addr};

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

async fn pool(label: &str) -> PgPool {
    let url = testkit::fresh_database(label).await;
    let pool = PgPool::connect(&url).await.unwrap();
    sqlx::migrate!("../../db/migrations/permesi")
        .run(&pool)
        .await
        .unwrap();
    pool
}

fn log() -> AuditLog {
    AuditLog::new(ChainKey::new([7; 32]))
}

fn context() -> Context {
    Context {
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        request_id: Some("req-1".into()),
    }
}

fn login(user: Uuid, outcome: Outcome) -> Record {
    Record::new(&context(), Actor::User(user), Action::Login, outcome)
        .target("user", user)
        .detail("method", "pwd")
}

/// Runs `sql` with the append-only triggers off (as a tamperer with table ownership would).
async fn tamper(pool: &PgPool, sql: &'static str) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn fill(pool: &PgPool, n: usize) -> Vec<Uuid> {
    let log = log();
    let mut users = Vec::new();
    for i in 0..n {
        let user = Uuid::now_v7();
        let outcome = if i % 2 == 0 {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        log.append_alone(pool, &login(user, outcome), OffsetDateTime::now_utc())
            .await
            .unwrap();
        users.push(user);
    }
    users
}

#[tokio::test]
async fn appended_entries_chain_and_verify() {
    let pool = pool("audit_chain").await;
    assert_eq!(
        log().verify(&pool).await.unwrap().unwrap(),
        VerifyReport {
            entries: 0,
            head: None
        }
    );
    fill(&pool, 5).await;
    let report = log().verify(&pool).await.unwrap().unwrap();
    assert_eq!(report.entries, 5);
    assert_eq!(report.head.unwrap().0, 5);
    // Another key does not verify the same chain.
    let other = AuditLog::new(ChainKey::new([8; 32]));
    assert_eq!(
        other.verify(&pool).await.unwrap().unwrap_err(),
        Broken {
            seq: 1,
            reason: "entry changed"
        }
    );
}

#[tokio::test]
async fn the_table_refuses_updates_and_deletes() {
    let pool = pool("audit_append_only").await;
    fill(&pool, 1).await;
    for sql in [
        "UPDATE audit_log SET outcome = 'success'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert!(log().verify(&pool).await.unwrap().is_ok());
}

#[tokio::test]
async fn a_changed_row_breaks_the_chain_there() {
    let pool = pool("audit_changed").await;
    fill(&pool, 4).await;
    tamper(
        &pool,
        "UPDATE audit_log SET outcome = 'success' WHERE seq = 2",
    )
    .await;
    assert_eq!(
        log().verify(&pool).await.unwrap().unwrap_err(),
        Broken {
            seq: 2,
            reason: "entry changed"
        }
    );
}

#[tokio::test]
async fn a_changed_client_address_or_detail_breaks_the_chain() {
    let db = pool("audit_changed_ip").await;
    fill(&db, 3).await;
    tamper(
        &db,
        "UPDATE audit_log SET client_ip = '192.0.2.8' WHERE seq = 3",
    )
    .await;
    assert_eq!(log().verify(&db).await.unwrap().unwrap_err().seq, 3);
    let db = pool("audit_changed_detail").await;
    fill(&db, 3).await;
    tamper(
        &db,
        r#"UPDATE audit_log SET detail = '{"method":"hwk"}' WHERE seq = 1"#,
    )
    .await;
    assert_eq!(log().verify(&db).await.unwrap().unwrap_err().seq, 1);
}

#[tokio::test]
async fn a_deleted_row_breaks_the_chain_there() {
    let pool = pool("audit_deleted").await;
    fill(&pool, 4).await;
    tamper(&pool, "DELETE FROM audit_log WHERE seq = 3").await;
    assert_eq!(
        log().verify(&pool).await.unwrap().unwrap_err(),
        Broken {
            seq: 3,
            reason: "entry missing"
        }
    );
    // Renumbering to hide the gap breaks the MAC instead.
    tamper(&pool, "UPDATE audit_log SET seq = seq - 1 WHERE seq > 3").await;
    assert_eq!(
        log().verify(&pool).await.unwrap().unwrap_err(),
        Broken {
            seq: 3,
            reason: "previous MAC does not match"
        }
    );
}

#[tokio::test]
async fn concurrent_appends_stay_gap_free_and_verify() {
    let pool = pool("audit_concurrent").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move { fill(&pool, 10).await }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = log().verify(&pool).await.unwrap().unwrap();
    assert_eq!(report.entries, 80);
}

#[tokio::test]
async fn an_entry_rolls_back_with_its_transaction() {
    let pool = pool("audit_rollback").await;
    let mut tx = pool.begin().await.unwrap();
    log()
        .append(
            &mut tx,
            &login(Uuid::now_v7(), Outcome::Success),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    fill(&pool, 1).await;
    let page = AuditLog::query(&pool, &Filter::default()).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].seq, 1);
    assert!(log().verify(&pool).await.unwrap().is_ok());
}

#[tokio::test]
async fn query_filters_and_pages_newest_first() {
    let pool = pool("audit_query").await;
    let users = fill(&pool, 7).await;
    let org = Uuid::now_v7();
    log()
        .append_alone(
            &pool,
            &Record::new(
                &context(),
                Actor::User(users[0]),
                Action::OrgCreated,
                Outcome::Success,
            )
            .target("org", org)
            .org(org),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let failures = AuditLog::query(
        &pool,
        &Filter {
            outcome: Some("failure".into()),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(failures.entries.len(), 3);
    let first = AuditLog::query(
        &pool,
        &Filter {
            action: Some("auth.login".into()),
            limit: Some(4),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        first.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [7, 6, 5, 4]
    );
    let rest = AuditLog::query(
        &pool,
        &Filter {
            action: Some("auth.login".into()),
            before: first.next_before,
            limit: Some(4),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        rest.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert_eq!(rest.next_before, None);
    let orgs = AuditLog::query(
        &pool,
        &Filter {
            action: Some("org.".into()),
            org_id: Some(org),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(orgs.entries.len(), 1);
    let entry = &orgs.entries[0];
    assert_eq!(entry.action, "org.created");
    assert_eq!(entry.actor_id, Some(users[0]));
    assert_eq!(entry.client_ip, context().client_ip);
    assert_eq!(entry.request_id.as_deref(), Some("req-1"));
    let by_actor = AuditLog::query(
        &pool,
        &Filter {
            actor_id: Some(users[1]),
            ..Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_actor.entries.len(), 1);
    assert_eq!(by_actor.entries[0].detail["method"], "pwd");
}

#[test]
fn action_names_are_unique_and_parse_back() {
    let mut seen = std::collections::HashSet::new();
    for action in Action::ALL {
        assert!(seen.insert(action.as_str()), "{} twice", action.as_str());
        assert_eq!(Action::parse(action.as_str()), Some(*action));
    }
    assert_eq!(Action::parse("auth.nothing"), None);
}

#[test]
fn long_request_ids_are_cut_on_a_char_boundary() {
    let context = Context {
        client_ip: None,
        request_id: Some("é".repeat(100)),
    };
    let record = Record::new(&context, Actor::Anonymous, Action::Login, Outcome::Failure);
    let id = record.context.request_id.unwrap();
    assert!(id.len() <= MAX_REQUEST_ID);
    assert_eq!(id.len(), 128);
}
