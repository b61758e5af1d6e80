//! Fault injection, a testing aid for clients' retry logic.
//!
//! Only active when the collector was started with
//! `--enable-fault-injection` ([`crate::Config::enable_fault_injection`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A cheap, cloneable handle on the collector's injected faults.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    enabled: AtomicBool,
    unavailable: AtomicU64,
}

impl Faults {
    pub(crate) fn new(enabled: bool) -> Self {
        let f = Self::default();
        f.inner.enabled.store(enabled, Ordering::Relaxed);
        f
    }

    /// Whether fault injection was enabled at start.
    pub fn enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// Makes the next `n` ingestion requests (any transport) fail retryably
    /// without storing anything; `0` clears. Has no effect when fault
    /// injection is disabled.
    pub fn set_unavailable(&self, n: u64) {
        if self.enabled() {
            self.inner.unavailable.store(n, Ordering::SeqCst);
        }
    }

    /// How many ingestion requests are still to fail.
    pub fn unavailable_remaining(&self) -> u64 {
        self.inner.unavailable.load(Ordering::SeqCst)
    }

    /// Consumes one injected failure; true when this request must fail.
    pub(crate) fn take_unavailable(&self) -> bool {
        self.enabled()
            && self.inner.unavailable.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_and_clears() {
        let f = Faults::new(true);
        f.set_unavailable(2);
        assert!(f.take_unavailable());
        assert_eq!(f.unavailable_remaining(), 1);
        assert!(f.take_unavailable());
        assert!(!f.take_unavailable());
        f.set_unavailable(5);
        f.set_unavailable(0);
        assert!(!f.take_unavailable());
    }

    #[test]
    fn disabled_does_nothing() {
        let f = Faults::new(false);
        f.set_unavailable(3);
        assert!(!f.take_unavailable());
        assert_eq!(f.unavailable_remaining(), 0);
    }
}
