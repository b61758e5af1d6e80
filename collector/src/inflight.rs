//! A budget of request bytes held at once, over every connection.
//!
//! Each request is bounded on its own, but one client may open hundreds of
//! connections with a hundred HTTP/2 streams each. So every request has a
//! [`Ticket`] against a shared budget: the bytes of its body are held as
//! they arrive (not as declared, so a client that declares much and sends
//! little holds little), and the cells its chunks decode into are held as
//! they grow. One client address may hold at most its share of the budget,
//! unless all it holds is this request's (so that a request larger than the
//! share still passes alone), and a request larger than the whole budget
//! passes once it holds all of it. Past the budget or the share, the request fails at
//! once with UNAVAILABLE (HTTP 503) and `retry-after`, which clients retry:
//! the collector sheds load instead of running out of memory. A ticket's
//! bytes are given back when the request is done with them: a stream's
//! message once it is stored, everything else when the answer is sent.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::listen::AddrKey;

/// The shared budget.
#[derive(Debug)]
pub struct Inflight {
    budget: Arc<Semaphore>,
    max: usize,
    per_addr: usize,
    by_addr: Mutex<HashMap<AddrKey, usize>>,
}

/// Bytes held until dropped.
#[derive(Debug)]
pub struct Held {
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
    addr: Option<AddrKey>,
    inflight: Arc<Inflight>,
    /// The ticket's own counts, given back too.
    owner: Arc<Owned>,
}

/// What one ticket holds: its bytes (against its address's share) and its
/// permits (against the budget).
#[derive(Debug, Default)]
struct Owned {
    bytes: std::sync::atomic::AtomicUsize,
    permits: std::sync::atomic::AtomicUsize,
}

impl Drop for Held {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.owner.bytes.fetch_sub(self.bytes, Relaxed);
        if let Some(permit) = &self.permit {
            self.owner.permits.fetch_sub(permit.num_permits(), Relaxed);
        }
        if let (Some(addr), Ok(mut by_addr)) = (self.addr, self.inflight.by_addr.lock())
            && let Some(held) = by_addr.get_mut(&addr)
        {
            *held = held.saturating_sub(self.bytes);
            if *held == 0 {
                by_addr.remove(&addr);
            }
        }
    }
}

impl Inflight {
    /// A budget of `max` bytes (0: none), of which one address may hold
    /// `per_addr`.
    pub fn new(max: usize, per_addr: usize) -> Arc<Self> {
        let max = max.min(Semaphore::MAX_PERMITS);
        Arc::new(Self { budget: Arc::new(Semaphore::new(max)), max, per_addr, by_addr: Mutex::new(HashMap::new()) })
    }

    /// A ticket for one request from `addr`.
    pub fn ticket(self: &Arc<Self>, addr: Option<AddrKey>) -> Arc<Ticket> {
        Arc::new(Ticket { inflight: self.clone(), addr, owned: Arc::default(), state: Mutex::new(State::default()) })
    }

    /// Holds `bytes` for `addr` and the ticket that owns `owner`, or says
    /// why not.
    fn hold(self: &Arc<Self>, bytes: usize, addr: Option<AddrKey>, owner: &Arc<Owned>) -> Result<Held, String> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut held = Held { permit: None, bytes: 0, addr, inflight: self.clone(), owner: owner.clone() };
        if self.max == 0 || bytes == 0 {
            return Ok(held);
        }
        if let (Some(addr), Ok(mut by_addr)) = (addr, self.by_addr.lock()) {
            let mine = by_addr.entry(addr).or_default();
            let own = owner.bytes.load(Relaxed);
            if *mine > own && *mine + bytes > self.per_addr {
                return Err(format!(
                    "this address holds {} of requests being received or processed, its share is {} \
                     (--max-inflight-bytes-per-ip); retry later",
                    size(*mine),
                    size(self.per_addr)
                ));
            }
            *mine += bytes;
            held.bytes = bytes;
            owner.bytes.fetch_add(bytes, Relaxed);
        }
        // A request larger than the whole budget passes once it holds all
        // of it.
        let n = bytes.min(self.max.saturating_sub(owner.permits.load(Relaxed)));
        if n == 0 {
            return Ok(held);
        }
        match self.budget.clone().try_acquire_many_owned(u32::try_from(n).unwrap_or(u32::MAX)) {
            Ok(permit) => {
                owner.permits.fetch_add(permit.num_permits(), Relaxed);
                held.permit = Some(permit);
                Ok(held)
            }
            Err(_) => Err(format!(
                "the collector is busy: {} of requests are being received or processed \
                 (--max-inflight-bytes); retry later",
                size(self.max)
            )),
        }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.budget.available_permits()
    }
}

/// `n` bytes in the largest unit that keeps it whole-ish.
fn size(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

#[derive(Debug, Default)]
struct State {
    /// The message being received.
    receiving: Vec<Held>,
    /// Messages received and not yet released, oldest first.
    received: VecDeque<Vec<Held>>,
}

/// What one request holds of the budget.
#[derive(Debug)]
pub struct Ticket {
    inflight: Arc<Inflight>,
    addr: Option<AddrKey>,
    owned: Arc<Owned>,
    state: Mutex<State>,
}

impl Ticket {
    /// Holds `bytes` of the message being received.
    pub fn receive(&self, bytes: usize) -> Result<(), String> {
        let held = self.inflight.hold(bytes, self.addr, &self.owned)?;
        if let Ok(mut state) = self.state.lock() {
            state.receiving.push(held);
        }
        Ok(())
    }

    /// The message being received is complete.
    pub fn message_received(&self) {
        if let Ok(mut state) = self.state.lock() {
            let message = std::mem::take(&mut state.receiving);
            state.received.push_back(message);
        }
    }

    /// Gives back the oldest message received (it was stored).
    pub fn release_message(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.received.pop_front();
        }
    }

    /// Holds `bytes` more, given back when the returned [`Held`] is dropped.
    pub fn hold(&self, bytes: usize) -> Result<Held, String> {
        self.inflight.hold(bytes, self.addr, &self.owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> Option<AddrKey> {
        Some(AddrKey::of([10, 0, 0, n].into()))
    }

    #[test]
    fn holds_until_released() {
        let inflight = Inflight::new(100, 100);
        let a = inflight.ticket(addr(1));
        a.receive(60).unwrap();
        a.message_received();
        let b = inflight.ticket(addr(2));
        assert!(b.receive(50).unwrap_err().contains("--max-inflight-bytes"));
        b.receive(40).unwrap();
        assert_eq!(inflight.available(), 0);
        a.release_message();
        assert_eq!(inflight.available(), 60);
        drop(b);
        assert_eq!(inflight.available(), 100);
        // Larger than the budget: holds all of it, then passes alone.
        let alone = inflight.ticket(addr(3));
        let c = alone.hold(1000).unwrap();
        assert_eq!(inflight.available(), 0);
        let d = alone.hold(500).unwrap();
        assert!(inflight.ticket(addr(4)).hold(1).is_err());
        drop((c, d));
        assert_eq!(inflight.available(), 100);
        assert!(Inflight::new(0, 0).ticket(None).hold(1 << 40).is_ok());
    }

    #[test]
    fn an_address_holds_at_most_its_share_unless_the_request_is_alone() {
        let inflight = Inflight::new(1000, 100);
        // One request may go past the share while it is the address's only.
        let t = inflight.ticket(addr(1));
        let big = t.hold(300).unwrap();
        let more = t.hold(50).unwrap();
        let e = inflight.ticket(addr(1)).hold(1).unwrap_err();
        assert!(e.contains("--max-inflight-bytes-per-ip"), "{e}");
        // Another address is not affected.
        let other = inflight.ticket(addr(2)).hold(100).unwrap();
        drop((big, more));
        let small = inflight.ticket(addr(1)).hold(60).unwrap();
        assert!(inflight.ticket(addr(1)).hold(50).is_err());
        drop((small, other));
        assert_eq!(inflight.by_addr.lock().unwrap().len(), 0);
    }
}
