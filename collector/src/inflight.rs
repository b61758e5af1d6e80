//! A budget of request bytes held at once, over every connection.
//!
//! Each request is bounded on its own, but one client may open hundreds of
//! connections with a hundred HTTP/2 streams each. So every request has a
//! [`Ticket`] against a shared budget: the bytes of its body are held as
//! they arrive (not as declared, so a client that declares much and sends
//! little holds little), and what it decodes into (a decoded copy of the
//! body, gunzipped bytes, parsed schemas, cells) as it grows, up to
//! `--max-stored-bytes-per-request`. Past the budget, or past its
//! address's share of it, a request fails at once with UNAVAILABLE (HTTP
//! 503) and `retry-after`, which clients retry: the collector sheds load
//! instead of running out of memory. A request whose address holds nothing
//! but its own bytes may go past the share (so one large request still
//! passes), never past its own limits; the budget is checked at start to
//! hold at least one request of the largest size, so none needs to go past
//! it. Bytes are given back when the request is done with them: a stream's
//! message once it is stored, everything else when the answer is ready.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::listen::AddrKey;

/// Why bytes could not be held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldError {
    /// The budget or the address's share is spent now: retry later.
    Busy(String),
    /// The request itself is over `--max-stored-bytes-per-request`: no
    /// retry will pass.
    TooLarge(String),
}

/// The shared budget.
#[derive(Debug)]
pub struct Inflight {
    budget: Arc<Semaphore>,
    max: usize,
    /// A client address's share; 0: no share.
    per_addr: usize,
    /// What one request may hold besides its body.
    per_request: usize,
    by_addr: Mutex<HashMap<AddrKey, usize>>,
}

/// Bytes held until dropped; grows with [`Ticket::grow`].
#[derive(Debug)]
pub struct Held {
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
    /// Counted against `--max-stored-bytes-per-request` (not body bytes).
    decoded: bool,
    ticket: Arc<TicketShared>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.ticket.owned.fetch_sub(self.bytes, Relaxed);
        if self.decoded {
            self.ticket.decoded.fetch_sub(self.bytes, Relaxed);
        }
        if let (Some(addr), Ok(mut by_addr)) = (self.ticket.addr, self.ticket.inflight.by_addr.lock())
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
    /// `per_addr` (0: no share) and one request `per_request` besides its
    /// body.
    pub fn new(max: usize, per_addr: usize, per_request: usize) -> Arc<Self> {
        let max = max.min(Semaphore::MAX_PERMITS);
        Arc::new(Self {
            budget: Arc::new(Semaphore::new(max)),
            max,
            per_addr,
            per_request,
            by_addr: Mutex::new(HashMap::new()),
        })
    }

    /// A ticket for one request from `addr`.
    pub fn ticket(self: &Arc<Self>, addr: Option<AddrKey>) -> Arc<Ticket> {
        let shared = Arc::new(TicketShared {
            inflight: self.clone(),
            addr,
            owned: AtomicUsize::new(0),
            decoded: AtomicUsize::new(0),
        });
        Arc::new(Ticket { shared, state: Mutex::new(State::default()) })
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.budget.available_permits()
    }
}

/// What a ticket and its [`Held`]s share.
#[derive(Debug)]
struct TicketShared {
    inflight: Arc<Inflight>,
    addr: Option<AddrKey>,
    /// Bytes this request holds, body included.
    owned: AtomicUsize,
    /// Bytes it holds besides its body, against
    /// `--max-stored-bytes-per-request`.
    decoded: AtomicUsize,
}

impl TicketShared {
    /// Adds `n` bytes to `held`, or says why not.
    fn grow(self: &Arc<Self>, held: &mut Held, n: usize) -> Result<(), HoldError> {
        let inflight = &self.inflight;
        if inflight.max == 0 || n == 0 {
            return Ok(());
        }
        let mut by_addr = inflight.by_addr.lock().ok();
        if let (Some(addr), Some(by_addr)) = (self.addr, by_addr.as_deref_mut()) {
            let mine = by_addr.get(&addr).copied().unwrap_or(0);
            let alone = mine == self.owned.load(Relaxed);
            if inflight.per_addr > 0 && !alone && mine + n > inflight.per_addr {
                return Err(HoldError::Busy(format!(
                    "this address holds {} of requests being received or processed, its share is {} \
                     (--max-inflight-bytes-per-ip); retry later",
                    size(mine),
                    size(inflight.per_addr)
                )));
            }
        }
        let permits = u32::try_from(n).unwrap_or(u32::MAX);
        let Ok(permit) = inflight.budget.clone().try_acquire_many_owned(permits) else {
            return Err(HoldError::Busy(format!(
                "the collector is busy: {} of requests are being received or processed \
                 (--max-inflight-bytes); retry later",
                size(inflight.max)
            )));
        };
        match &mut held.permit {
            Some(mine) => mine.merge(permit),
            None => held.permit = Some(permit),
        }
        held.bytes += n;
        self.owned.fetch_add(n, Relaxed);
        if let (Some(addr), Some(by_addr)) = (self.addr, by_addr.as_deref_mut()) {
            *by_addr.entry(addr).or_default() += n;
        }
        Ok(())
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
    receiving: Option<Held>,
    /// Messages received and not yet released, oldest first.
    received: VecDeque<Held>,
}

/// What one request holds of the budget.
#[derive(Debug)]
pub struct Ticket {
    shared: Arc<TicketShared>,
    state: Mutex<State>,
}

impl Ticket {
    /// Holds `bytes` more of the message being received.
    pub fn receive(&self, bytes: usize) -> Result<(), HoldError> {
        let Ok(mut state) = self.state.lock() else {
            return Ok(());
        };
        let held = state.receiving.get_or_insert_with(|| self.empty(false));
        self.shared.grow(held, bytes)
    }

    /// The message being received is complete.
    pub fn message_received(&self) {
        if let Ok(mut state) = self.state.lock() {
            let message = state.receiving.take().unwrap_or_else(|| self.empty(false));
            state.received.push_back(message);
        }
    }

    /// Gives back the oldest message received (it was stored).
    pub fn release_message(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.received.pop_front();
        }
    }

    /// Holds `bytes` of what the request decodes into, given back when the
    /// returned [`Held`] is dropped.
    pub fn hold(&self, bytes: usize) -> Result<Held, HoldError> {
        let mut held = self.empty(true);
        self.grow(&mut held, bytes)?;
        Ok(held)
    }

    /// Holds `bytes` more in `held` (which [`Ticket::hold`] made).
    pub fn grow(&self, held: &mut Held, bytes: usize) -> Result<(), HoldError> {
        let limit = self.shared.inflight.per_request;
        let decoded = self.shared.decoded.load(Relaxed);
        if limit > 0 && decoded + bytes > limit {
            return Err(HoldError::TooLarge(format!(
                "the request takes more than {} once decoded (--max-stored-bytes-per-request)",
                size(limit)
            )));
        }
        self.shared.grow(held, bytes)?;
        self.shared.decoded.fetch_add(bytes, Relaxed);
        Ok(())
    }

    fn empty(&self, decoded: bool) -> Held {
        Held { permit: None, bytes: 0, decoded, ticket: self.shared.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> Option<AddrKey> {
        Some(AddrKey::of([10, 0, 0, n].into()))
    }

    #[test]
    fn holds_until_released_and_merges_frames() {
        let inflight = Inflight::new(100, 0, 1000);
        let a = inflight.ticket(addr(1));
        for _ in 0..60 {
            a.receive(1).unwrap();
        }
        a.message_received();
        let b = inflight.ticket(addr(2));
        assert!(matches!(b.receive(50), Err(HoldError::Busy(m)) if m.contains("--max-inflight-bytes")));
        b.receive(40).unwrap();
        assert_eq!(inflight.available(), 0);
        a.release_message();
        assert_eq!(inflight.available(), 60);
        drop(b);
        assert_eq!(inflight.available(), 100);
    }

    #[test]
    fn an_address_goes_past_its_share_only_with_one_request_within_its_limits() {
        let inflight = Inflight::new(1000, 100, 300);
        // One request may go past the share while it is the address's only.
        let t = inflight.ticket(addr(1));
        t.receive(200).unwrap();
        let mut held = t.hold(100).unwrap();
        t.grow(&mut held, 200).unwrap();
        assert!(
            matches!(t.grow(&mut held, 1), Err(HoldError::TooLarge(m)) if m.contains("--max-stored-bytes-per-request"))
        );
        // What was given back counts no more (a stream's stored chunks).
        drop(held);
        let held = t.hold(300).unwrap();
        let e = inflight.ticket(addr(1)).receive(1).unwrap_err();
        assert!(matches!(e, HoldError::Busy(m) if m.contains("--max-inflight-bytes-per-ip")));
        // Another address is not affected.
        let other = inflight.ticket(addr(2));
        other.receive(100).unwrap();
        drop((held, t));
        let small = inflight.ticket(addr(1));
        small.receive(60).unwrap();
        assert!(inflight.ticket(addr(1)).receive(50).is_err());
        drop((small, other));
        assert_eq!(inflight.by_addr.lock().unwrap().len(), 0);
        assert_eq!(inflight.available(), 1000);
    }
}
