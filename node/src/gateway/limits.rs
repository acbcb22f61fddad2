//! Per-caller rate limit of unpriced calls: the treasury pays workers for them, so one caller
//! must not be able to spend it at the speed of the network. A caller over the limit gets a
//! `429` JSON error with `Retry-After`. Callers are told apart by IP address (behind a proxy,
//! that is the proxy's); IPv6 callers by their /64, the block one subscriber usually holds.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};

/// Checks between sweeps of callers whose allowance is full again (bounds the table).
const SWEEP_EVERY: u64 = 4096;

/// Unpriced calls allowed per caller.
pub(crate) struct FreeRate {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

impl std::fmt::Debug for FreeRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreeRate").field("callers", &self.limiter.len()).finish()
    }
}

impl FreeRate {
    /// `per_minute` unpriced calls per caller, up to a sixth of them (ten seconds' worth) at
    /// once; `None` for 0 (no limit).
    pub(crate) fn new(per_minute: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new((per_minute / 6).max(1)).expect("at least 1");
        let quota = Quota::per_minute(rate).allow_burst(burst);
        Some(Self { limiter: RateLimiter::keyed(quota), checks: AtomicU64::new(0) })
    }

    /// Takes one call from `caller`'s allowance, or says how long until one is free.
    pub(crate) fn check(&self, caller: IpAddr) -> Result<(), Duration> {
        let caller = match caller {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
            v4 => v4,
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&caller).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_over_its_allowance_waits_and_others_do_not() {
        let rate = FreeRate::new(60).unwrap();
        let (a, b) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2]));
        for _ in 0..10 {
            rate.check(a).unwrap();
        }
        let wait = rate.check(a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        rate.check(b).unwrap();
        assert!(FreeRate::new(0).is_none());
    }

    #[test]
    fn ipv6_callers_share_their_slash_64() {
        let rate = FreeRate::new(6).unwrap();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_block: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        rate.check(one).unwrap();
        assert!(rate.check(same_block).is_err(), "one subscriber's /64 is one caller");
        rate.check(other).unwrap();
    }
}
