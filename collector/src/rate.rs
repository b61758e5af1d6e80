//! Request and row rates per client address and per token: token buckets
//! that hold two seconds' worth and refill continuously.
//!
//! A request larger than a bucket (more rows than two seconds' worth) is
//! let through when the bucket is full and leaves it in debt, so a rate set
//! below one request's size slows that client instead of refusing it for
//! ever. A refused request is told when to come back (`Retry-After`).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimits;
use crate::listen::AddrKey;

/// Keys a bucket map holds before full (idle) buckets are forgotten.
const MAX_KEYS: usize = 64 * 1024;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets of one rate, one per key.
struct Buckets<K> {
    per_sec: f64,
    map: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(per_sec: u64) -> Self {
        Self { per_sec: per_sec as f64, map: Mutex::new(HashMap::new()) }
    }

    fn capacity(&self) -> f64 {
        self.per_sec * 2.0
    }

    /// Takes `n` from `key`'s bucket, or says how long until it could.
    fn take(&self, key: K, n: f64, now: Instant) -> Result<(), Duration> {
        if self.per_sec <= 0.0 {
            return Ok(());
        }
        let capacity = self.capacity();
        let Ok(mut map) = self.map.lock() else {
            return Ok(());
        };
        if map.len() >= MAX_KEYS && !map.contains_key(&key) {
            let per_sec = self.per_sec;
            map.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < capacity);
        }
        let bucket = map.entry(key).or_insert(Bucket { tokens: capacity, at: now });
        bucket.tokens =
            (bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_sec).min(capacity);
        bucket.at = now;
        let needed = n.min(capacity);
        if bucket.tokens >= needed {
            bucket.tokens -= n;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((needed - bucket.tokens) / self.per_sec))
        }
    }
}

/// Why a request was refused: which rate, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// The message, naming the rate and its flag.
    pub message: String,
    /// Whole seconds to wait (at least 1), for `Retry-After`.
    pub retry_after_secs: u64,
}

/// Every rate the collector enforces.
pub struct RateLimiter {
    limits: RateLimits,
    requests_per_addr: Buckets<AddrKey>,
    rows_per_addr: Buckets<AddrKey>,
    requests_per_token: Buckets<usize>,
    rows_per_token: Buckets<usize>,
}

fn limited(what: &str, rate: u64, flag: &str, wait: Duration) -> Limited {
    Limited {
        message: format!("too many {what}: the limit is {rate} per second ({flag}); retry later"),
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

impl RateLimiter {
    /// Rates as configured.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            requests_per_addr: Buckets::new(limits.requests_per_ip),
            rows_per_addr: Buckets::new(limits.rows_per_ip),
            requests_per_token: Buckets::new(limits.requests_per_token),
            rows_per_token: Buckets::new(limits.rows_per_token),
            limits: limits.clone(),
        }
    }

    /// One request from `ip`.
    pub fn request_from(&self, ip: IpAddr) -> Result<(), Limited> {
        self.requests_per_addr.take(AddrKey::of(ip), 1.0, Instant::now()).map_err(|wait| {
            limited("requests from this address", self.limits.requests_per_ip, "--rate-requests-per-ip", wait)
        })
    }

    /// One request with token `id`.
    pub fn request_with(&self, token: usize) -> Result<(), Limited> {
        self.requests_per_token.take(token, 1.0, Instant::now()).map_err(|wait| {
            limited("requests with this token", self.limits.requests_per_token, "--rate-requests-per-token", wait)
        })
    }

    /// `rows` written from `ip` with token `id`.
    pub fn rows(&self, ip: Option<IpAddr>, token: usize, rows: u64) -> Result<(), Limited> {
        let now = Instant::now();
        if let Some(ip) = ip {
            self.rows_per_addr.take(AddrKey::of(ip), rows as f64, now).map_err(|wait| {
                limited("rows from this address", self.limits.rows_per_ip, "--rate-rows-per-ip", wait)
            })?;
        }
        self.rows_per_token
            .take(token, rows as f64, now)
            .map_err(|wait| limited("rows with this token", self.limits.rows_per_token, "--rate-rows-per-token", wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_two_seconds_and_refills() {
        let b = Buckets::new(10);
        let t0 = Instant::now();
        for _ in 0..20 {
            assert_eq!(b.take(1u8, 1.0, t0), Ok(()));
        }
        let wait = b.take(1, 1.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert_eq!(b.take(1, 1.0, t0 + Duration::from_millis(100)), Ok(()));
        // Another key has its own bucket.
        assert_eq!(b.take(2, 20.0, t0), Ok(()));
    }

    #[test]
    fn a_request_larger_than_the_bucket_passes_when_full_and_leaves_debt() {
        let b = Buckets::new(10);
        let t0 = Instant::now();
        assert_eq!(b.take(1u8, 100.0, t0), Ok(()));
        // 80 in debt: 10 s until 20 tokens are there again.
        let wait = b.take(1, 100.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 10.0).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn zero_is_off_and_messages_name_the_flag() {
        assert_eq!(Buckets::new(0).take(1u8, 1e9, Instant::now()), Ok(()));
        let r = RateLimiter::new(&RateLimits { requests_per_ip: 1, ..RateLimits::default() });
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert!(r.request_from(ip).is_ok() && r.request_from(ip).is_ok());
        let e = r.request_from(ip).unwrap_err();
        assert_eq!(e.retry_after_secs, 1);
        assert!(e.message.contains("--rate-requests-per-ip"), "{}", e.message);
    }

    #[test]
    fn idle_keys_are_forgotten_past_the_cap() {
        let b = Buckets::new(1000);
        let t0 = Instant::now();
        for k in 0..MAX_KEYS as u32 {
            b.take(k, 1.0, t0).unwrap();
        }
        // Two seconds later every bucket is full again: all are dropped.
        b.take(u32::MAX, 1.0, t0 + Duration::from_secs(2)).unwrap();
        assert_eq!(b.map.lock().unwrap().len(), 1);
    }
}
