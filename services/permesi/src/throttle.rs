//! Bounds on online guessing: every attempt is counted *before* it is answered, per account
//! (all networks) and per client network, checked and counted in one atomic step.
//!
//! OPAQUE's second message lets a client judge a password guess without ever sending the
//! finish, so failed finishes are the wrong thing to count: a login *start* is the attempt.
//! Each [`Lane`] (password, second factor, passkey) has its own counters, so a password locked
//! by a guesser never blocks the owner's passkey or an emailed reset link. Keys use the email's
//! blind index, never the address, so unknown accounts (which get OPAQUE fake records) are
//! counted and refused exactly like known ones and the answer says nothing more.
//!
//! After `free` unsettled attempts within `window`, attempt `free + k` must wait
//! `base * 2^(k-1)` (capped at `max`) after the previous one; a refused attempt is not counted
//! and changes nothing. A success settles the account's counter of its lane and takes its
//! attempt back from the network's, so a network counts unsettled attempts only. The first refusal
//! of a key in a window is reported ([`Refused::first_in_window`]) so callers audit one entry
//! per lock window, not one per request.
//!
//! In Valkey the check and count is one Lua script (one round trip, atomic across replicas);
//! without Valkey it runs in memory under a lock. The keys of one attempt may live on different
//! hash slots, so the throttle needs a standalone (or primary/replica) Valkey, not a cluster.

use std::{collections::HashMap, net::IpAddr, sync::Mutex, time::Duration};

use fred::interfaces::LuaInterface;
use ipnet::IpNet;
use server::backends::Cache;
use time::OffsetDateTime;

use crate::identity::email::BlindIndex;

/// Budgets and delays.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Unsettled attempts per account (from anywhere) before delays start.
    pub free_per_account: u32,
    /// Attempts per client network (any accounts) before delays start.
    pub free_per_network: u32,
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Counters are forgotten this long after the last counted attempt.
    pub window: Duration,
    /// IPv6 clients count per network of this many bits (IPv4 per address).
    pub ipv6_prefix: u8,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_per_account: 5,
            free_per_network: 50,
            base: Duration::from_secs(1),
            max: Duration::from_mins(15),
            window: Duration::from_hours(1),
            ipv6_prefix: server::client_ip::DEFAULT_IPV6_PREFIX,
        }
    }
}

/// What is being tried: each lane has its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// OPAQUE login starts (and step-up password starts).
    Password,
    /// TOTP and recovery codes, across all challenges.
    SecondFactor,
    /// Passkey login starts.
    Passkey,
}

impl Lane {
    /// Stable name in keys and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::SecondFactor => "second_factor",
            Self::Passkey => "passkey",
        }
    }
}

/// Which budget refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The account's, from every network.
    Account,
    /// The client network's, over every account.
    Network,
}

/// An attempt refused: wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Whole seconds, at least one.
    pub retry_after_secs: u64,
    /// Which budget is spent.
    pub scope: Scope,
    /// The first refusal of that budget in this window (audit it; later ones are not).
    pub first_in_window: bool,
}

/// The throttle store failed (callers fail closed: no attempt without a count).
#[derive(Debug, thiserror::Error)]
#[error("throttle store unavailable: {0}")]
pub struct ThrottleError(String);

/// A counter: attempts and the unix time of the last one.
type Counter = (u32, i64);

#[derive(Debug, Default)]
struct MemoryState {
    counters: HashMap<String, Counter>,
    flags: HashMap<String, i64>,
}

#[derive(Debug)]
enum Store {
    Redis(Cache),
    Memory(Mutex<MemoryState>),
}

/// Most keys kept in memory before expired ones are dropped.
const MEMORY_CAPACITY: usize = 100_000;

/// Check-and-count of one attempt. KEYS: account counter, network counter, account flag,
/// network flag. ARGV: now, free per account, free per network, base, max, window (seconds),
/// whether there is an account. Returns {admitted, wait, first_in_window, by_account}.
const ATTEMPT_LUA: &str = r"
local now = tonumber(ARGV[1])
local base, maxd, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local with_account = ARGV[7] == '1'
local function wait(key, free)
  local v = redis.call('HMGET', key, 'n', 'last')
  local n, last = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if n < free then return 0 end
  local d = base * 2 ^ math.min(n - free, 30)
  if d > maxd then d = maxd end
  local left = last + d - now
  if left < 0 then return 0 end
  return left
end
local wa = 0
if with_account then wa = wait(KEYS[1], tonumber(ARGV[2])) end
local wn = wait(KEYS[2], tonumber(ARGV[3]))
if wa > 0 or wn > 0 then
  local flag, by_account = KEYS[4], 0
  if wa > 0 then flag, by_account = KEYS[3], 1 end
  local first = redis.call('SET', flag, '1', 'NX', 'EX', window)
  local w = wa
  if wn > w then w = wn end
  return {0, math.ceil(w), first and 1 or 0, by_account}
end
local from = 2
if with_account then from = 1 end
for i = from, 2 do
  redis.call('HINCRBY', KEYS[i], 'n', 1)
  redis.call('HSET', KEYS[i], 'last', now)
  redis.call('EXPIRE', KEYS[i], window)
end
return {1, 0, 0, 0}
";

/// A success: the account's counter starts again and the network's loses the attempt, so a
/// network counts *unsettled* attempts (many people behind one address who log in fine never
/// wait). KEYS: account counter, network counter.
const SETTLE_LUA: &str = r"
redis.call('DEL', KEYS[1])
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
if n > 0 then redis.call('HINCRBY', KEYS[2], 'n', -1) end
return 0
";

/// Login throttles.
#[derive(Debug)]
pub struct Throttle {
    store: Store,
    policy: ThrottlePolicy,
    script_sha: String,
    settle_sha: String,
}

/// The keys of one attempt.
struct Keys {
    account: String,
    network: String,
    account_flag: String,
    network_flag: String,
}

impl Throttle {
    /// In Valkey when a cache is configured, else in memory.
    pub fn new(cache: Option<Cache>, policy: ThrottlePolicy) -> Self {
        let store = match cache {
            Some(client) => Store::Redis(client),
            None => Store::Memory(Mutex::new(MemoryState::default())),
        };
        let sha = |lua: &str| server::to_hex(&<sha1::Sha1 as sha1::Digest>::digest(lua));
        Self {
            store,
            policy,
            script_sha: sha(ATTEMPT_LUA),
            settle_sha: sha(SETTLE_LUA),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    /// The network `ip` counts as.
    pub fn network_of(&self, ip: IpAddr) -> IpNet {
        server::client_ip::network_of(ip, self.policy.ipv6_prefix)
    }

    fn account_key(lane: Lane, account: &BlindIndex) -> String {
        format!(
            "permesi:throttle:{}:acct:{}",
            lane.as_str(),
            server::to_hex(&account.0)
        )
    }

    fn keys(&self, lane: Lane, ip: IpAddr, account: Option<&BlindIndex>) -> Keys {
        let account = account.map_or_else(
            || format!("permesi:throttle:{}:acct:-", lane.as_str()),
            |a| Self::account_key(lane, a),
        );
        let network = format!(
            "permesi:throttle:{}:net:{}",
            lane.as_str(),
            self.network_of(ip)
        );
        Keys {
            account_flag: format!("{account}:refused"),
            network_flag: format!("{network}:refused"),
            account,
            network,
        }
    }

    /// Checks and counts one attempt of `lane` from `ip` on `account` (none for a usernameless
    /// passkey start: only the network counts), atomically.
    pub async fn attempt(
        &self,
        lane: Lane,
        ip: IpAddr,
        account: Option<&BlindIndex>,
        now: OffsetDateTime,
    ) -> Result<Result<(), Refused>, ThrottleError> {
        let keys = self.keys(lane, ip, account);
        let p = &self.policy;
        let args = [
            now.unix_timestamp(),
            i64::from(p.free_per_account),
            i64::from(p.free_per_network),
            secs(p.base),
            secs(p.max),
            secs(p.window),
            i64::from(account.is_some()),
        ];
        let [admitted, wait, first, by_account] = match &self.store {
            Store::Redis(client) => {
                let keys = vec![
                    keys.account,
                    keys.network,
                    keys.account_flag,
                    keys.network_flag,
                ];
                let args: Vec<i64> = args.to_vec();
                let error = |e: fred::error::Error| ThrottleError(e.to_string());
                let answer: Vec<i64> = match client
                    .evalsha(self.script_sha.as_str(), keys.clone(), args.clone())
                    .await
                {
                    Err(e) if e.details().starts_with("NOSCRIPT") => {
                        client.eval(ATTEMPT_LUA, keys, args).await.map_err(error)?
                    }
                    other => other.map_err(error)?,
                };
                <[i64; 4]>::try_from(answer)
                    .map_err(|_| ThrottleError("unexpected script answer".into()))?
            }
            Store::Memory(state) => {
                let mut state = state.lock().map_err(|_| ThrottleError("poisoned".into()))?;
                memory_attempt(&mut state, &keys, &args)
            }
        };
        if admitted == 1 {
            return Ok(Ok(()));
        }
        Ok(Err(Refused {
            retry_after_secs: u64::try_from(wait).unwrap_or(1).max(1),
            scope: if by_account == 1 {
                Scope::Account
            } else {
                Scope::Network
            },
            first_in_window: first == 1,
        }))
    }

    /// A success on `account` in `lane` from `ip`: the account's counter starts again and the
    /// network's forgets one attempt (one round trip).
    pub async fn settle(
        &self,
        lane: Lane,
        ip: IpAddr,
        account: &BlindIndex,
    ) -> Result<(), ThrottleError> {
        let keys = self.keys(lane, ip, Some(account));
        match &self.store {
            Store::Redis(client) => run_script::<i64>(
                client,
                &self.settle_sha,
                SETTLE_LUA,
                vec![keys.account, keys.network],
                Vec::new(),
            )
            .await
            .map(drop),
            Store::Memory(state) => {
                let mut state = state.lock().map_err(|_| ThrottleError("poisoned".into()))?;
                state.counters.remove(&keys.account);
                if let Some((n, _)) = state.counters.get_mut(&keys.network) {
                    *n = n.saturating_sub(1);
                }
                Ok(())
            }
        }
    }
}

/// `EVALSHA`, falling back to `EVAL` once when the server does not have the script yet.
async fn run_script<R: fred::types::FromValue>(
    client: &Cache,
    sha: &str,
    lua: &str,
    keys: Vec<String>,
    args: Vec<i64>,
) -> Result<R, ThrottleError> {
    let error = |e: fred::error::Error| ThrottleError(e.to_string());
    match client.evalsha(sha, keys.clone(), args.clone()).await {
        Err(e) if e.details().starts_with("NOSCRIPT") => {
            client.eval(lua, keys, args).await.map_err(error)
        }
        other => other.map_err(error),
    }
}

/// The throttle key of an account known by id only (a second factor after a passkey login,
/// where no address was typed): a hash, so it never collides with an email's blind index.
pub fn user_account(user: uuid::Uuid) -> BlindIndex {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(b"permesi:throttle:user:");
    hash.update(user.as_bytes());
    BlindIndex(hash.finalize().into())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// [`ATTEMPT_LUA`] in memory, with the same arguments and answer.
fn memory_attempt(state: &mut MemoryState, keys: &Keys, args: &[i64; 7]) -> [i64; 4] {
    let [
        now,
        free_account,
        free_network,
        base,
        max,
        window,
        with_account,
    ] = *args;
    if state.counters.len() + state.flags.len() >= MEMORY_CAPACITY {
        state.counters.retain(|_, (_, last)| *last + window > now);
        state.flags.retain(|_, until| *until > now);
    }
    let wait = |state: &MemoryState, key: &str, free: i64| -> i64 {
        let (n, last) = state.counters.get(key).copied().unwrap_or((0, 0));
        if last + window <= now || i64::from(n) < free {
            return 0;
        }
        let excess = u32::try_from(i64::from(n) - free)
            .unwrap_or(u32::MAX)
            .min(30);
        let delay = base.saturating_mul(1 << excess).min(max);
        (last + delay - now).max(0)
    };
    let by_account = if with_account == 1 {
        wait(state, &keys.account, free_account)
    } else {
        0
    };
    let by_network = wait(state, &keys.network, free_network);
    if by_account > 0 || by_network > 0 {
        let flag = if by_account > 0 {
            &keys.account_flag
        } else {
            &keys.network_flag
        };
        let first = state.flags.get(flag).is_none_or(|until| *until <= now);
        if first {
            state.flags.insert(flag.clone(), now + window);
        }
        return [
            0,
            by_account.max(by_network),
            i64::from(first),
            i64::from(by_account > 0),
        ];
    }
    let counted: &[&String] = if with_account == 1 {
        &[&keys.account, &keys.network]
    } else {
        &[&keys.network]
    };
    for key in counted {
        let entry = state.counters.entry((*key).clone()).or_insert((0, now));
        if entry.1 + window <= now {
            *entry = (0, now);
        }
        *entry = (entry.0.saturating_add(1), now);
    }
    [1, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_per_account: 3,
            free_per_network: 10,
            base: Duration::from_secs(2),
            max: Duration::from_mins(1),
            window: Duration::from_hours(1),
            ipv6_prefix: 64,
        }
    }

    fn fresh_account() -> BlindIndex {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        BlindIndex(bytes)
    }

    /// A fresh IPv6 /64 each run: Valkey may hold counters from an earlier run.
    fn fresh_ip() -> IpAddr {
        let mut v6 = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut v6);
        v6[0] = 0x20;
        IpAddr::from(v6)
    }

    fn other_host_same_64(ip: IpAddr) -> IpAddr {
        let IpAddr::V6(v6) = ip else { unreachable!() };
        let mut octets = v6.octets();
        octets[15] ^= 0xff;
        IpAddr::from(octets)
    }

    async fn ok(t: &Throttle, lane: Lane, ip: IpAddr, a: &BlindIndex, at: OffsetDateTime) -> bool {
        t.attempt(lane, ip, Some(a), at).await.unwrap().is_ok()
    }

    async fn budget_then_growing_delays(throttle: &Throttle) {
        let account = fresh_account();
        let ip = fresh_ip();
        let t0 = OffsetDateTime::now_utc();
        for _ in 0..3 {
            assert!(ok(throttle, Lane::Password, ip, &account, t0).await);
        }
        // The 4th attempt waits 2 s after the 3rd, whatever the network: the account is bounded.
        let refused = throttle
            .attempt(Lane::Password, fresh_ip(), Some(&account), t0)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.retry_after_secs, 2);
        assert_eq!(refused.scope, Scope::Account);
        assert!(refused.first_in_window);
        let again = throttle
            .attempt(Lane::Password, ip, Some(&account), t0)
            .await
            .unwrap()
            .unwrap_err();
        assert!(!again.first_in_window, "one report per lock window");
        // Refusals are not counted: at 2 s the attempt passes, then 4 s are needed.
        let t2 = t0 + time::Duration::seconds(2);
        assert!(ok(throttle, Lane::Password, ip, &account, t2).await);
        let refused = throttle
            .attempt(Lane::Password, ip, Some(&account), t2)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.retry_after_secs, 4);
        // Other lanes of the same account are untouched (the owner's passkey still works).
        assert!(ok(throttle, Lane::Passkey, ip, &account, t2).await);
        assert!(ok(throttle, Lane::SecondFactor, ip, &account, t2).await);
        // A success settles the account.
        throttle.settle(Lane::Password, ip, &account).await.unwrap();
        assert!(ok(throttle, Lane::Password, ip, &account, t2).await);
    }

    async fn a_network_is_bounded_over_all_accounts(throttle: &Throttle) {
        let ip = fresh_ip();
        let t0 = OffsetDateTime::now_utc();
        for _ in 0..10 {
            assert!(ok(throttle, Lane::Password, ip, &fresh_account(), t0).await);
        }
        // Another host of the same /64 shares the budget; another network does not.
        let refused = throttle
            .attempt(
                Lane::Password,
                other_host_same_64(ip),
                Some(&fresh_account()),
                t0,
            )
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.scope, Scope::Network);
        assert!(ok(throttle, Lane::Password, fresh_ip(), &fresh_account(), t0).await);
        // Usernameless passkey starts count per network only.
        for _ in 0..10 {
            assert!(
                throttle
                    .attempt(Lane::Passkey, ip, None, t0)
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        assert!(
            throttle
                .attempt(Lane::Passkey, ip, None, t0)
                .await
                .unwrap()
                .is_err()
        );
    }

    async fn successes_do_not_use_up_a_network(throttle: &Throttle) {
        // Many people behind one address who log in fine never wait: a success settles its
        // attempt in the network's count too.
        let ip = fresh_ip();
        let t0 = OffsetDateTime::now_utc();
        for _ in 0..30 {
            let account = fresh_account();
            assert!(ok(throttle, Lane::Password, ip, &account, t0).await);
            throttle.settle(Lane::Password, ip, &account).await.unwrap();
        }
        assert!(ok(throttle, Lane::Password, ip, &fresh_account(), t0).await);
    }

    #[tokio::test]
    async fn attempts_are_bounded_in_memory() {
        let throttle = Throttle::new(None, policy());
        budget_then_growing_delays(&throttle).await;
        a_network_is_bounded_over_all_accounts(&throttle).await;
        successes_do_not_use_up_a_network(&throttle).await;
    }

    async fn redis() -> Throttle {
        let url = std::env::var("PERMESI_TEST_REDIS_URL").expect("run with `just test`");
        let cache = server::backends::connect_cache(&url.into()).await.unwrap();
        Throttle::new(Some(cache), policy())
    }

    #[tokio::test]
    async fn attempts_are_bounded_in_redis() {
        let throttle = redis().await;
        budget_then_growing_delays(&throttle).await;
        a_network_is_bounded_over_all_accounts(&throttle).await;
        successes_do_not_use_up_a_network(&throttle).await;
    }

    #[tokio::test]
    async fn concurrent_attempts_never_exceed_the_budget_in_redis() {
        // Check and count are one step: 30 attempts racing on one account from many networks
        // admit exactly the free budget (the read-then-write counter admitted most of them).
        let throttle = std::sync::Arc::new(redis().await);
        let account = std::sync::Arc::new(fresh_account());
        let t0 = OffsetDateTime::now_utc();
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let (throttle, account) = (throttle.clone(), account.clone());
                tokio::spawn(async move {
                    throttle
                        .attempt(Lane::Password, fresh_ip(), Some(&account), t0)
                        .await
                        .unwrap()
                        .is_ok()
                })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        assert_eq!(admitted, 3);
    }

    #[test]
    fn memory_delays_are_capped() {
        let mut state = MemoryState::default();
        let keys = Keys {
            account: "a".into(),
            network: "n".into(),
            account_flag: "af".into(),
            network_flag: "nf".into(),
        };
        state.counters.insert("a".into(), (40, 1_000));
        let answer = memory_attempt(&mut state, &keys, &[1_000, 3, 10, 2, 60, 3600, 1]);
        assert_eq!(answer, [0, 60, 1, 1]);
    }
}
