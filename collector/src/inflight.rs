//! A budget of request bytes held at once, over every connection.
//!
//! Each request is bounded on its own, but one client may open hundreds of
//! connections with a hundred HTTP/2 streams each, every one buffering a
//! message up to `--max-message-bytes`. So a message's bytes are reserved
//! when its length is first known (a gRPC frame header, an HTTP
//! `content-length`), before they are read, and given back once the request
//! is done with them. Past `--max-inflight-bytes` a request is answered at
//! once with UNAVAILABLE (HTTP 503) and `retry-after`, which clients retry:
//! the collector sheds load instead of running out of memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The shared budget.
#[derive(Clone, Debug)]
pub struct Inflight {
    budget: Arc<Semaphore>,
    max: usize,
}

/// Bytes held until dropped.
#[derive(Debug)]
pub struct Held(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl Inflight {
    /// A budget of `max` bytes (0: no budget).
    pub fn new(max: usize) -> Self {
        let max = max.min(Semaphore::MAX_PERMITS);
        Self { budget: Arc::new(Semaphore::new(max)), max }
    }

    /// Holds `bytes` (a request larger than the whole budget holds all of
    /// it), or says why not.
    pub fn try_hold(&self, bytes: usize) -> Result<Held, String> {
        if self.max == 0 || bytes == 0 {
            return Ok(Held(None));
        }
        let n = u32::try_from(bytes.min(self.max)).unwrap_or(u32::MAX);
        self.budget.clone().try_acquire_many_owned(n).map(|p| Held(Some(p))).map_err(|_| {
            format!(
                "the collector is busy: {} MiB of requests are being received or processed \
                 (--max-inflight-bytes); retry later",
                self.max >> 20
            )
        })
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.budget.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_until_dropped() {
        let inflight = Inflight::new(100);
        let a = inflight.try_hold(60).unwrap();
        assert!(inflight.try_hold(50).unwrap_err().contains("--max-inflight-bytes"));
        let b = inflight.try_hold(40).unwrap();
        assert_eq!(inflight.available(), 0);
        drop((a, b));
        // Larger than the budget: holds all of it, so it passes alone.
        let all = inflight.try_hold(1000).unwrap();
        assert_eq!(inflight.available(), 0);
        drop(all);
        assert!(Inflight::new(0).try_hold(1 << 40).is_ok());
    }
}
