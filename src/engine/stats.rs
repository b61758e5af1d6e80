//! What happened to the rows: counters and the events behind them.

use alloc::string::String;
use core::fmt;

/// Counters of the rows' way from `write` to the collector's acknowledgement.
///
/// Rows are conserved: every row written is open, pending, acked or dropped
/// (`rows_written = rows_open + rows_pending + rows_acked + rows_dropped()`).
///
/// Laid out as its fields in order (`repr(C)`): the browser build hands the
/// pipeline's counters to its JS as u64s (it reads the first 22; the
/// browser build keeps no spare buffers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
#[repr(C)]
pub struct Stats {
    /// Rows accepted by `write` (counted by the metrics' buffers; the
    /// pipeline's own stats leave it zero and the client fills it in).
    pub rows_written: u64,
    /// Rows in open chunks, not sealed yet (filled in by the client).
    pub rows_open: u64,
    /// Chunks sealed and handed to the pipeline.
    pub chunks_sealed: u64,
    /// Rows in those chunks.
    pub rows_sealed: u64,
    /// Avro bytes in those chunks.
    pub bytes_sealed: u64,
    /// Batches handed to the transport, retries included.
    pub batches_sent: u64,
    /// Chunks handed to the transport, retries included.
    pub chunks_sent: u64,
    /// Chunks the collector acknowledged.
    pub chunks_acked: u64,
    /// Rows in those chunks.
    pub rows_acked: u64,
    /// Avro bytes in those chunks.
    pub bytes_acked: u64,
    /// Sends that failed with a retryable error and were scheduled again.
    pub retries: u64,
    /// Chunks dropped to stay under the memory cap.
    pub chunks_dropped_memory_cap: u64,
    /// Rows in those chunks.
    pub rows_dropped_memory_cap: u64,
    /// Chunks the collector rejected for good (bad data, bad credentials).
    pub chunks_dropped_rejected: u64,
    /// Rows in those chunks.
    pub rows_dropped_rejected: u64,
    /// Chunks still undelivered when the client shut down.
    pub chunks_dropped_shutdown: u64,
    /// Rows in those chunks.
    pub rows_dropped_shutdown: u64,
    /// Chunks sealed and not yet acknowledged or dropped.
    pub chunks_pending: u64,
    /// Rows in those chunks.
    pub rows_pending: u64,
    /// Avro bytes in those chunks: what the memory cap limits.
    pub bytes_pending: u64,
    /// Chunks of [`Delivery::BestEffort`](crate::engine::chunk::Delivery)
    /// metrics whose one attempt failed (or was cancelled).
    pub chunks_dropped_best_effort: u64,
    /// Rows in those chunks.
    pub rows_dropped_best_effort: u64,
    /// Bytes (of capacity) of the buffers of acknowledged or dropped chunks
    /// kept to hold the next chunks' rows, so that a new chunk is not fresh
    /// memory (`engine::spare`, the `recycle` feature): memory beside
    /// `bytes_pending` and its cap. 0 where no buffers are kept.
    pub spare_bytes: u64,
}

impl Stats {
    /// Rows dropped for any reason.
    pub fn rows_dropped(&self) -> u64 {
        self.rows_dropped_memory_cap
            + self.rows_dropped_rejected
            + self.rows_dropped_shutdown
            + self.rows_dropped_best_effort
    }

    /// Chunks dropped for any reason.
    pub fn chunks_dropped(&self) -> u64 {
        self.chunks_dropped_memory_cap
            + self.chunks_dropped_rejected
            + self.chunks_dropped_shutdown
            + self.chunks_dropped_best_effort
    }
}

/// Why rows were dropped: the only ways rows leave the SDK undelivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Buffered bytes reached the memory cap while the collector was away;
    /// the oldest chunks made room for new ones.
    MemoryCap,
    /// The collector rejected the chunk with a permanent error.
    Rejected,
    /// The client shut down (or its drain timed out) before delivery.
    Shutdown,
    /// The one attempt at a chunk of a
    /// [`Delivery::BestEffort`](crate::engine::chunk::Delivery) metric
    /// failed, or was cancelled before an answer.
    BestEffort,
}

impl DropReason {
    /// A short lowercase name, for logs and JS.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::MemoryCap => "memory_cap",
            DropReason::Rejected => "rejected",
            DropReason::Shutdown => "shutdown",
            DropReason::BestEffort => "best_effort",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the user should be able to observe: the pipeline queues these
/// and the driver hands them to the user's callback and to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Rows were dropped and will never be delivered.
    Dropped {
        /// Why.
        reason: DropReason,
        /// The collection the rows belonged to (the first one, when several).
        collection: String,
        /// How many chunks.
        chunks: u64,
        /// How many rows.
        rows: u64,
        /// The collector's message, or what made the policy act.
        message: String,
    },
    /// A send failed and will be retried.
    RetryScheduled {
        /// Consecutive failures so far.
        attempt: u32,
        /// Milliseconds until the retry.
        delay_ms: u64,
        /// The transport's error.
        message: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Dropped { reason, collection, chunks, rows, message } => {
                write!(f, "dropped {rows} rows in {chunks} chunks of \"{collection}\" ({reason}): {message}")
            }
            Event::RetryScheduled { attempt, delay_ms, message } => {
                write!(f, "send failed (attempt {attempt}), retrying in {delay_ms} ms: {message}")
            }
        }
    }
}
