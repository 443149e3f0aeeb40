//! Optional record of minted token ids in PostgreSQL, written by a background task so the
//! mint never waits on the database. When the queue is full, records are dropped and counted,
//! never the request.

use std::net::IpAddr;

use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// One minted token, without the token.
#[derive(Debug, Clone)]
pub struct MintRecord {
    /// Token id.
    pub jti: String,
    /// Admitted action.
    pub action: String,
    /// Signing key id.
    pub kid: String,
    /// `iat`.
    pub issued_at: OffsetDateTime,
    /// `exp`.
    pub expires_at: OffsetDateTime,
    /// Client address as genesis saw it.
    pub client_ip: IpAddr,
}

/// The sending side; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<MintRecord>,
    dropped: prometheus::IntCounter,
}

const QUEUE: usize = 10_000;
const BATCH: usize = 500;

impl AuditSink {
    /// Starts the writer task on `pool`.
    pub fn start(pool: PgPool, dropped: prometheus::IntCounter) -> Self {
        let (tx, mut rx) = mpsc::channel::<MintRecord>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = insert(&pool, &batch).await {
                    tracing::warn!(error = %e, records = batch.len(), "admission audit write failed");
                }
                batch.clear();
            }
        });
        Self { tx, dropped }
    }

    /// Queues a record without waiting.
    pub fn record(&self, record: MintRecord) {
        if self.tx.try_send(record).is_err() {
            self.dropped.inc();
        }
    }
}

async fn insert(pool: &PgPool, batch: &[MintRecord]) -> Result<(), sqlx::Error> {
    let mut jti = Vec::with_capacity(batch.len());
    let mut action = Vec::with_capacity(batch.len());
    let mut kid = Vec::with_capacity(batch.len());
    let mut issued = Vec::with_capacity(batch.len());
    let mut expires = Vec::with_capacity(batch.len());
    let mut ip = Vec::with_capacity(batch.len());
    for r in batch {
        jti.push(r.jti.clone());
        action.push(r.action.clone());
        kid.push(r.kid.clone());
        issued.push(r.issued_at);
        expires.push(r.expires_at);
        ip.push(r.client_ip.to_string());
    }
    sqlx::query(
        "INSERT INTO admission_audit (jti, action, kid, issued_at, expires_at, client_ip)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                              $5::timestamptz[], $6::text[]::inet[])
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(&jti)
    .bind(&action)
    .bind(&kid)
    .bind(&issued)
    .bind(&expires)
    .bind(&ip)
    .execute(pool)
    .await
    .map(|_| ())
}
