//! Rate limits and quotas (token buckets, `governor`): requests per client address, whoever
//! sends them, checked before a request is read; requests and query cost per caller (an API
//! key, or a user), and cost per address for callers without credentials, charged once the
//! request is validated and its caller checked (`graphql::quota`).
//!
//! The buckets live in each gateway's memory, and each gateway enforces its share of every
//! limit (`rate_limit_shares`: limit ÷ N). Sharing them through PostgreSQL would put a write
//! on every request's path — more than a small query costs — while a balancer spreads one
//! client's requests over the gateways, so the shares add up to the limit; a client pinned to
//! one gateway gets its share, stricter and never laxer.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::{StateInformationMiddleware, StateSnapshot},
    state::keyed::DefaultKeyedStateStore,
};
use uuid::Uuid;

use crate::{auth::client_key, config::Settings};

/// Buckets remembered per set before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

/// Who a bucket meters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metered {
    Key(Uuid),
    User(Uuid),
    /// A client address (IPv6 by its /64), for callers without credentials.
    Address(IpAddr),
}

impl Metered {
    /// The bucket of an authenticated caller: its key's, or its user's.
    pub fn of(viewer: &crate::auth::Viewer) -> Self {
        match viewer.key() {
            Some(key) => Metered::Key(key.id),
            None => Metered::User(viewer.user_id),
        }
    }
}

type Buckets<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// What is left of a bucket, for the `RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// Requests per minute.
    pub per_minute: u32,
    /// The bucket's size: what may be sent at once from full.
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

/// A request over a limit: when to try again, and the bucket as it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: Duration,
    pub allowance: Allowance,
}

pub struct RateLimits {
    addresses: Limit<IpAddr>,
    requests: Limit<Metered>,
    cost: Limit<Metered>,
    /// Query cost per unit of the cost buckets: 1 unless the cost per minute exceeds 32 bits
    /// (the buckets'), then just enough for it to fit.
    cost_unit: u64,
}

impl RateLimits {
    pub fn new(settings: &Settings) -> Self {
        let shares = settings.rate_limit_shares.max(1);
        let address_rate = settings.rate_limit_address_requests_per_minute;
        let cost_per_minute = settings.rate_limit_cost_per_minute / u64::from(shares);
        let cost_unit = cost_per_minute.div_ceil(u64::from(u32::MAX)).max(1);
        let cost_units = u32::try_from(cost_per_minute / cost_unit).expect("scaled to fit. This is a bug.");
        Self {
            addresses: Limit::new(address_rate / shares, address_rate / 5 / shares),
            requests: Limit::new(settings.rate_limit_requests_per_minute / shares, settings.rate_limit_burst / shares),
            cost: Limit::new(cost_units, cost_units),
            cost_unit,
        }
    }

    /// Takes one request from `address`'s bucket.
    pub fn address_request(&self, address: IpAddr) -> Result<Allowance, Refusal> {
        self.addresses.take(&client_key(address), 1)
    }

    /// Takes one request from `caller`'s bucket.
    pub fn request(&self, caller: Metered) -> Result<Allowance, Refusal> {
        self.requests.take(&caller, 1)
    }

    /// Takes a request's estimated cost from `caller`'s bucket; a cost over the whole bucket
    /// takes the whole bucket (`max_query_complexity` keeps it from getting there).
    pub fn cost(&self, caller: Metered, cost: usize) -> Result<Allowance, Refusal> {
        let units = (cost as u64).div_ceil(self.cost_unit);
        self.cost.take(&caller, u32::try_from(units).unwrap_or(u32::MAX))
    }
}

struct Limit<K: std::hash::Hash + Eq + Clone> {
    buckets: Buckets<K>,
    per_minute: u32,
    burst: u32,
    clock: DefaultClock,
}

impl<K: std::hash::Hash + Eq + Clone> Limit<K> {
    fn new(per_minute: u32, burst: u32) -> Self {
        let (per_minute, burst) = (per_minute.max(1), burst.max(1));
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).expect("at least one"))
            .allow_burst(NonZeroU32::new(burst).expect("at least one"));
        let buckets = RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>();
        Self { buckets, per_minute, burst, clock: DefaultClock::default() }
    }

    fn take(&self, key: &K, n: u32) -> Result<Allowance, Refusal> {
        if self.buckets.len() > MAX_KEYS {
            self.buckets.retain_recent();
        }
        let Some(n) = NonZeroU32::new(n.min(self.burst)) else { return Ok(self.allowance(self.burst)) };
        match self.buckets.check_key_n(key, n).expect("n is at most the burst. This is a bug.") {
            Ok(snapshot) => Ok(self.allowance_after(&snapshot)),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                // Whole seconds (`Retry-After`), rounded up: trying again then succeeds.
                let retry_after = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                    .max(Duration::from_secs(1));
                Err(Refusal { retry_after, allowance: self.allowance(0) })
            }
        }
    }

    fn allowance_after(&self, snapshot: &StateSnapshot) -> Allowance {
        self.allowance(snapshot.remaining_burst_capacity())
    }

    fn allowance(&self, remaining: u32) -> Allowance {
        let missing = u64::from(self.burst.saturating_sub(remaining));
        Allowance {
            per_minute: self.per_minute,
            limit: self.burst,
            remaining,
            reset_secs: (missing * 60).div_ceil(u64::from(self.per_minute)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, burst: u32) -> RateLimits {
        RateLimits::new(&Settings {
            rate_limit_requests_per_minute: per_minute,
            rate_limit_burst: burst,
            rate_limit_cost_per_minute: 100,
            ..Settings::default()
        })
    }

    #[test]
    fn a_caller_gets_its_burst_then_waits_for_the_rate() {
        let limits = limits(60, 3);
        let caller = Metered::Key(Uuid::now_v7());
        let remaining: Vec<u32> = (0..3).map(|_| limits.request(caller).unwrap().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refusal = limits.request(caller).unwrap_err();
        assert_eq!(refusal.retry_after, Duration::from_secs(1), "one a second");
        assert_eq!(refusal.allowance.remaining, 0);
        assert!(limits.request(Metered::User(Uuid::now_v7())).is_ok(), "another caller has its own bucket");
    }

    #[test]
    fn cost_is_taken_in_one_piece() {
        let limits = limits(60, 3);
        let caller = Metered::User(Uuid::now_v7());
        assert_eq!(limits.cost(caller, 60).unwrap().remaining, 40);
        assert!(limits.cost(caller, 41).is_err(), "what does not fit is refused");
        assert_eq!(limits.cost(caller, 40).unwrap().remaining, 0, "and took nothing");
        assert!(limits.cost(caller, 1_000_000).is_err(), "more than the bucket: refused, never panics");
    }

    #[test]
    fn gateways_share_a_limit() {
        let settings = Settings {
            rate_limit_requests_per_minute: 600,
            rate_limit_burst: 100,
            rate_limit_shares: 4,
            ..Settings::default()
        };
        let limits = RateLimits::new(&settings);
        let allowance = limits.request(Metered::User(Uuid::now_v7())).unwrap();
        assert_eq!((allowance.per_minute, allowance.limit), (150, 25));
    }
}
