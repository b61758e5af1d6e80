//! The tokio task that moves batches between the pipeline and the transport.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::Inner;
use super::transport::Sender;
use crate::engine::pipeline::Action;

/// Runs until `shutdown` stops it; sends that are still on the wire then are
/// cancelled (their chunks were already counted as undelivered).
pub(super) async fn run(inner: Arc<Inner>, sender: Arc<Sender>) {
    let mut sends = JoinSet::new();
    let mut collect_at = tokio::time::Instant::now() + inner.instrument_interval;
    loop {
        if tokio::time::Instant::now() >= collect_at {
            inner.collect_instruments();
            collect_at = tokio::time::Instant::now() + inner.instrument_interval;
        }
        inner.deliver_events();
        let sleep = match inner.core.poll() {
            Action::Flush => {
                inner.core.seal_all();
                continue;
            }
            Action::Send(batch) => {
                let (inner, sender) = (inner.clone(), sender.clone());
                sends.spawn(async move {
                    let (stored, outcome) = sender.send(&batch).await;
                    // The requests were copies of the chunks: the batch goes
                    // before the report, so that the pipeline holds the last
                    // reference to each acknowledged chunk and keeps its
                    // buffer for the next chunks.
                    let id = batch.id;
                    drop(batch);
                    inner.core.complete(id, stored, outcome);
                    inner.progress.send_modify(|count| *count += 1);
                });
                continue;
            }
            Action::WaitUntil(at) => Some(Duration::from_millis(at.saturating_sub(inner.core.now()))),
            Action::Idle => None,
        };
        // Asleep until the pipeline's deadline or the next collection of the
        // instruments, whichever comes first.
        let until_collect = collect_at.saturating_duration_since(tokio::time::Instant::now());
        let sleep = sleep.map_or(until_collect, |s| s.min(until_collect));
        tokio::select! {
            () = inner.stop.notified() => break,
            () = inner.wake.notified() => {}
            Some(_) = sends.join_next(), if !sends.is_empty() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
    sends.abort_all();
}
