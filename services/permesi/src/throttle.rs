//! Growing delays after failed logins, per (client IP, account) and per client IP.
//!
//! With OPAQUE the server pays no password-hashing cost, so these delays (with the admission
//! gate) are what slow online guessing. Deliberately never a global per-account lockout: that
//! would let anyone lock a victim out. A guesser on one address is slowed on that account; a
//! guesser spraying many accounts from one address is slowed by the per-IP budget; the victim
//! logging in from elsewhere is not affected. Keys use the email's blind index, so unknown
//! accounts are throttled exactly like known ones and the answer never says which.
//!
//! After `free` failures within `window`, each further failure requires waiting
//! `base * 2^(n-1)` (capped at `max`) since the last failure before the next attempt; a success
//! clears the (IP, account) counter. State lives in Valkey so every replica sees it (memory
//! without it).

use std::{collections::HashMap, net::IpAddr, sync::Mutex, time::Duration};

use fred::interfaces::KeysInterface;
use server::backends::Cache;
use time::OffsetDateTime;

use crate::identity::email::BlindIndex;

/// Budgets and delays.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed per (IP, account) before delays start.
    pub free_per_account: u32,
    /// Failures allowed per IP (any accounts) before delays start.
    pub free_per_ip: u32,
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Failures are forgotten this long after the last one.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_per_account: 5,
            free_per_ip: 50,
            base: Duration::from_secs(1),
            max: Duration::from_mins(15),
            window: Duration::from_hours(1),
        }
    }
}

/// A login may proceed; how the (IP, account) counter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// Failures counted for this (IP, account) so far: a success only needs to clear them
    /// when there are any.
    pub account_failures: u32,
}

/// Wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delayed {
    /// Whole seconds, at least one.
    pub retry_after_secs: u64,
}

/// The throttle store failed.
#[derive(Debug, thiserror::Error)]
#[error("throttle store unavailable: {0}")]
pub struct ThrottleError(String);

#[derive(Debug)]
enum Store {
    Redis(Cache),
    Memory(Mutex<HashMap<String, (u32, i64)>>),
}

/// Login throttles.
#[derive(Debug)]
pub struct Throttle {
    store: Store,
    policy: ThrottlePolicy,
}

impl Throttle {
    /// In Valkey when a cache is configured, else in memory.
    pub fn new(cache: Option<Cache>, policy: ThrottlePolicy) -> Self {
        let store = match cache {
            Some(client) => Store::Redis(client),
            None => Store::Memory(Mutex::new(HashMap::new())),
        };
        Self { store, policy }
    }

    fn keys(ip: IpAddr, account: &BlindIndex) -> (String, String) {
        (
            format!("permesi:throttle:acct:{ip}:{}", server::to_hex(&account.0)),
            format!("permesi:throttle:ip:{ip}"),
        )
    }

    fn delay(&self, excess: u32) -> Duration {
        let factor = 2u32.saturating_pow(excess.saturating_sub(1).min(30));
        self.policy.base.saturating_mul(factor).min(self.policy.max)
    }

    /// Whether a login from `ip` for `account` may proceed now.
    pub async fn check(
        &self,
        ip: IpAddr,
        account: &BlindIndex,
        now: OffsetDateTime,
    ) -> Result<Result<Allowed, Delayed>, ThrottleError> {
        let (acct, per_ip) = Self::keys(ip, account);
        let counters = self.get_both(&acct, &per_ip).await?;
        let mut wait = Duration::ZERO;
        for ((failures, last), free) in counters
            .into_iter()
            .zip([self.policy.free_per_account, self.policy.free_per_ip])
        {
            if failures > free {
                let until =
                    last + i64::try_from(self.delay(failures - free).as_secs()).unwrap_or(i64::MAX);
                let left = until - now.unix_timestamp();
                if left > 0 {
                    wait = wait.max(Duration::from_secs(left.unsigned_abs()));
                }
            }
        }
        Ok(if wait.is_zero() {
            Ok(Allowed {
                account_failures: counters[0].0,
            })
        } else {
            Err(Delayed {
                retry_after_secs: wait.as_secs().max(1),
            })
        })
    }

    /// Records a failed login.
    pub async fn failed(
        &self,
        ip: IpAddr,
        account: &BlindIndex,
        now: OffsetDateTime,
    ) -> Result<(), ThrottleError> {
        let (acct, per_ip) = Self::keys(ip, account);
        for key in [acct, per_ip] {
            self.bump(&key, now.unix_timestamp()).await?;
        }
        Ok(())
    }

    /// Records a successful login: the (IP, account) counter starts again.
    pub async fn succeeded(&self, ip: IpAddr, account: &BlindIndex) -> Result<(), ThrottleError> {
        let (acct, _) = Self::keys(ip, account);
        match &self.store {
            Store::Redis(client) => client
                .del::<i64, _>(acct)
                .await
                .map(|_| ())
                .map_err(|e| ThrottleError(e.to_string())),
            Store::Memory(map) => {
                map.lock()
                    .map_err(|_| ThrottleError("poisoned".into()))?
                    .remove(&acct);
                Ok(())
            }
        }
    }

    /// Both counters of a login, from one round trip to Valkey (a pipeline: the keys may live
    /// on different cluster nodes).
    async fn get_both(&self, acct: &str, per_ip: &str) -> Result<[(u32, i64); 2], ThrottleError> {
        match &self.store {
            Store::Redis(client) => {
                let pipeline = client.pipeline();
                let error = |e: fred::error::Error| ThrottleError(e.to_string());
                pipeline.get::<(), _>(acct).await.map_err(error)?;
                pipeline.get::<(), _>(per_ip).await.map_err(error)?;
                let (a, b): (Option<String>, Option<String>) =
                    pipeline.all().await.map_err(error)?;
                Ok([parse_counter(a), parse_counter(b)])
            }
            Store::Memory(_) => Ok([self.get(acct).await?, self.get(per_ip).await?]),
        }
    }

    async fn get(&self, key: &str) -> Result<(u32, i64), ThrottleError> {
        match &self.store {
            Store::Redis(client) => {
                let value: Option<String> = client
                    .get(key)
                    .await
                    .map_err(|e| ThrottleError(e.to_string()))?;
                Ok(parse_counter(value))
            }
            Store::Memory(map) => Ok(map
                .lock()
                .map_err(|_| ThrottleError("poisoned".into()))?
                .get(key)
                .copied()
                .unwrap_or((0, 0))),
        }
    }

    async fn bump(&self, key: &str, now: i64) -> Result<(), ThrottleError> {
        let window = self.policy.window.as_secs();
        match &self.store {
            Store::Redis(client) => {
                // Read-modify-write is approximate under races between replicas; an extra
                // failure or one fewer does not change what the throttle protects.
                let (n, _) = self.get(key).await?;
                let value = format!("{}:{now}", n.saturating_add(1));
                client
                    .set::<(), _, _>(
                        key,
                        value,
                        Some(fred::types::Expiration::EX(
                            i64::try_from(window).unwrap_or(3600),
                        )),
                        None,
                        false,
                    )
                    .await
                    .map_err(|e| ThrottleError(e.to_string()))
            }
            Store::Memory(map) => {
                let mut map = map.lock().map_err(|_| ThrottleError("poisoned".into()))?;
                let horizon = now - i64::try_from(window).unwrap_or(i64::MAX);
                map.retain(|_, (_, last)| *last > horizon);
                let entry = map.entry(key.to_owned()).or_insert((0, now));
                *entry = (entry.0.saturating_add(1), now);
                Ok(())
            }
        }
    }
}

/// A stored counter, `<failures>:<unix time of the last>`; none (or garbage) is zero.
fn parse_counter(value: Option<String>) -> (u32, i64) {
    value
        .and_then(|v| {
            let (n, last) = v.split_once(':')?;
            Some((n.parse().ok()?, last.parse().ok()?))
        })
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));
    const OTHER_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_per_account: 3,
            free_per_ip: 10,
            base: Duration::from_secs(2),
            max: Duration::from_mins(1),
            window: Duration::from_hours(1),
        }
    }

    async fn growing_delays(throttle: &Throttle) {
        // A fresh account and address every run: Redis may still hold counters from an
        // earlier run, per account and per address.
        let mut fresh = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut fresh);
        let account = BlindIndex(fresh);
        let mut v6 = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut v6);
        let ip = IpAddr::from(v6);
        let t0 = OffsetDateTime::now_utc();
        for _ in 0..3 {
            assert_eq!(
                throttle.check(ip, &account, t0).await.unwrap().map(drop),
                Ok(())
            );
            throttle.failed(ip, &account, t0).await.unwrap();
        }
        assert_eq!(
            throttle.check(ip, &account, t0).await.unwrap(),
            Ok(Allowed {
                account_failures: 3
            }),
            "3 free failures"
        );
        throttle.failed(ip, &account, t0).await.unwrap();
        // 4th failure: 2 s; the boundary is exact.
        assert_eq!(
            throttle.check(ip, &account, t0).await.unwrap().map(drop),
            Err(Delayed {
                retry_after_secs: 2
            })
        );
        let later = t0 + time::Duration::seconds(2);
        assert_eq!(
            throttle.check(ip, &account, later).await.unwrap().map(drop),
            Ok(())
        );
        throttle.failed(ip, &account, later).await.unwrap();
        // 5th: 4 s.
        assert_eq!(
            throttle.check(ip, &account, later).await.unwrap().map(drop),
            Err(Delayed {
                retry_after_secs: 4
            })
        );
        // The victim on another address is not locked out.
        assert_eq!(
            throttle
                .check(OTHER_IP, &account, later)
                .await
                .unwrap()
                .map(drop),
            Ok(())
        );
        // A success from the guessing address clears its account counter.
        throttle.succeeded(ip, &account).await.unwrap();
        assert_eq!(
            throttle.check(ip, &account, later).await.unwrap().map(drop),
            Ok(())
        );
    }

    #[tokio::test]
    async fn delays_grow_per_ip_and_account_in_memory() {
        growing_delays(&Throttle::new(None, policy())).await;
    }

    #[tokio::test]
    async fn delays_grow_per_ip_and_account_in_redis() {
        let url = std::env::var("PERMESI_TEST_REDIS_URL").expect("run with `just test`");
        let cache = server::backends::connect_cache(&url.into()).await.unwrap();
        growing_delays(&Throttle::new(Some(cache), policy())).await;
    }

    #[tokio::test]
    async fn spraying_many_accounts_from_one_address_hits_the_ip_budget() {
        let throttle = Throttle::new(None, policy());
        let t0 = OffsetDateTime::now_utc();
        for i in 0..11u8 {
            throttle.failed(IP, &BlindIndex([i; 32]), t0).await.unwrap();
        }
        // A fresh account from the same address is delayed; from elsewhere it is not.
        let fresh = BlindIndex([200; 32]);
        assert!(throttle.check(IP, &fresh, t0).await.unwrap().is_err());
        assert_eq!(
            throttle
                .check(OTHER_IP, &fresh, t0)
                .await
                .unwrap()
                .map(drop),
            Ok(())
        );
    }

    #[test]
    fn delays_are_capped() {
        let throttle = Throttle::new(None, policy());
        assert_eq!(throttle.delay(1), Duration::from_secs(2));
        assert_eq!(throttle.delay(3), Duration::from_secs(8));
        assert_eq!(throttle.delay(40), Duration::from_mins(1));
    }
}
