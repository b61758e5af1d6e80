//! What moves batches in the browser: a task on the JS event loop
//! (`spawn_local`) that polls the pipeline, starts sends, and sleeps on a
//! timer (gloo-timers) until the pipeline's next deadline or a wake-up.
//! The same loop runs inside `flush()` when the client has no background
//! task (`background: false`, for runtimes such as Workers that must not
//! keep timers between requests).

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use gloo_timers::future::TimeoutFuture;
use wasm_bindgen_futures::spawn_local;

use super::client::Inner;
use crate::engine::pipeline::{Action, Batch};

/// A counter with waiters: `notify` bumps it and wakes every future of
/// `changed` that saw an older count. `Send + Sync` (the shared client core
/// asks that of its wake callback), though the browser runs one thread.
#[derive(Clone, Default)]
pub(crate) struct Signal(Arc<Mutex<SignalState>>);

#[derive(Default)]
struct SignalState {
    count: u64,
    waiters: Vec<Waker>,
}

impl Signal {
    fn state(&self) -> std::sync::MutexGuard<'_, SignalState> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current count, to wait for a change from.
    pub(crate) fn count(&self) -> u64 {
        self.state().count
    }

    /// Bumps the count and wakes every waiter.
    pub(crate) fn notify(&self) {
        let waiters = {
            let mut state = self.state();
            state.count += 1;
            std::mem::take(&mut state.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Resolves once the count differs from `seen`.
    pub(crate) fn changed(&self, seen: u64) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut state = self.state();
            if state.count != seen {
                return Poll::Ready(());
            }
            if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}

/// Waits for `future` at most `ms` milliseconds; `None` when time ran out.
pub(crate) async fn timeout<F: Future>(ms: u64, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut timer = TimeoutFuture::new(ms.min(u64::from(u32::MAX)) as u32);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        match std::pin::Pin::new(&mut timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// The background task: runs until the client is closed.
pub(crate) async fn run(inner: Rc<Inner>) {
    while !inner.is_stopped() {
        step(&inner).await;
    }
}

/// Polls the pipeline once and does what it says: seal, start a send, or
/// sleep until its deadline or a wake-up.
pub(crate) async fn step(inner: &Rc<Inner>) {
    inner.deliver_events();
    let seen = inner.wake.count();
    match inner.core.poll() {
        Action::Flush => {
            inner.core.seal_all();
        }
        Action::Send(batch) => spawn_local(send(inner.clone(), batch)),
        Action::WaitUntil(at) => {
            let ms = at.saturating_sub(inner.core.now());
            timeout(ms, inner.wake.changed(seen)).await;
        }
        Action::Idle => inner.wake.changed(seen).await,
    }
}

/// Sends one batch and reports how it went.
async fn send(inner: Rc<Inner>, batch: Batch) {
    let outcome = match timeout(inner.request_timeout_ms, inner.sender.send(&batch)).await {
        Some(outcome) => outcome,
        None => Err(crate::engine::pipeline::Failure::Retryable {
            message: format!("no answer within requestTimeoutMs ({} ms)", inner.request_timeout_ms),
            retry_after_ms: None,
        }),
    };
    inner.finish(batch.id, outcome);
}

/// Drives the pipeline in the caller's task until `done` holds or `ms`
/// pass: what `flush()` and `close()` do when there is no background task.
pub(crate) async fn drive_until(inner: &Rc<Inner>, ms: u64, done: impl Fn(&Inner) -> bool) -> bool {
    let finished = drive(inner, ms, done).await;
    if !inner.background {
        // The sends this call drove end with it (a timeout cancels them,
        // and in a Worker nothing outlives the request): put their chunks
        // back so that the next flush sends them again.
        inner.core.requeue_in_flight();
    }
    finished
}

async fn drive(inner: &Rc<Inner>, ms: u64, done: impl Fn(&Inner) -> bool) -> bool {
    let deadline = inner.core.now().saturating_add(ms);
    loop {
        if done(inner) {
            return true;
        }
        let left = deadline.saturating_sub(inner.core.now());
        if left == 0 {
            return done(inner);
        }
        if inner.background {
            let seen = inner.progress.count();
            if done(inner) {
                return true;
            }
            timeout(left, inner.progress.changed(seen)).await;
        } else {
            timeout(left, step(inner)).await;
        }
    }
}
