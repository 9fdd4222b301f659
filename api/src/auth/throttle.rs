//! Password guessing is slowed, not rewarded with a lock-out: sign-in attempts are metered per
//! account from one address, per client address, and per account (token buckets, `governor`),
//! in that order, and the first refusal ends the attempt without touching the later buckets. A
//! refused attempt is told when to try again; a bucket refills by itself. The per-account
//! bucket does not apply to an address that signed in to the account before (that user, not
//! just that e-mail: an address may have accounts in several organisations, and one of them
//! could be an attacker's), so an attacker who keeps an account's bucket empty slows strangers,
//! not its owner. IPv6 addresses count by
//! their /64 (one host owns that many). The buckets live in each gateway's memory: with N
//! gateways an attacker gets N shares (argon2's cost bounds them).

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use uuid::Uuid;

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};

/// Keys remembered per bucket set before idle ones are dropped.
const MAX_KEYS: usize = 100_000;
/// How long an address that signed in to an account stays known for it.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Attempts per minute (and the burst allowed before that rate applies).
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    pub per_address_per_minute: u32,
    pub per_account_per_minute: u32,
    pub per_account_and_address_per_minute: u32,
    pub burst: u32,
}

pub struct LoginThrottle {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_account_and_address: DefaultKeyedRateLimiter<(String, Option<IpAddr>)>,
    /// Addresses that signed in as a user, and when.
    known: Mutex<HashMap<(Uuid, IpAddr), Instant>>,
    clock: DefaultClock,
}

/// The part of an address that one client controls: all of IPv4, the /64 of IPv6.
pub fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute.max(1)).expect("at least one");
    Quota::per_minute(per_minute).allow_burst(NonZeroU32::new(burst.max(1)).expect("at least one"))
}

impl LoginThrottle {
    pub fn new(limits: LoginLimits) -> Self {
        // The wider buckets allow a burst in proportion to their rate.
        let wide = |per_minute: u32| quota(per_minute, limits.burst.saturating_mul(4).max(per_minute));
        Self {
            per_address: DefaultKeyedRateLimiter::keyed(wide(limits.per_address_per_minute)),
            per_account: DefaultKeyedRateLimiter::keyed(wide(limits.per_account_per_minute)),
            per_account_and_address: DefaultKeyedRateLimiter::keyed(quota(
                limits.per_account_and_address_per_minute,
                limits.burst,
            )),
            known: Mutex::default(),
            clock: DefaultClock::default(),
        }
    }

    /// Remembers that `address` signed in as `user`.
    pub fn signed_in(&self, user: Uuid, address: Option<IpAddr>) {
        let Some(address) = address.map(client_key) else { return };
        let mut known = self.known.lock().expect("not poisoned");
        if known.len() >= MAX_KEYS {
            known.retain(|_, at| at.elapsed() < KNOWN_FOR);
            if known.len() >= MAX_KEYS {
                known.clear();
            }
        }
        known.insert((user, address), Instant::now());
    }

    fn is_known(&self, user: Option<Uuid>, address: Option<IpAddr>) -> bool {
        let (Some(user), Some(address)) = (user, address) else { return false };
        let known = self.known.lock().expect("not poisoned");
        known.get(&(user, address)).is_some_and(|at| at.elapsed() < KNOWN_FOR)
    }

    /// Takes one attempt to sign in to `account` (a lower-cased e-mail; `None` for a refresh),
    /// which would be `user` if the password fits, from `address`; `Err` says how long to wait
    /// before the next may succeed.
    pub fn attempt(&self, account: Option<&str>, user: Option<Uuid>, address: Option<IpAddr>) -> Result<(), Duration> {
        let address = address.map(client_key);
        let refused = |outcome: Result<(), governor::NotUntil<_>>| {
            outcome.err().map(|not_until| not_until.wait_time_from(self.clock.now()).max(Duration::from_secs(1)))
        };
        self.forget_idle();
        if let Some(account) = account
            && let Some(wait) = refused(self.per_account_and_address.check_key(&(account.to_owned(), address)))
        {
            return Err(wait);
        }
        if let Some(address) = address
            && let Some(wait) = refused(self.per_address.check_key(&address))
        {
            return Err(wait);
        }
        if let Some(account) = account
            && !self.is_known(user, address)
            && let Some(wait) = refused(self.per_account.check_key(&account.to_owned()))
        {
            return Err(wait);
        }
        Ok(())
    }

    fn forget_idle(&self) {
        if self.per_address.len() > MAX_KEYS {
            self.per_address.retain_recent();
        }
        if self.per_account.len() > MAX_KEYS {
            self.per_account.retain_recent();
        }
        if self.per_account_and_address.len() > MAX_KEYS {
            self.per_account_and_address.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_address: u32, per_account: u32, per_account_and_address: u32, burst: u32) -> LoginThrottle {
        LoginThrottle::new(LoginLimits {
            per_address_per_minute: per_address,
            per_account_per_minute: per_account,
            per_account_and_address_per_minute: per_account_and_address,
            burst,
        })
    }

    #[test]
    fn an_account_is_slowed_from_one_address_but_not_locked_for_another() {
        let throttle = throttle(60, 60, 3, 3);
        let attacker = Some(IpAddr::from([10, 0, 0, 1]));
        let user = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            assert!(throttle.attempt(Some("a@b.org"), None, attacker).is_ok());
        }
        let wait = throttle.attempt(Some("a@b.org"), None, attacker).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(throttle.attempt(Some("a@b.org"), None, user).is_ok(), "the real user's address has its own bucket");
    }

    #[test]
    fn a_drained_account_bucket_does_not_lock_out_an_address_that_signed_in_before() {
        let throttle = throttle(1000, 1, 1000, 1);
        let owner = Some(IpAddr::from([10, 0, 0, 2]));
        let (user, decoy) = (Some(Uuid::now_v7()), Some(Uuid::now_v7()));
        throttle.signed_in(user.unwrap(), owner);
        // Strangers empty the account's bucket (its burst is 4)…
        for n in 0..4 {
            assert!(throttle.attempt(Some("a@b.org"), user, Some(IpAddr::from([10, 1, 0, n]))).is_ok(), "{n}");
        }
        assert!(throttle.attempt(Some("a@b.org"), user, Some(IpAddr::from([10, 1, 0, 9]))).is_err());
        // …but its owner's address is not refused.
        assert!(throttle.attempt(Some("a@b.org"), user, owner).is_ok());
        // An address known for a decoy account with the same e-mail (an attacker's, in another
        // organisation) is a stranger to the real one.
        throttle.signed_in(decoy.unwrap(), Some(IpAddr::from([10, 1, 0, 9])));
        assert!(throttle.attempt(Some("a@b.org"), user, Some(IpAddr::from([10, 1, 0, 9]))).is_err());
    }

    #[test]
    fn a_refusal_takes_nothing_from_the_other_buckets() {
        let throttle = throttle(1000, 1, 1, 1);
        let attacker = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(throttle.attempt(Some("a@b.org"), None, attacker).is_ok());
        for _ in 0..10 {
            assert!(throttle.attempt(Some("a@b.org"), None, attacker).is_err());
        }
        // The account's own bucket (burst 4) lost one token only: three are left for others.
        for n in 0..3 {
            assert!(throttle.attempt(Some("a@b.org"), None, Some(IpAddr::from([10, 2, 0, n]))).is_ok(), "{n}");
        }
    }

    #[test]
    fn ipv6_counts_by_its_64_prefix() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_key(one), client_key(two));
        assert_ne!(client_key(one), client_key("2001:db8:1:3::1".parse().unwrap()));
    }
}
