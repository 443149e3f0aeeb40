//! Appending to, reading and verifying the chain in PostgreSQL.

use std::{net::IpAddr, sync::Arc};

use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    AuditError, Record,
    chain::{self, ChainKey, Fields, GENESIS},
};

/// Serialises appends (the chain is a sequence): held until the appending transaction ends.
const APPEND_LOCK: i64 = 0x7065_726d_6175_6469; // "permaudi"

/// Rows read per round trip while verifying.
const VERIFY_BATCH: i64 = 1_000;

/// The audit log over a database, with the chain key.
#[derive(Clone, Debug)]
pub struct AuditLog {
    key: Arc<ChainKey>,
}

/// One stored entry, as the query API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Entry {
    /// Position in the chain.
    pub seq: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    /// `user`, `operator`, `client`, `system` or `anonymous`.
    pub actor_kind: String,
    /// The actor's id, when it has one.
    pub actor_id: Option<Uuid>,
    /// Stable action name (`auth.login`).
    pub action: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Kind of the target (`user`, `session`, `org`, ...).
    pub target_kind: Option<String>,
    /// The target's id.
    pub target_id: Option<String>,
    /// Organization.
    pub org_id: Option<Uuid>,
    /// Client address.
    #[schema(value_type = Option<String>)]
    pub client_ip: Option<IpAddr>,
    /// Request id, to find the request in logs and traces.
    pub request_id: Option<String>,
    /// Non-secret facts.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Filters of the query API; all optional and combined with AND.
#[derive(Debug, Clone, Default, serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Exact action (`auth.login`) or a prefix ending in a dot (`org.`).
    pub action: Option<String>,
    /// Actor id.
    pub actor_id: Option<Uuid>,
    /// Target kind (`user`, `org`, ...).
    pub target_kind: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: Option<String>,
    /// Organization (forced to the caller's org on org endpoints).
    pub org_id: Option<Uuid>,
    /// Only entries before this position (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// A page of entries, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page {
    /// The entries.
    pub entries: Vec<Entry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The newest entry's position and MAC (record it elsewhere to detect truncation).
    pub head: Option<(i64, [u8; 32])>,
}

/// Where and why the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first position that does not verify.
    pub seq: i64,
    /// What is wrong there.
    pub reason: &'static str,
}

fn fields_of(row: &PgRow) -> Result<(Fields, [u8; 32], [u8; 32]), sqlx::Error> {
    let ip: Option<String> = row.try_get("client_ip")?;
    let client_ip = ip
        .map(|s| s.parse::<IpAddr>())
        .transpose()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let hash = |name: &str| -> Result<[u8; 32], sqlx::Error> {
        let bytes: Vec<u8> = row.try_get(name)?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok((
        Fields {
            seq: row.try_get("seq")?,
            occurred_at: row.try_get("occurred_at")?,
            actor_kind: row.try_get("actor_kind")?,
            actor_id: row.try_get("actor_id")?,
            action: row.try_get("action")?,
            outcome: row.try_get("outcome")?,
            target_kind: row.try_get("target_kind")?,
            target_id: row.try_get("target_id")?,
            org_id: row.try_get("org_id")?,
            client_ip,
            request_id: row.try_get("request_id")?,
            detail: row.try_get("detail")?,
        },
        hash("prev_hash")?,
        hash("hash")?,
    ))
}

/// The columns every read selects (a macro so queries stay `'static` literals).
macro_rules! columns {
    () => {
        "SELECT seq, occurred_at, actor_kind, actor_id, action, outcome, target_kind, target_id, \
         org_id, host(client_ip) AS client_ip, request_id, detail, prev_hash, hash FROM audit_log"
    };
}

impl AuditLog {
    /// The log MAC'd under `key`.
    pub fn new(key: ChainKey) -> Self {
        Self { key: Arc::new(key) }
    }

    /// Appends `record` on `conn`, which should be the transaction of the change it records:
    /// the entry commits or rolls back with it. Holds the chain's lock until that transaction
    /// ends, so call it last, just before commit. Returns the entry's position.
    ///
    /// Records of anonymous actors (failed logins, refused attempts) go to the unchained,
    /// pruned `security_events` table instead, without the chain's lock: unauthenticated
    /// traffic must not serialise on it nor grow an undeletable table. Returns their row id.
    pub async fn append(
        &self,
        conn: &mut PgConnection,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<i64, AuditError> {
        if record.actor == super::Actor::Anonymous {
            return security_event(conn, record, now).await;
        }
        // Locks the chain (until this transaction ends) and reads its head, in one round trip.
        let head: (Option<i64>, Option<Vec<u8>>) =
            sqlx::query_as("SELECT head_seq, head_hash FROM audit_log_lock_head($1)")
                .bind(APPEND_LOCK)
                .fetch_one(&mut *conn)
                .await?;
        let (seq, prev) = match head {
            (None, _) | (_, None) => (1, GENESIS),
            (Some(seq), Some(hash)) => (
                seq + 1,
                <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| AuditError::Corrupt(seq))?,
            ),
        };
        let fields = record.fields(seq, chain::to_micros(now));
        let hash = chain::mac(&self.key, &prev, &fields);
        sqlx::query(
            "INSERT INTO audit_log (seq, occurred_at, actor_kind, actor_id, action, outcome, \
             target_kind, target_id, org_id, client_ip, request_id, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::inet, $11, $12, $13, $14)",
        )
        .bind(fields.seq)
        .bind(fields.occurred_at)
        .bind(&fields.actor_kind)
        .bind(fields.actor_id)
        .bind(&fields.action)
        .bind(&fields.outcome)
        .bind(&fields.target_kind)
        .bind(&fields.target_id)
        .bind(fields.org_id)
        .bind(fields.client_ip.map(|ip| ip.to_string()))
        .bind(&fields.request_id)
        .bind(&fields.detail)
        .bind(prev.as_slice())
        .bind(hash.as_slice())
        .execute(&mut *conn)
        .await?;
        Ok(seq)
    }

    /// Appends `record` in a transaction of its own (events that change nothing else, such
    /// as a failed login).
    pub async fn append_alone(
        &self,
        pool: &PgPool,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<i64, AuditError> {
        if record.actor == super::Actor::Anonymous {
            let mut conn = pool.acquire().await?;
            return security_event(&mut conn, record, now).await;
        }
        let mut tx = pool.begin().await?;
        let seq = self.append(&mut tx, record, now).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Checks the whole chain in order: positions without gaps, each entry's `prev_hash` the
    /// MAC before it, each MAC recomputed under the key.
    pub async fn verify(&self, pool: &PgPool) -> Result<Result<VerifyReport, Broken>, AuditError> {
        let mut prev = GENESIS;
        let mut expected = 1_i64;
        let mut entries = 0_u64;
        loop {
            let rows = sqlx::query(concat!(
                columns!(),
                " WHERE seq >= $1 ORDER BY seq LIMIT $2"
            ))
            .bind(expected)
            .bind(VERIFY_BATCH)
            .fetch_all(pool)
            .await?;
            if rows.is_empty() {
                // A row before `expected` cannot hide: every position below was checked.
                let extra: Option<i64> =
                    sqlx::query_scalar("SELECT min(seq) FROM audit_log WHERE seq < 1")
                        .fetch_one(pool)
                        .await?;
                if let Some(seq) = extra {
                    return Ok(Err(Broken {
                        seq,
                        reason: "position out of range",
                    }));
                }
                let head = (expected > 1).then_some((expected - 1, prev));
                return Ok(Ok(VerifyReport { entries, head }));
            }
            for row in &rows {
                let (fields, stored_prev, stored_hash) = fields_of(row).map_err(|_| {
                    AuditError::Corrupt(row.try_get::<i64, _>("seq").unwrap_or_default())
                })?;
                if fields.seq != expected {
                    return Ok(Err(Broken {
                        seq: expected,
                        reason: "entry missing",
                    }));
                }
                if stored_prev != prev {
                    return Ok(Err(Broken {
                        seq: fields.seq,
                        reason: "previous MAC does not match",
                    }));
                }
                let computed = chain::mac(&self.key, &prev, &fields);
                if !bool::from(subtle::ConstantTimeEq::ct_eq(
                    &computed[..],
                    &stored_hash[..],
                )) {
                    return Ok(Err(Broken {
                        seq: fields.seq,
                        reason: "entry changed",
                    }));
                }
                prev = stored_hash;
                expected += 1;
                entries += 1;
            }
        }
    }

    /// A page of security events matching `filter` (actor and org filters match nothing:
    /// these events have neither), newest first; `seq` is the event's id.
    pub async fn security_events(pool: &PgPool, filter: &Filter) -> Result<Page, AuditError> {
        let limit = filter.limit.unwrap_or(50).clamp(1, 200);
        if filter.actor_id.is_some() || filter.org_id.is_some() {
            return Ok(Page {
                entries: Vec::new(),
                next_before: None,
            });
        }
        let (action_exact, action_prefix) = match filter.action.as_deref() {
            Some(a) if a.ends_with('.') => (None, Some(format!("{a}%"))),
            Some(a) => (Some(a.to_owned()), None),
            None => (None, None),
        };
        let rows: Vec<SecurityRow> = sqlx::query_as(
            "SELECT id, occurred_at, action, outcome, target_kind, target_id, \
             host(client_ip) AS client_ip, request_id, detail FROM security_events \
             WHERE ($1::text IS NULL OR action = $1) \
               AND ($2::text IS NULL OR action LIKE $2) \
               AND ($3::text IS NULL OR target_kind = $3) \
               AND ($4::text IS NULL OR target_id = $4) \
               AND ($5::text IS NULL OR outcome = $5) \
               AND ($6::bigint IS NULL OR id < $6) \
             ORDER BY id DESC LIMIT $7",
        )
        .bind(action_exact)
        .bind(action_prefix)
        .bind(&filter.target_kind)
        .bind(&filter.target_id)
        .bind(&filter.outcome)
        .bind(filter.before)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let entries: Vec<Entry> = rows
            .into_iter()
            .map(|r| Entry {
                seq: r.id,
                occurred_at: r.occurred_at,
                actor_kind: "anonymous".to_owned(),
                actor_id: None,
                action: r.action,
                outcome: r.outcome,
                target_kind: r.target_kind,
                target_id: r.target_id,
                org_id: None,
                client_ip: r.client_ip.and_then(|ip| ip.parse().ok()),
                request_id: r.request_id,
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            })
            .collect();
        Ok(paged(entries, limit))
    }

    /// A page of entries matching `filter`, newest first.
    pub async fn query(pool: &PgPool, filter: &Filter) -> Result<Page, AuditError> {
        let limit = filter.limit.unwrap_or(50).clamp(1, 200);
        let (action_exact, action_prefix) = match filter.action.as_deref() {
            Some(a) if a.ends_with('.') => (None, Some(format!("{a}%"))),
            Some(a) => (Some(a.to_owned()), None),
            None => (None, None),
        };
        let rows = sqlx::query(concat!(
            columns!(),
            " WHERE ($1::text IS NULL OR action = $1)
               AND ($2::text IS NULL OR action LIKE $2)
               AND ($3::uuid IS NULL OR actor_id = $3)
               AND ($4::text IS NULL OR target_kind = $4)
               AND ($5::text IS NULL OR target_id = $5)
               AND ($6::text IS NULL OR outcome = $6)
               AND ($7::uuid IS NULL OR org_id = $7)
               AND ($8::bigint IS NULL OR seq < $8)
             ORDER BY seq DESC LIMIT $9"
        ))
        .bind(action_exact)
        .bind(action_prefix)
        .bind(filter.actor_id)
        .bind(&filter.target_kind)
        .bind(&filter.target_id)
        .bind(&filter.outcome)
        .bind(filter.org_id)
        .bind(filter.before)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let (f, _, _) = fields_of(row).map_err(|_| AuditError::Corrupt(0))?;
            entries.push(Entry {
                seq: f.seq,
                occurred_at: f.occurred_at,
                actor_kind: f.actor_kind,
                actor_id: f.actor_id,
                action: f.action,
                outcome: f.outcome,
                target_kind: f.target_kind,
                target_id: f.target_id,
                org_id: f.org_id,
                client_ip: f.client_ip,
                request_id: f.request_id,
                detail: serde_json::from_str(&f.detail).unwrap_or(serde_json::Value::Null),
            });
        }
        Ok(paged(entries, limit))
    }
}

/// A page of at most `limit` entries, read with one more to know whether another page follows.
fn paged(mut entries: Vec<Entry>, limit: i64) -> Page {
    let next_before = if entries.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        entries.pop();
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Page {
        entries,
        next_before,
    }
}

#[derive(sqlx::FromRow)]
struct SecurityRow {
    id: i64,
    occurred_at: OffsetDateTime,
    action: String,
    outcome: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    client_ip: Option<String>,
    request_id: Option<String>,
    detail: String,
}

/// One anonymous record into `security_events` (no chain, no lock).
async fn security_event(
    conn: &mut PgConnection,
    record: &Record,
    now: OffsetDateTime,
) -> Result<i64, AuditError> {
    let fields = record.fields(0, chain::to_micros(now));
    Ok(sqlx::query_scalar(
        "INSERT INTO security_events (occurred_at, action, outcome, target_kind, target_id, \
         client_ip, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8) \
         RETURNING id",
    )
    .bind(fields.occurred_at)
    .bind(&fields.action)
    .bind(&fields.outcome)
    .bind(&fields.target_kind)
    .bind(&fields.target_id)
    .bind(fields.client_ip.map(|ip| ip.to_string()))
    .bind(&fields.request_id)
    .bind(&fields.detail)
    .fetch_one(&mut *conn)
    .await?)
}

/// Deletes security events older than `older_than`, then all but the newest `max_rows`;
/// returns how many went.
pub async fn purge_security_events(
    pool: &PgPool,
    older_than: OffsetDateTime,
    max_rows: i64,
) -> Result<u64, AuditError> {
    let old = sqlx::query("DELETE FROM security_events WHERE occurred_at < $1")
        .bind(older_than)
        .execute(pool)
        .await?
        .rows_affected();
    let over = sqlx::query(
        "DELETE FROM security_events WHERE id <= \
         (SELECT max(id) FROM security_events) - $1",
    )
    .bind(max_rows.max(1))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(old + over)
}
