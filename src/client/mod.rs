//! What the native, browser and Worker clients share: the metrics'
//! buffers and the pipeline behind locks, and the errors users see. The
//! drivers around it only decide when to poll and how to send.

// Without a driver (the `std` feature alone) only the errors are used.
#![cfg_attr(not(feature = "native"), allow(dead_code))]

pub(crate) mod address;
mod error;
mod instruments;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use crate::engine::buffer::{MetricBuffer, MetricOptions, RowError};
use crate::engine::chunk::Chunk;
use crate::engine::pipeline::{Action, Failure, Pipeline, PipelineConfig};
use crate::engine::schema::Schema;
use crate::engine::stats::{Event, Stats};

pub use error::Error;

/// The buffers of one metric: one open chunk per stripe, so that threads
/// writing the same metric take different locks. A thread keeps the
/// stripe it was given first (round robin over threads); one thread takes
/// one lock, as before. Each stripe's chunks get their ids from the
/// pipeline when sealed, so they are ordered and unique across stripes.
#[derive(Debug)]
pub(crate) struct MetricSlot {
    stripes: Box<[Stripe]>,
}

/// A stripe on cache lines of its own (128 bytes: two lines, for the
/// adjacent-line prefetcher), so that two threads' locks and counters do
/// not share one.
#[derive(Debug)]
#[repr(align(128))]
struct Stripe(Mutex<MetricBuffer>);

/// The stripes a metric has: one per core rounded up to a power of two (a
/// mask picks the stripe), at most 8 (each may hold an open chunk).
fn stripe_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).next_power_of_two().min(8)
}

/// The calling thread's stripe number, given on its first write.
fn thread_stripe() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        // A const initializer: no lazy-init check on the write path.
        static STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| match stripe.get() {
        usize::MAX => {
            let given = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            stripe.set(given);
            given
        }
        given => given,
    })
}

impl MetricSlot {
    pub(crate) fn schema(&self) -> Arc<Schema> {
        lock(&self.stripes[0].0).schema().clone()
    }

    /// The calling thread's buffer.
    fn buffer(&self) -> MutexGuard<'_, MetricBuffer> {
        // The count is a power of two.
        lock(&self.stripes[thread_stripe() & (self.stripes.len() - 1)].0)
    }
}

/// Milliseconds on a monotonic clock the driver owns.
pub(crate) type Clock = Box<dyn Fn() -> u64 + Send + Sync>;
/// Tells the driver to poll the pipeline again.
pub(crate) type Wake = Box<dyn Fn() + Send + Sync>;

/// The state every client driver shares.
pub(crate) struct Core {
    pipeline: Mutex<Pipeline>,
    /// The instruments, and the metrics their rows go to.
    pub(crate) instruments: instruments::Instruments,
    metrics: Mutex<Vec<Arc<MetricSlot>>>,
    clock: Clock,
    wake: Wake,
    closed: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Core {
    pub(crate) fn new(
        config: PipelineConfig,
        registry: crate::engine::instruments::RegistryConfig,
        session: u64,
        seed: u64,
        clock: Clock,
        wake: Wake,
    ) -> Result<Self, Error> {
        Ok(Core {
            pipeline: Mutex::new(Pipeline::new(config, session, seed)?),
            instruments: instruments::Instruments::new(registry),
            metrics: Mutex::new(Vec::new()),
            clock,
            wake,
            closed: AtomicBool::new(false),
            last_error: Mutex::new(None),
        })
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    pub(crate) fn add_metric(&self, schema: Arc<Schema>, options: MetricOptions) -> Result<Arc<MetricSlot>, Error> {
        self.check_open()?;
        let stripes = (0..stripe_count())
            .map(|_| MetricBuffer::new(schema.clone(), options.clone()).map(|b| Stripe(Mutex::new(b))))
            .collect::<Result<Box<[_]>, _>>()?;
        let slot = Arc::new(MetricSlot { stripes });
        lock(&self.metrics).push(slot.clone());
        Ok(slot)
    }

    /// Encodes one row into its metric's open chunk; never waits on the network.
    pub(crate) fn write<T: Serialize + ?Sized>(&self, slot: &MetricSlot, row: &T) -> Result<(), Error> {
        self.check_open()?;
        let mut buffer = slot.buffer();
        let was_empty = buffer.open_rows() == 0;
        let sealed = buffer.write(row)?;
        self.after_write(was_empty, &mut buffer, sealed);
        Ok(())
    }

    /// Appends one row `encode` writes in the metric's schema.
    pub(crate) fn write_encoded(&self, slot: &MetricSlot, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        self.check_open()?;
        let mut buffer = slot.buffer();
        let was_empty = buffer.open_rows() == 0;
        let sealed = buffer.write_encoded(encode)?;
        self.after_write(was_empty, &mut buffer, sealed);
        Ok(())
    }

    /// Encodes all rows or none.
    pub(crate) fn write_all<'a, T, I>(&self, slot: &MetricSlot, rows: I) -> Result<usize, Error>
    where
        T: Serialize + ?Sized + 'a,
        I: IntoIterator<Item = &'a T>,
    {
        self.write_batch(slot, |buffer, sealed| buffer.write_all(rows, sealed))
    }

    /// Buffers all `rows` that `encode` writes (a derived type's), or none.
    pub(crate) fn write_all_encoded<R>(
        &self,
        slot: &MetricSlot,
        rows: impl IntoIterator<Item = R>,
        encode: impl FnMut(R, &mut Vec<u8>),
    ) -> Result<usize, Error> {
        self.write_batch(slot, |buffer, sealed| buffer.write_all_encoded(rows, encode, sealed))
    }

    /// Runs a batch write on the calling thread's buffer and hands on what it sealed.
    fn write_batch(
        &self,
        slot: &MetricSlot,
        write: impl FnOnce(&mut MetricBuffer, &mut Vec<Chunk>) -> Result<usize, RowError>,
    ) -> Result<usize, Error> {
        self.check_open()?;
        let mut buffer = slot.buffer();
        let was_empty = buffer.open_rows() == 0;
        let mut sealed = Vec::new();
        let count = write(&mut buffer, &mut sealed)?;
        self.after_write(was_empty, &mut buffer, sealed);
        Ok(count)
    }

    /// Hands the chunks a write sealed to the pipeline, schedules the flush
    /// of the open chunk, refills the buffer's spare, and wakes the driver
    /// when there is news for it.
    fn after_write<S>(&self, was_empty: bool, buffer: &mut MetricBuffer, sealed: S)
    where
        S: IntoIterator<Item = Chunk, IntoIter: ExactSizeIterator>,
    {
        let sealed = sealed.into_iter();
        let newly_open = was_empty && buffer.open_rows() > 0;
        if sealed.len() == 0 && !newly_open {
            return;
        }
        let mut pipeline = lock(&self.pipeline);
        for chunk in sealed {
            pipeline.push(chunk);
        }
        // The chunk after the next full one goes into the buffer of one the
        // collector acknowledged, not fresh memory: taken here, where the
        // pipeline is locked anyway (a write that seals a chunk, or the
        // first row after a flush), so the write path takes no other lock.
        buffer.refill_spare(&mut pipeline);
        if buffer.open_rows() > 0 {
            pipeline.note_open_rows(self.now());
        }
        drop(pipeline);
        (self.wake)();
    }

    /// Seals every metric's open chunk, and takes back the spare buffers
    /// (a stripe that writes takes its back with its next row). Returns the
    /// sequence number below which every chunk holding a row written so far
    /// lies.
    pub(crate) fn seal_all(&self) -> u64 {
        let metrics = lock(&self.metrics).clone();
        for stripe in metrics.iter().flat_map(|slot| slot.stripes.iter()) {
            let mut buffer = lock(&stripe.0);
            let chunk = buffer.take_open();
            if chunk.is_some() || buffer.spare_bytes() > 0 {
                let mut pipeline = lock(&self.pipeline);
                if let Some(chunk) = chunk {
                    pipeline.push(chunk);
                }
                buffer.return_spare(&mut pipeline);
            }
        }
        lock(&self.pipeline).next_seq()
    }

    pub(crate) fn poll(&self) -> Action {
        let now = self.now();
        lock(&self.pipeline).poll(now)
    }

    /// Reports how sending batch `id` ended; `stored` is how many of its
    /// first chunks the collector stored before a failure.
    pub(crate) fn complete(&self, id: u64, stored: usize, outcome: Result<(), Failure>) {
        let mut pipeline = lock(&self.pipeline);
        if stored > 0 {
            pipeline.ack_first(id, stored);
        }
        match outcome {
            Ok(()) => {
                pipeline.ack(id);
            }
            Err(failure) => {
                let message = match &failure {
                    Failure::Retryable { message, .. } | Failure::Permanent { message } => message.clone(),
                };
                pipeline.fail(id, failure, self.now());
                *lock(&self.last_error) = Some(message);
            }
        }
    }

    /// What a flush reports once it waited: `delivered` says whether every
    /// row written before it was acknowledged or dropped in time, `before`
    /// holds the counters from when it began.
    pub(crate) fn flush_result(&self, before: &Stats, delivered: bool) -> Result<(), Error> {
        let after = self.stats();
        if !delivered {
            return Err(Error::NotDelivered { pending_rows: after.rows_pending, last_error: self.last_error() });
        }
        let rejected = after.rows_dropped_rejected - before.rows_dropped_rejected;
        let capped = after.rows_dropped_memory_cap - before.rows_dropped_memory_cap;
        let best_effort = after.rows_dropped_best_effort - before.rows_dropped_best_effort;
        let last_error = || self.last_error().unwrap_or_default();
        let reason = match (rejected, capped, best_effort) {
            (0, 0, 0) => return Ok(()),
            (0, 0, _) => format!("a best-effort send failed: {}", last_error()),
            (0, _, _) => "the memory cap on buffered bytes was reached while the collector was away".to_string(),
            _ => format!("rejected by the collector: {}", last_error()),
        };
        Err(Error::Dropped { rows: rejected + capped + best_effort, reason })
    }

    pub(crate) fn pending_before(&self, seq: u64) -> bool {
        lock(&self.pipeline).pending_before(seq)
    }

    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.pipeline).is_empty()
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    /// Drops what is still undelivered, counting it; returns the rows.
    pub(crate) fn abandon(&self, message: &str) -> u64 {
        lock(&self.pipeline).abandon(message)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.is_closed() {
            true => Err(Error::Closed),
            false => Ok(()),
        }
    }

    pub(crate) fn pop_event(&self) -> Option<Event> {
        lock(&self.pipeline).pop_event()
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut stats = lock(&self.pipeline).stats();
        for stripe in lock(&self.metrics).iter().flat_map(|slot| slot.stripes.iter()) {
            let buffer = lock(&stripe.0);
            stats.rows_written += buffer.rows_written();
            stats.rows_open += u64::from(buffer.open_rows());
            stats.spare_bytes += buffer.spare_bytes() as u64;
        }
        stats
    }
}

/// Locks, carrying on after a panic elsewhere: every critical section leaves
/// the state consistent before anything that can panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
