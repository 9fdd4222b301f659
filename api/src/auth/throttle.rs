//! Password guessing is slowed, not rewarded with a lock-out: sign-in attempts are metered per
//! client address, per account, and per account from one address (token buckets, `governor`).
//! A refused attempt is told when to try again; a bucket refills by itself, so an attacker can
//! slow a real user's sign-in but never lock them out for good. The buckets live in each
//! gateway's memory: with N gateways an attacker gets N shares (argon2's cost bounds them).

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};

/// Keys remembered per bucket set before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

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
    clock: DefaultClock,
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
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt to sign in to `account` (a lower-cased e-mail; `None` for a refresh)
    /// from `address`; `Err` says how long to wait before the next may succeed.
    pub fn attempt(&self, account: Option<&str>, address: Option<IpAddr>) -> Result<(), Duration> {
        let mut wait = Duration::ZERO;
        let mut take = |outcome: Result<(), governor::NotUntil<_>>| {
            if let Err(not_until) = outcome {
                wait = wait.max(not_until.wait_time_from(self.clock.now()));
            }
        };
        if let Some(address) = address {
            take(self.per_address.check_key(&address));
        }
        if let Some(account) = account {
            take(self.per_account.check_key(&account.to_owned()));
            take(self.per_account_and_address.check_key(&(account.to_owned(), address)));
        }
        self.forget_idle();
        if wait.is_zero() { Ok(()) } else { Err(wait.max(Duration::from_secs(1))) }
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

    #[test]
    fn an_account_is_slowed_from_one_address_but_not_locked_for_another() {
        let limits = LoginLimits {
            per_address_per_minute: 60,
            per_account_per_minute: 60,
            per_account_and_address_per_minute: 3,
            burst: 3,
        };
        let throttle = LoginThrottle::new(limits);
        let attacker = Some(IpAddr::from([10, 0, 0, 1]));
        let user = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            assert!(throttle.attempt(Some("a@b.org"), attacker).is_ok());
        }
        let wait = throttle.attempt(Some("a@b.org"), attacker).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(throttle.attempt(Some("a@b.org"), user).is_ok(), "the real user's address has its own bucket");
    }
}
