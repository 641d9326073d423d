//! Rate limits on pushes: token buckets per source (an IPv4 address, or an IPv6 /64, what one
//! subscriber holds) and per orchestrator account, so that no one sender makes the collector
//! verify signatures or forward samples faster than a node ever pushes.
//!
//! A bucket holds at most `burst` tokens and gains `per_second` tokens a second; a push takes
//! one, and a push that finds none is refused (429 `rate_limited`, with `Retry-After`). An honest
//! node pushes once every `share.interval` (at least 1 s, usually 2 min) and, after an outage,
//! sends its queued bodies back to back; it treats 429 as "keep it and try again later".
//!
//! Memory is bounded: each limiter remembers at most [`MAX_KEYS`] keys, in two generations of
//! half that each. A key is looked up in the current generation, then in the previous one (and
//! moved to the current); when the current one is full, the previous one is dropped whole and
//! the current one becomes the previous (an approximate least-recently-used eviction in O(1)).
//! A key forgotten that way starts again with a full bucket: eviction can only ever be in a
//! sender's favour, so flooding the map with new keys never limits an honest node that was not
//! limited before.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most keys one limiter remembers (two generations of half that). At about 64 bytes a key
/// (key, bucket and the map's own overhead) that is under 7 MB per limiter.
pub const MAX_KEYS: usize = 100_000;

/// A bucket's size and how fast it fills.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Pushes that may arrive back to back.
    pub burst: u32,
    /// Pushes a second, sustained.
    pub per_second: f64,
}

impl Rate {
    /// Per source: a NAT may front several nodes, each with a queue to drain.
    pub const PER_SOURCE: Rate = Rate { burst: 60, per_second: 10.0 };
    /// Per account: one node pushes once every `interval` (>= 1 s), plus its queued bodies.
    pub const PER_ACCOUNT: Rate = Rate { burst: 10, per_second: 1.0 };

    /// The rate if it can admit a push at all.
    pub fn checked(self) -> Result<Rate, String> {
        if self.burst == 0 {
            return Err("burst must be at least 1".into());
        }
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(format!("per_second must be a positive number, not {}", self.per_second));
        }
        Ok(self)
    }
}

/// Where a push comes from, as the source limit counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    V4([u8; 4]),
    /// The /64 prefix: a subscriber gets a whole /64 (or more), so single addresses are free.
    V6([u8; 8]),
}

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                Source::V6(prefix)
            }
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Generations<K> {
    current: HashMap<K, Bucket>,
    previous: HashMap<K, Bucket>,
}

/// Token buckets by key, at most [`MAX_KEYS`] (or the cap given) remembered.
pub struct Limiter<K> {
    rate: Rate,
    half: usize,
    buckets: Mutex<Generations<K>>,
}

impl<K: Hash + Eq + Copy> Limiter<K> {
    pub fn new(rate: Rate, max_keys: usize) -> Limiter<K> {
        let buckets = Mutex::new(Generations { current: HashMap::new(), previous: HashMap::new() });
        Limiter { rate, half: (max_keys / 2).max(1), buckets }
    }

    /// Takes a token for `key` at `now`: `Err(wait)` when there is none, `wait` being how long
    /// until there is one.
    pub fn take(&self, key: K, now: Instant) -> Result<(), Duration> {
        let mut g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !g.current.contains_key(&key) {
            let fresh = Bucket { tokens: f64::from(self.rate.burst), at: now };
            let bucket = g.previous.remove(&key).unwrap_or(fresh);
            if g.current.len() >= self.half {
                g.previous = std::mem::take(&mut g.current);
            }
            g.current.insert(key, bucket);
        }
        let Some(b) = g.current.get_mut(&key) else { return Ok(()) };
        let gained = now.saturating_duration_since(b.at).as_secs_f64() * self.rate.per_second;
        b.tokens = (b.tokens + gained).min(f64::from(self.rate.burst));
        b.at = now.max(b.at);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::try_from_secs_f64((1.0 - b.tokens) / self.rate.per_second).unwrap_or(Duration::MAX))
        }
    }

    /// The keys remembered.
    pub fn len(&self) -> usize {
        let g = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        g.current.len() + g.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `Retry-After` value for a wait: whole seconds, at least 1.
pub fn retry_after(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = Limiter::new(Rate { burst: 3, per_second: 2.0 }, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take(1u8, t0), Ok(()));
        }
        let wait = l.take(1u8, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another key has its own bucket.
        assert_eq!(l.take(2u8, t0), Ok(()));
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.take(1u8, t1), Ok(()));
        assert!(l.take(1u8, t1).is_err());
        // Long idle: the bucket is full again, never fuller than the burst.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(l.take(1u8, t2), Ok(()));
        }
        assert!(l.take(1u8, t2).is_err());
    }

    #[test]
    fn memory_is_bounded_and_eviction_only_refills() {
        let l = Limiter::new(Rate { burst: 1, per_second: 0.001 }, 10);
        let t = Instant::now();
        assert_eq!(l.take(0u32, t), Ok(()));
        assert!(l.take(0u32, t).is_err());
        // A key seen recently survives one rotation.
        for k in 1..5u32 {
            l.take(k, t).unwrap();
        }
        assert!(l.take(0u32, t).is_err(), "still limited after 4 other keys");
        for k in 100..10_000u32 {
            let _ = l.take(k, t);
            assert!(l.len() <= 10, "{} keys remembered", l.len());
        }
        // Flooded out: it starts again with a full bucket, in its favour.
        assert_eq!(l.take(0u32, t), Ok(()));
    }

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_slash_64s() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(Source::of(ip("192.0.2.1")), Source::V4([192, 0, 2, 1]));
        assert_eq!(Source::of(ip("::ffff:192.0.2.1")), Source::V4([192, 0, 2, 1]));
        assert_ne!(Source::of(ip("192.0.2.1")), Source::of(ip("192.0.2.2")));
        assert_eq!(Source::of(ip("2001:db8:1:2::1")), Source::of(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(Source::of(ip("2001:db8:1:2::1")), Source::of(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_secs(2)), 2);
        assert_eq!(retry_after(Duration::from_millis(2500)), 3);
    }

    #[test]
    fn rates_must_admit_a_push() {
        assert!(Rate { burst: 0, per_second: 1.0 }.checked().is_err());
        assert!(Rate { burst: 1, per_second: 0.0 }.checked().is_err());
        assert!(Rate { burst: 1, per_second: f64::NAN }.checked().is_err());
        assert!(Rate::PER_SOURCE.checked().is_ok() && Rate::PER_ACCOUNT.checked().is_ok());
    }
}
