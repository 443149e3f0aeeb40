//! The Valkey/Redis side: `permesi:session:<hex hash>` holds a session's essentials (JSON,
//! sealed under the key name by [`Sealer`], so an entry written or moved by anyone else is a
//! miss, never a session) for at most [`CACHE_TTL`](super::CACHE_TTL); `permesi:session:<hex hash>:revoked`
//! is a tombstone kept until the session's absolute expiry. Both are read in one `MGET`, and
//! a tombstone wins (see the module documentation of [`super`]).

use fred::{interfaces::KeysInterface, types::Expiration};
use server::{backends::Cache, seal::Sealer};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{AuthMethod, CACHE_TTL, Session, SessionId};

/// Key prefix of every session key.
pub(super) const PREFIX: &str = "permesi:session:";
const TOMBSTONE_SUFFIX: &str = ":revoked";
const FORMAT: u8 = 2;

/// What the cache knows about a hash.
pub(super) enum Lookup {
    /// The session was revoked.
    Revoked,
    /// A cached, unrevoked session (its expiry still to be checked).
    Hit(Session),
    /// Nothing (or an entry that does not decode).
    Miss,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    v: u8,
    id: Uuid,
    user: Uuid,
    /// Unix microseconds (PostgreSQL's precision).
    created: i64,
    seen: i64,
    idle: i64,
    abs: i64,
    /// When a factor was last proved (login or step-up).
    auth: i64,
    amr: Vec<String>,
}

pub(super) fn entry_key(hash: &[u8; 32]) -> String {
    format!("{PREFIX}{}", server::to_hex(hash))
}

pub(super) fn tombstone_key(hash: &[u8; 32]) -> String {
    entry_key(hash) + TOMBSTONE_SUFFIX
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).ok()
}

fn encode(session: &Session) -> String {
    let entry = Entry {
        v: FORMAT,
        id: session.id.0,
        user: session.user_id,
        created: micros(session.created_at),
        seen: micros(session.last_seen_at),
        idle: micros(session.idle_expires_at),
        abs: micros(session.absolute_expires_at),
        auth: micros(session.authenticated_at),
        amr: session
            .auth_methods
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
    };
    serde_json::to_string(&entry).unwrap_or_default()
}

fn decode(text: &str) -> Option<Session> {
    let entry: Entry = serde_json::from_str(text).ok()?;
    if entry.v != FORMAT {
        return None;
    }
    Some(Session {
        id: SessionId(entry.id),
        user_id: entry.user,
        created_at: from_micros(entry.created)?,
        last_seen_at: from_micros(entry.seen)?,
        idle_expires_at: from_micros(entry.idle)?,
        absolute_expires_at: from_micros(entry.abs)?,
        authenticated_at: from_micros(entry.auth)?,
        auth_methods: entry
            .amr
            .iter()
            .map(|m| AuthMethod::parse(m))
            .collect::<Option<_>>()?,
    })
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.whole_milliseconds()).unwrap_or(i64::MAX)
}

pub(super) async fn get(
    client: &Cache,
    sealer: &Sealer,
    hash: &[u8; 32],
) -> Result<Lookup, fred::error::Error> {
    let key = entry_key(hash);
    let values: Vec<Option<Vec<u8>>> = client.mget(vec![key.clone(), tombstone_key(hash)]).await?;
    let [entry, tombstone] = values.as_slice() else {
        return Ok(Lookup::Miss);
    };
    if tombstone.is_some() {
        return Ok(Lookup::Revoked);
    }
    Ok(entry
        .as_deref()
        .and_then(|sealed| sealer.open(&key, sealed))
        .and_then(|plain| String::from_utf8(plain).ok())
        .as_deref()
        .and_then(decode)
        .map_or(Lookup::Miss, Lookup::Hit))
}

/// Caches `session` until the earliest of `now + CACHE_TTL`, its idle and absolute expiry.
pub(super) async fn put(
    client: &Cache,
    sealer: &Sealer,
    hash: &[u8; 32],
    session: &Session,
    now: OffsetDateTime,
) -> Result<(), fred::error::Error> {
    let ttl = millis(
        CACHE_TTL
            .min(session.idle_expires_at - now)
            .min(session.absolute_expires_at - now),
    );
    if ttl <= 0 {
        return Ok(());
    }
    let key = entry_key(hash);
    let entry = sealer.seal(&key, encode(session).as_bytes());
    client
        .set::<(), _, _>(key, entry, Some(Expiration::PX(ttl)), None, false)
        .await
}

/// Drops the entry (the database said no).
pub(super) async fn forget(client: &Cache, hash: &[u8; 32]) -> Result<(), fred::error::Error> {
    client.del::<(), _>(entry_key(hash)).await
}

/// Writes the tombstone (until the absolute expiry, at least a second), then drops the entry.
pub(super) async fn revoke(
    client: &Cache,
    hash: &[u8; 32],
    absolute_expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), fred::error::Error> {
    let ttl = millis(absolute_expires_at - now).max(1_000);
    client
        .set::<(), _, _>(
            tombstone_key(hash),
            "1",
            Some(Expiration::PX(ttl)),
            None,
            false,
        )
        .await?;
    forget(client, hash).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_hash_in_hex() {
        let hash = [0xab_u8; 32];
        let hex = "ab".repeat(32);
        assert_eq!(entry_key(&hash), format!("permesi:session:{hex}"));
        assert_eq!(
            tombstone_key(&hash),
            format!("permesi:session:{hex}:revoked")
        );
    }

    #[test]
    fn entries_round_trip_and_hold_no_secret() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let session = Session {
            id: SessionId(Uuid::now_v7()),
            user_id: Uuid::now_v7(),
            created_at: t,
            last_seen_at: t + Duration::microseconds(7),
            idle_expires_at: t + Duration::minutes(30),
            absolute_expires_at: t + Duration::hours(12),
            authenticated_at: t + Duration::minutes(3),
            auth_methods: vec![AuthMethod::Pwd, AuthMethod::Otp],
        };
        let text = encode(&session);
        assert_eq!(decode(&text), Some(session));
        assert!(decode("{}").is_none());
        assert!(decode(&text.replace("\"v\":2", "\"v\":1")).is_none());
        assert!(decode(&text.replace("\"pwd\"", "\"xyz\"")).is_none());
    }
}
