//! Exponential backoff with jitter between retries of a failed send.

/// The first retry waits about this long (castai/metrics starts at 100 ms).
pub const DEFAULT_INITIAL_INTERVAL_MS: u64 = 100;
/// No retry waits longer than this (castai/metrics' `MaxRetryInterval`).
pub const DEFAULT_MAX_INTERVAL_MS: u64 = 15_000;

/// Delays between consecutive retries: the base doubles after every failure
/// up to the max, and each delay is drawn uniformly from the upper half of
/// the base ("equal jitter"), so that clients that failed together spread
/// out while every delay still grows with the failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    failures: u32,
}

impl Backoff {
    /// Backoff from `initial_ms` doubling up to `max_ms` (at least `initial_ms`).
    pub fn new(initial_ms: u64, max_ms: u64) -> Self {
        let initial_ms = initial_ms.max(1);
        Backoff { initial_ms, max_ms: max_ms.max(initial_ms), failures: 0 }
    }

    /// The delay before the next retry, after one more failure. `random` is
    /// any uniformly distributed value; the caller owns the random source.
    pub fn next_delay(&mut self, random: u64) -> u64 {
        let base = self.base();
        self.failures = self.failures.saturating_add(1);
        let half = base / 2;
        base - half + random % (half + 1)
    }

    /// The base of the next delay: the upper bound the jitter draws under.
    pub fn base(&self) -> u64 {
        let doublings = self.failures.min(63);
        self.initial_ms.saturating_mul(1u64 << doublings).min(self.max_ms)
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(DEFAULT_INITIAL_INTERVAL_MS, DEFAULT_MAX_INTERVAL_MS)
    }
}

/// A small, seedable random source for jitter (SplitMix64): good enough to
/// spread retries, with no dependency and no `std`.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A source seeded by the driver (from the OS or `crypto.getRandomValues`).
    pub fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_jitter_bounds_up_to_the_cap() {
        let mut backoff = Backoff::new(100, 15_000);
        let mut jitter = Jitter::new(7);
        let mut previous_base = 0;
        for failure in 0..20u32 {
            let base = backoff.base();
            let expected = (100u64 << failure.min(40)).min(15_000);
            assert_eq!(base, expected, "base after {failure} failures");
            assert!(base >= previous_base);
            let delay = backoff.next_delay(jitter.next_u64());
            assert!(delay >= base - base / 2 && delay <= base, "delay {delay} outside [{}, {base}]", base - base / 2);
            previous_base = base;
        }
        assert_eq!(backoff.base(), 15_000);
        backoff.reset();
        assert_eq!(backoff.base(), 100);
    }

    #[test]
    fn extreme_randoms_hit_both_ends() {
        let mut low = Backoff::new(1000, 10_000);
        assert_eq!(low.next_delay(0), 500);
        let mut high = Backoff::new(1000, 10_000);
        assert_eq!(high.next_delay(500), 1000);
    }

    #[test]
    fn never_overflows() {
        let mut backoff = Backoff::new(u64::MAX / 2, u64::MAX);
        for _ in 0..100 {
            assert!(backoff.next_delay(u64::MAX) >= u64::MAX / 2);
        }
        assert_eq!(backoff.base(), u64::MAX);
    }
}
