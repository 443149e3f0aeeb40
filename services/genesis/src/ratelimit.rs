//! Token-bucket rate limits per client network and for the whole instance, in process.
//!
//! A client is its IPv4 address or its IPv6 network (a /64 by default,
//! [`server::client_ip::network_of`]): one host with a routed /64 is one client, not 2^64.
//!
//! Per-replica by design: every replica enforces the limits on what reaches it, so with N
//! replicas the effective global limit is N times the setting. That keeps the edge free of a
//! shared round trip per request; the proof-of-work and single-use challenges are what bound
//! abuse across replicas.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Entries kept per shard before idle buckets are pruned.
const SHARD_CAPACITY: usize = 16_384;
const SHARDS: usize = 16;

/// A refill rate and a burst size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size.
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            updated: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / rate.per_second,
            ))
        }
    }
}

/// The per-IP and global limits.
#[derive(Debug)]
pub struct RateLimiter {
    per_ip: Rate,
    global: Mutex<(Rate, Bucket)>,
    shards: Vec<Mutex<HashMap<ipnet::IpNet, Bucket>>>,
    hasher: RandomState,
    ipv6_prefix: u8,
}

/// A request over a limit, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Seconds until a token is available (at least 1, for `Retry-After`).
    pub retry_after_secs: u64,
}

impl RateLimiter {
    /// Limits per client network (IPv6 networks of `ipv6_prefix` bits) and for the whole
    /// instance.
    pub fn new(per_ip: Rate, global: Rate, ipv6_prefix: u8) -> Self {
        let now = Instant::now();
        Self {
            per_ip,
            global: Mutex::new((global, Bucket::full(global, now))),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            ipv6_prefix,
        }
    }

    /// Admits or refuses one request from `ip` at `now`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        let ip = server::client_ip::network_of(ip, self.ipv6_prefix);
        let limited = |wait: Duration| Limited {
            // Whole seconds, rounded up, at least one.
            retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        };
        let shard = &self.shards[usize::try_from(self.hasher.hash_one(ip)).unwrap_or(0) % SHARDS];
        {
            let mut map = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.len() >= SHARD_CAPACITY && !map.contains_key(&ip) {
                // Forget buckets that have refilled: they carry no information.
                let per_ip = self.per_ip;
                map.retain(|_, b| {
                    let idle = now.saturating_duration_since(b.updated).as_secs_f64();
                    b.tokens + idle * per_ip.per_second < per_ip.burst
                });
            }
            map.entry(ip)
                .or_insert_with(|| Bucket::full(self.per_ip, now))
                .take(self.per_ip, now)
                .map_err(limited)?;
        }
        let mut global = self
            .global
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (rate, bucket) = &mut *global;
        bucket.take(*rate, now).map_err(limited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP_A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const IP_B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn per_ip_burst_then_refill() {
        let limiter = RateLimiter::new(
            Rate {
                per_second: 2.0,
                burst: 3.0,
            },
            Rate {
                per_second: 1000.0,
                burst: 1000.0,
            },
            64,
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(IP_A, t0).is_ok());
        }
        assert_eq!(
            limiter.check(IP_A, t0),
            Err(Limited {
                retry_after_secs: 1
            })
        );
        // Another client is not affected.
        assert!(limiter.check(IP_B, t0).is_ok());
        // Half a second later one token (2/s) is back.
        assert!(limiter.check(IP_A, t0 + Duration::from_millis(500)).is_ok());
        assert!(
            limiter
                .check(IP_A, t0 + Duration::from_millis(500))
                .is_err()
        );
    }

    #[test]
    fn global_limit_applies_across_clients() {
        let limiter = RateLimiter::new(
            Rate {
                per_second: 100.0,
                burst: 100.0,
            },
            Rate {
                per_second: 0.5,
                burst: 2.0,
            },
            64,
        );
        let t0 = Instant::now();
        assert!(limiter.check(IP_A, t0).is_ok());
        assert!(limiter.check(IP_B, t0).is_ok());
        // 0.5 tokens/s: the next token is two seconds away.
        assert_eq!(
            limiter.check(IP_A, t0),
            Err(Limited {
                retry_after_secs: 2
            })
        );
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_network() {
        let limiter = RateLimiter::new(
            Rate {
                per_second: 0.001,
                burst: 2.0,
            },
            Rate {
                per_second: 1000.0,
                burst: 1000.0,
            },
            64,
        );
        let t0 = Instant::now();
        // Rotating addresses inside one /64 does not buy more requests.
        for host in ["2001:db8:0:1::1", "2001:db8:0:1::2"] {
            assert!(limiter.check(host.parse().unwrap(), t0).is_ok());
        }
        assert!(
            limiter
                .check("2001:db8:0:1::3".parse().unwrap(), t0)
                .is_err()
        );
        // The next /64 is another client.
        assert!(
            limiter
                .check("2001:db8:0:2::1".parse().unwrap(), t0)
                .is_ok()
        );
    }
}
