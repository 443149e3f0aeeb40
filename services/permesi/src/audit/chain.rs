//! The chain MAC: HMAC-SHA256 over the previous MAC and an unambiguous encoding of a row.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

/// Name of the chain key in the secret store.
pub const AUDIT_KEY_NAME: &str = "permesi-audit-key";

/// Domain separation: a MAC of this chain is never valid for anything else.
const DOMAIN: &[u8] = b"permesi-audit-v1\0";

/// The MAC of the (absent) entry before the first.
pub const GENESIS: [u8; 32] = [0; 32];

/// The key the chain is MAC'd with (from the secret store; never in the database).
#[derive(Clone)]
pub struct ChainKey([u8; 32]);

impl ChainKey {
    /// Wraps key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

/// A row's fields exactly as stored (and read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub seq: i64,
    pub occurred_at: OffsetDateTime,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub outcome: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub org_id: Option<Uuid>,
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<String>,
    pub detail: String,
}

/// PostgreSQL keeps microseconds; the MAC is over what it keeps.
pub fn to_micros(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(at)
}

fn put(mac: &mut Hmac<Sha256>, value: Option<&[u8]>) {
    match value {
        None => mac.update(&[0]),
        Some(bytes) => {
            mac.update(&[1]);
            mac.update(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
            mac.update(bytes);
        }
    }
}

/// The MAC of `fields` following an entry whose MAC was `prev`.
pub fn mac(key: &ChainKey, prev: &[u8; 32], fields: &Fields) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC takes any key size");
    mac.update(DOMAIN);
    mac.update(prev);
    mac.update(&fields.seq.to_be_bytes());
    let micros = i64::try_from(fields.occurred_at.unix_timestamp_nanos() / 1_000).unwrap_or(0);
    mac.update(&micros.to_be_bytes());
    put(&mut mac, Some(fields.actor_kind.as_bytes()));
    put(
        &mut mac,
        fields.actor_id.as_ref().map(|u| &u.as_bytes()[..]),
    );
    put(&mut mac, Some(fields.action.as_bytes()));
    put(&mut mac, Some(fields.outcome.as_bytes()));
    put(&mut mac, fields.target_kind.as_deref().map(str::as_bytes));
    put(&mut mac, fields.target_id.as_deref().map(str::as_bytes));
    put(&mut mac, fields.org_id.as_ref().map(|u| &u.as_bytes()[..]));
    let ip = fields.client_ip.map(|ip| ip.to_string());
    put(&mut mac, ip.as_deref().map(str::as_bytes));
    put(&mut mac, fields.request_id.as_deref().map(str::as_bytes));
    put(&mut mac, Some(fields.detail.as_bytes()));
    mac.finalize().into_bytes().into()
}
