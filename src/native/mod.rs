//! The native client: `MetricClient` on tokio, sending over gRPC (tonic,
//! rustls) or HTTP POST, the way castai/metrics is used from Go, but keeping
//! every chunk until the collector acknowledged it.

mod config;
mod derived;
mod driver;
mod instruments;
mod transport;

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::client::{Core, MetricSlot};
use crate::engine::buffer::MetricOptions;
use crate::engine::schema::Schema;
use crate::engine::stats::{Event, Stats};

pub use derived::DerivedMetric;

pub use crate::client::Error;
pub use crate::engine::instruments::{RegistryStats as InstrumentStats, Temporality};
pub use config::{ClientBuilder, Compression, MetricConfig, Transport};
pub use instruments::{
    BoundCounter, BoundGauge, BoundHistogram, Counter, Gauge, Histogram, InstrumentBuilder, Number, Timer, TimerGuard,
    UpDownCounter,
};

/// The user's callback for [`Event`]s.
pub(crate) type EventCallback = Box<dyn Fn(&Event) + Send + Sync>;

/// The handle on a client: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct MetricClient {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    core: Core,
    /// Wakes the driver: something was pushed, or a flush or shutdown began.
    wake: Arc<Notify>,
    /// Counts completed sends, so flushes can wait for progress.
    progress: watch::Sender<u64>,
    stop: Notify,
    drain_timeout: Duration,
    /// How often the driver collects the instruments.
    instrument_interval: Duration,
    on_event: Option<EventCallback>,
    /// Held while events are handed to the callback, so that a `flush`
    /// delivering its events waits for the driver's delivery in progress
    /// (else it could return before the callback saw an event the driver
    /// had already taken).
    delivering: Mutex<()>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for MetricClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricClient").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

/// What `shutdown` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// The final counters.
    pub stats: Stats,
    /// Rows that were still undelivered when the drain timeout ran out
    /// (also counted in `stats.rows_dropped_shutdown`).
    pub undelivered_rows: u64,
}

impl MetricClient {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A typed metric: rows of `T` encoded with the configured schema.
    pub fn metric<T: Serialize>(&self, config: MetricConfig) -> Result<Metric<T>, Error> {
        let (schema, options): (Arc<Schema>, MetricOptions) = config.into_parts()?;
        let slot = self.inner.core.add_metric(schema, options)?;
        Ok(Metric { client: self.inner.clone(), slot, rows: PhantomData })
    }

    /// Seals every open chunk and waits until all rows written before the
    /// call are acknowledged, at most the drain timeout. Rows that are not
    /// delivered by then stay buffered and keep being retried.
    pub async fn flush(&self) -> Result<(), Error> {
        let inner = &self.inner;
        // What the instruments recorded before the call is delivered too.
        inner.collect_instruments();
        let before = inner.core.stats();
        let target = inner.core.seal_all();
        inner.wake.notify_one();
        let delivered = inner.wait(inner.drain_timeout, |core| !core.pending_before(target)).await;
        // The callback has seen every event of this flush when it returns.
        inner.deliver_events();
        inner.core.flush_result(&before, delivered)
    }

    /// Stops taking rows, delivers what is buffered within the drain
    /// timeout, drops and counts the rest, and stops the driver.
    pub async fn shutdown(&self) -> ShutdownReport {
        let inner = &self.inner;
        inner.collect_instruments();
        inner.core.close();
        inner.core.seal_all();
        inner.wake.notify_one();
        inner.wait(inner.drain_timeout, Core::is_empty).await;
        // A write that passed the open check before `close` may have landed
        // after the seal above: sealed now, it is counted with the rest.
        inner.core.seal_all();
        let undelivered_rows = inner.core.abandon("shutdown before the collector acknowledged the rows");
        inner.stop.notify_one();
        let driver = inner.driver.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(driver) = driver {
            let _ = driver.await;
        }
        inner.deliver_events();
        ShutdownReport { stats: inner.core.stats(), undelivered_rows }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.inner.core.stats()
    }
}

impl Inner {
    /// Collects the instruments into rows now (a failure to write them is
    /// reported as an event would be: in the log).
    fn collect_instruments(&self) {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        if let Err(error) = self.core.collect_instruments(now) {
            tracing::warn!(target: "edgemetrics", "instrument rows not written: {error}");
        }
    }

    /// Waits until `done` holds or `timeout` passes; true when it holds.
    async fn wait(&self, timeout: Duration, done: impl Fn(&Core) -> bool) -> bool {
        // Subscribed before the first check, so no completion is missed.
        let mut progress = self.progress.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.core) {
                return true;
            }
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return done(&self.core),
            }
        }
    }

    /// Hands the pipeline's events to the user's callback and the log.
    fn deliver_events(&self) {
        let _delivering = self.delivering.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while let Some(event) = self.core.pop_event() {
            match &event {
                Event::Dropped { .. } => tracing::warn!(target: "edgemetrics", "{event}"),
                Event::RetryScheduled { .. } => tracing::info!(target: "edgemetrics", "{event}"),
            }
            if let Some(callback) = &self.on_event {
                callback(&event);
            }
        }
    }
}

/// A typed metric; writes never wait on the network.
pub struct Metric<T> {
    client: Arc<Inner>,
    slot: Arc<MetricSlot>,
    rows: PhantomData<fn(&T)>,
}

impl<T> Clone for Metric<T> {
    fn clone(&self) -> Self {
        Metric { client: self.client.clone(), slot: self.slot.clone(), rows: PhantomData }
    }
}

impl<T> std::fmt::Debug for Metric<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metric").field("collection", &self.slot.schema().collection()).finish_non_exhaustive()
    }
}

impl<T: Serialize> Metric<T> {
    /// Buffers one row. A row that does not fit the schema is rejected with
    /// the field at fault, and nothing of it is buffered.
    pub fn write(&self, row: &T) -> Result<(), Error> {
        self.client.core.write(&self.slot, row)
    }

    /// Buffers all rows, or none when one does not fit (the error gives its index).
    pub fn write_all<'a>(&self, rows: impl IntoIterator<Item = &'a T>) -> Result<usize, Error>
    where
        T: 'a,
    {
        self.client.core.write_all(&self.slot, rows)
    }

    /// The metric's schema.
    pub fn schema(&self) -> Arc<Schema> {
        self.slot.schema()
    }
}

/// A random u64 from the OS, through std's hasher seeding (no dependency).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}
