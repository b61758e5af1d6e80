//! The send pipeline, sans-IO: sealed chunks wait here until the collector
//! acknowledges them. The driver asks [`Pipeline::poll`] what to do, performs
//! it, and reports back with [`Pipeline::ack`] or [`Pipeline::fail`]; time
//! is always an argument (milliseconds on any monotonic clock).
//!
//! Each chunk carries its metric's [`Delivery`]: chunks of exactly-once and
//! at-least-once metrics are retried until acknowledged (only the first
//! sends its chunk id); a best-effort chunk gets one attempt, made without
//! waiting for the others' backoff, and is dropped and counted when it
//! fails, so it never waits in memory for a retry. A batch that mixes them
//! and fails retryably puts back only the chunks that are retried.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::engine::backoff::{self, Backoff, Jitter};
use crate::engine::buffer::OptionError;
#[cfg(doc)]
use crate::engine::chunk::Delivery;
use crate::engine::chunk::{Chunk, ChunkId};
#[cfg(feature = "recycle")]
use crate::engine::spare::Spares;
use crate::engine::stats::{DropReason, Event, Stats};
use crate::engine::text::push_u64;

/// The memory cap on buffered bytes when none is given.
pub const DEFAULT_MAX_BUFFER_BYTES: usize = 64 << 20;
/// The flush interval when none is given (castai/metrics' default).
pub const DEFAULT_FLUSH_INTERVAL_MS: u64 = 200;
/// Batches stop growing at this many bytes (a lone chunk may be larger): the
/// default max message size of gRPC servers.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 4 << 20;
/// Events kept for the driver; older ones are discarded (the counters in
/// [`Stats`] still hold them).
const MAX_EVENTS: usize = 1024;

/// How the pipeline paces, retries and caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Open chunks are sealed and sent this long after their first row.
    pub flush_interval_ms: u64,
    /// The first retry waits about this long.
    pub initial_retry_interval_ms: u64,
    /// No retry waits longer than this.
    pub max_retry_interval_ms: u64,
    /// Sealed, unacknowledged bytes are kept under this; over it queued
    /// best-effort chunks are dropped first, then the oldest.
    pub max_buffer_bytes: usize,
    /// A batch holds chunks up to this many bytes.
    pub max_batch_bytes: usize,
    /// Batches on the wire at once.
    pub max_in_flight: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            flush_interval_ms: DEFAULT_FLUSH_INTERVAL_MS,
            initial_retry_interval_ms: backoff::DEFAULT_INITIAL_INTERVAL_MS,
            max_retry_interval_ms: backoff::DEFAULT_MAX_INTERVAL_MS,
            max_buffer_bytes: DEFAULT_MAX_BUFFER_BYTES,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_in_flight: 2,
        }
    }
}

impl PipelineConfig {
    /// Checks every value is in its bounds.
    pub fn validate(&self) -> Result<(), OptionError> {
        let positive = [
            ("flush_interval_ms", self.flush_interval_ms),
            ("initial_retry_interval_ms", self.initial_retry_interval_ms),
            ("max_retry_interval_ms", self.max_retry_interval_ms),
            ("max_buffer_bytes", self.max_buffer_bytes as u64),
            ("max_batch_bytes", self.max_batch_bytes as u64),
            ("max_in_flight", self.max_in_flight as u64),
        ];
        if let Some((option, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(OptionError::new(option, "must be greater than 0"));
        }
        if self.max_retry_interval_ms < self.initial_retry_interval_ms {
            let mut message = String::new();
            push_u64(&mut message, self.max_retry_interval_ms);
            message.push_str(" is less than the initial retry interval of ");
            push_u64(&mut message, self.initial_retry_interval_ms);
            message.push_str(" ms");
            return Err(OptionError::new("max_retry_interval_ms", message));
        }
        Ok(())
    }
}

/// What the driver should do next.
#[derive(Debug)]
pub enum Action {
    /// Seal the open chunks of every metric, [`push`](Pipeline::push) them,
    /// and poll again.
    Flush,
    /// Send this batch, then report its outcome.
    Send(Batch),
    /// Nothing to do before this time; poll again then (or when something
    /// is pushed, acked or failed).
    WaitUntil(u64),
    /// Nothing to do until something is pushed, acked or failed.
    Idle,
}

/// Chunks to send in one request.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Pass it back to [`Pipeline::ack`] or [`Pipeline::fail`].
    pub id: u64,
    /// The chunks, oldest first.
    pub chunks: Vec<Arc<Chunk>>,
}

impl Batch {
    /// Rows in all chunks.
    pub fn rows(&self) -> u64 {
        self.chunks.iter().map(|chunk| u64::from(chunk.rows())).sum()
    }

    /// Avro bytes in all chunks.
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.data().len()).sum()
    }
}

/// How a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth retrying: the collector or the network is away or overloaded.
    Retryable {
        /// The transport's error.
        message: String,
        /// The collector's `Retry-After`, when it gave one.
        retry_after_ms: Option<u64>,
    },
    /// The collector will never take it (bad data, bad credentials).
    Permanent {
        /// The collector's error.
        message: String,
    },
}

#[derive(Debug)]
struct Queued {
    chunk: Arc<Chunk>,
    /// Resent alone, after its batch was rejected, to find the bad chunk.
    solo: bool,
}

#[derive(Debug)]
struct InFlight {
    id: u64,
    chunks: Vec<Queued>,
}

/// Sealed chunks of all metrics, from `push` until acknowledged or dropped.
#[derive(Debug)]
pub struct Pipeline {
    config: PipelineConfig,
    session: u64,
    next_seq: u64,
    next_batch: u64,
    /// Chunks retried until acknowledged, in sealing order.
    queue: VecDeque<Queued>,
    /// Best-effort chunks waiting for their one attempt, in sealing order
    /// (a queue of their own: they do not wait for the backoff, and they
    /// are the first to go at the memory cap).
    lane: VecDeque<Queued>,
    in_flight: Vec<InFlight>,
    backoff: Backoff,
    jitter: Jitter,
    /// No send before this time (a retry is backing off).
    retry_at: u64,
    /// When the open chunks are due to be sealed, if any row is waiting.
    flush_at: Option<u64>,
    stats: Stats,
    events: VecDeque<Event>,
    /// The buffers of chunks acknowledged or dropped, for the next chunks.
    #[cfg(feature = "recycle")]
    spares: Spares,
}

impl Pipeline {
    /// A pipeline whose chunk ids start with `session` (random per client,
    /// so ids never repeat across restarts) and whose jitter is seeded by `seed`.
    pub fn new(config: PipelineConfig, session: u64, seed: u64) -> Result<Self, OptionError> {
        config.validate()?;
        Ok(Self::checked(config, session, seed))
    }

    /// The same for a configuration the caller has checked with
    /// [`PipelineConfig::validate`] (the browser build's JS checks its
    /// options by their JS names, and the core then links no messages).
    pub fn checked(config: PipelineConfig, session: u64, seed: u64) -> Self {
        Pipeline {
            #[cfg(feature = "recycle")]
            spares: Spares::new(config.max_buffer_bytes),
            backoff: Backoff::new(config.initial_retry_interval_ms, config.max_retry_interval_ms),
            config,
            session,
            next_seq: 1,
            next_batch: 1,
            queue: VecDeque::new(),
            lane: VecDeque::new(),
            in_flight: Vec::new(),
            jitter: Jitter::new(seed),
            retry_at: 0,
            flush_at: None,
            stats: Stats::default(),
            events: VecDeque::new(),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// A row was written into an open chunk at `now`: a flush becomes due one
    /// flush interval later, unless one is due already.
    pub fn note_open_rows(&mut self, now: u64) {
        if self.flush_at.is_none() {
            self.flush_at = Some(now.saturating_add(self.config.flush_interval_ms));
        }
    }

    /// Takes a sealed chunk, gives it its id, and returns the id. Over the
    /// memory cap, queued best-effort chunks are dropped to make room, then
    /// the oldest queued chunks (this one last, when only chunks on the wire
    /// are older).
    pub fn push(&mut self, mut chunk: Chunk) -> ChunkId {
        chunk.id = ChunkId::new(self.session, self.next_seq);
        self.next_seq += 1;
        let id = chunk.id;
        let bytes = chunk.data.len() as u64;
        self.stats.chunks_sealed += 1;
        self.stats.rows_sealed += u64::from(chunk.rows);
        self.stats.bytes_sealed += bytes;
        self.add_pending(&chunk);
        let collection = chunk.metric.collection.clone();
        let queue = if chunk.best_effort() { &mut self.lane } else { &mut self.queue };
        queue.push_back(Queued { chunk: Arc::new(chunk), solo: false });

        let (mut chunks, mut rows) = (0, 0);
        let cap = self.config.max_buffer_bytes as u64;
        while self.stats.bytes_pending > cap {
            // Best-effort chunks go first: they were promised one attempt,
            // not a place in memory. Then the oldest: the newest chunk is at
            // the back, so it goes last, and only when everything older is
            // already on the wire.
            let Some(oldest) = self.lane.pop_front().or_else(|| self.queue.pop_front()) else {
                break;
            };
            self.remove_pending(&oldest.chunk);
            chunks += 1;
            rows += u64::from(oldest.chunk.rows);
            self.release(oldest.chunk);
        }
        if chunks > 0 {
            self.stats.chunks_dropped_memory_cap += chunks;
            self.stats.rows_dropped_memory_cap += rows;
            let mut message = String::from("buffered bytes exceeded the memory cap of ");
            push_u64(&mut message, cap);
            message.push_str(" bytes");
            self.emit(Event::Dropped { reason: DropReason::MemoryCap, collection, chunks, rows, message });
        }
        id
    }

    /// What the driver should do now.
    pub fn poll(&mut self, now: u64) -> Action {
        if self.flush_at.is_some_and(|at| now >= at) {
            self.flush_at = None;
            return Action::Flush;
        }
        let free = self.in_flight.len() < self.config.max_in_flight;
        // Best-effort chunks have no retry to pace: they go without waiting
        // for the others' backoff (which would hold them in memory).
        let backing_off = now < self.retry_at;
        if free && (!self.lane.is_empty() || !backing_off && !self.queue.is_empty()) {
            return Action::Send(self.next_batch(backing_off));
        }
        let retry = (free && !self.queue.is_empty()).then_some(self.retry_at);
        match (self.flush_at, retry) {
            (Some(a), Some(b)) => Action::WaitUntil(a.min(b)),
            (Some(at), None) | (None, Some(at)) => Action::WaitUntil(at),
            (None, None) => Action::Idle,
        }
    }

    /// The next batch: the queue's chunks first, unless `best_effort_only`
    /// (the queue is backing off), then the lane's. Each metric's chunks are
    /// in one of the two, in order; when the collector cannot keep up,
    /// best-effort chunks are the ones that wait (and go at the memory cap).
    fn next_batch(&mut self, best_effort_only: bool) -> Batch {
        let mut chunks = Vec::new();
        let mut bytes = 0;
        loop {
            let queue = if best_effort_only || self.queue.is_empty() { &mut self.lane } else { &mut self.queue };
            let Some(next) = queue.front() else {
                break;
            };
            let fits = bytes + next.chunk.data.len() <= self.config.max_batch_bytes;
            if !chunks.is_empty() && (next.solo || !fits) {
                break;
            }
            let queued = queue.pop_front().expect("front exists");
            bytes += queued.chunk.data.len();
            let solo = queued.solo;
            chunks.push(queued);
            if solo {
                break;
            }
        }
        let id = self.next_batch;
        self.next_batch += 1;
        self.stats.batches_sent += 1;
        self.stats.chunks_sent += chunks.len() as u64;
        let batch = Batch { id, chunks: chunks.iter().map(|queued| queued.chunk.clone()).collect() };
        self.in_flight.push(InFlight { id, chunks });
        batch
    }

    /// The collector acknowledged batch `id`. Returns false for a batch that
    /// is not on the wire (acknowledged or failed already), which changes nothing.
    pub fn ack(&mut self, id: u64) -> bool {
        let Some(batch) = self.take_in_flight(id) else {
            return false;
        };
        self.acked(batch.chunks);
        self.backoff.reset();
        self.retry_at = 0;
        true
    }

    /// The collector stored the first `chunks` chunks of batch `id` before
    /// its send failed (a gRPC stream says how many): they are acknowledged
    /// now, and [`Pipeline::fail`] then reports on the rest, so that none is
    /// resent (nor, for a best-effort metric, counted as dropped). Returns
    /// false for a batch not on the wire.
    pub fn ack_first(&mut self, id: u64, chunks: usize) -> bool {
        let Some(batch) = self.in_flight.iter_mut().find(|batch| batch.id == id) else {
            return false;
        };
        let acked: Vec<Queued> = batch.chunks.drain(..chunks.min(batch.chunks.len())).collect();
        self.acked(acked);
        true
    }

    fn acked(&mut self, chunks: Vec<Queued>) {
        for queued in chunks {
            self.remove_pending(&queued.chunk);
            self.stats.chunks_acked += 1;
            self.stats.rows_acked += u64::from(queued.chunk.rows);
            self.stats.bytes_acked += queued.chunk.data.len() as u64;
            self.release(queued.chunk);
        }
    }

    /// Sending batch `id` failed at `now`: its best-effort chunks are
    /// dropped and counted (they had their one attempt). A retryable failure
    /// puts the others back at the front and backs off (when there are
    /// others); a permanent one drops a lone chunk,
    /// or splits a batch so that its chunks are tried one by one and only the
    /// bad ones are dropped. Returns false for a batch not on the wire.
    pub fn fail(&mut self, id: u64, failure: Failure, now: u64) -> bool {
        let Some(batch) = self.take_in_flight(id) else {
            return false;
        };
        match failure {
            Failure::Retryable { message, retry_after_ms } => {
                let retried = batch.chunks.iter().any(|queued| !queued.chunk.best_effort());
                self.requeue(batch.chunks, None, &message);
                if !retried {
                    return true;
                }
                self.stats.retries += 1;
                let jittered = self.backoff.next_delay(self.jitter.next_u64());
                let asked = retry_after_ms.unwrap_or(0).min(self.config.max_retry_interval_ms);
                let delay_ms = jittered.max(asked);
                self.retry_at = self.retry_at.max(now.saturating_add(delay_ms));
                let attempt = self.backoff.failures();
                self.emit(Event::RetryScheduled { attempt, delay_ms, message });
            }
            Failure::Permanent { message } if batch.chunks.len() > 1 => {
                self.requeue(batch.chunks, Some(true), &message);
            }
            Failure::Permanent { message } => {
                for queued in batch.chunks {
                    self.drop_chunk(queued.chunk, DropReason::Rejected, &message);
                }
            }
        }
        true
    }

    /// Puts every batch on the wire back at the front of the queue, without
    /// backoff, for a driver whose sends were cancelled and will never
    /// report (a Worker's request ended). A chunk that did arrive is stored
    /// once anyway when its metric is exactly-once (the collector
    /// de-duplicates by chunk id), perhaps twice when at-least-once; a
    /// best-effort chunk had its attempt, and is dropped and counted.
    /// Returns how many batches were on the wire; late reports of them are
    /// ignored.
    pub fn requeue_in_flight(&mut self) -> usize {
        let count = self.in_flight.len();
        let mut chunks = Vec::new();
        // Loops rather than `flat_map`: the flattening adapters are 0.6 KB of wasm.
        for batch in self.in_flight.drain(..) {
            chunks.extend(batch.chunks);
        }
        if !chunks.is_empty() {
            self.requeue(chunks, None, "the send was cancelled before an answer");
        }
        count
    }

    /// Drops everything not yet acknowledged, counted as undelivered at
    /// shutdown; returns the rows dropped. Acks that arrive later are ignored.
    pub fn abandon(&mut self, message: &str) -> u64 {
        let mut chunks = Vec::new();
        for queue in [&mut self.queue, &mut self.lane] {
            chunks.extend(core::mem::take(queue));
        }
        for batch in self.in_flight.drain(..) {
            chunks.extend(batch.chunks);
        }
        // Their buffers are freed, not kept as spares: nothing is written
        // after a shutdown.
        sort_by_id(&mut chunks);
        let Some(first) = chunks.first() else {
            return 0;
        };
        let collection = first.chunk.metric.collection.clone();
        let rows: u64 = chunks.iter().map(|queued| u64::from(queued.chunk.rows)).sum();
        for queued in &chunks {
            self.remove_pending(&queued.chunk);
        }
        self.stats.chunks_dropped_shutdown += chunks.len() as u64;
        self.stats.rows_dropped_shutdown += rows;
        let (chunks, message) = (chunks.len() as u64, message.to_string());
        self.emit(Event::Dropped { reason: DropReason::Shutdown, collection, chunks, rows, message });
        rows
    }

    /// The sequence number the next pushed chunk gets: a flush that sealed
    /// everything is complete when nothing below this is pending.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether some chunk with a sequence number below `seq` is still
    /// queued or on the wire.
    pub fn pending_before(&self, seq: u64) -> bool {
        // Both queues are in sealing order: their fronts are their oldest.
        let in_queue = self.queue.front().is_some_and(|queued| queued.chunk.id.seq() < seq)
            || self.lane.front().is_some_and(|queued| queued.chunk.id.seq() < seq);
        in_queue || self.in_flight.iter().any(|batch| batch.chunks.iter().any(|queued| queued.chunk.id.seq() < seq))
    }

    /// Whether nothing is queued or on the wire.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.lane.is_empty() && self.in_flight.is_empty()
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        #[cfg(feature = "recycle")]
        let stats = Stats { spare_bytes: self.spares.bytes() as u64, ..self.stats };
        #[cfg(not(feature = "recycle"))]
        let stats = self.stats;
        stats
    }

    /// An empty buffer for a chunk of `capacity` bytes, from the buffers of
    /// chunks acknowledged or dropped (see [`crate::engine::spare`]), for
    /// [`ChunkBuffer::give_spare`](crate::engine::buffer::ChunkBuffer::give_spare);
    /// `None` when none is kept whose capacity is within half and twice
    /// `capacity`. Asking also tells the pipeline which buffers are worth
    /// keeping.
    #[cfg(feature = "recycle")]
    pub fn take_spare(&mut self, capacity: usize) -> Option<Vec<u8>> {
        self.spares.take(capacity)
    }

    /// Takes back a spare buffer a chunk buffer no longer waits to use
    /// ([`ChunkBuffer::take_spare`](crate::engine::buffer::ChunkBuffer::take_spare)),
    /// keeping it within the bounds of [`crate::engine::spare`] (or freeing it).
    #[cfg(feature = "recycle")]
    pub fn give_spare(&mut self, buffer: Vec<u8>) {
        self.spares.keep(buffer);
    }

    /// The next event for the user, oldest first.
    pub fn pop_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn take_in_flight(&mut self, id: u64) -> Option<InFlight> {
        let index = self.in_flight.iter().position(|batch| batch.id == id)?;
        Some(self.in_flight.swap_remove(index))
    }

    /// Puts the chunks of a send that failed back at the front of the
    /// queue, in sealing order, to be sent alone (`solo`, after a rejection)
    /// or as they were; its best-effort chunks had their one attempt, and
    /// are dropped and counted with `message`.
    fn requeue(&mut self, mut chunks: Vec<Queued>, solo: Option<bool>, message: &str) {
        if let Some(solo) = solo {
            chunks.iter_mut().for_each(|queued| queued.solo = solo);
        }
        // Another batch may have been sent since: keep the queue in order.
        // (One sort of the whole, not `VecDeque::make_contiguous`, whose
        // rotation is 0.7 KB of wasm code.)
        chunks.extend(core::mem::take(&mut self.queue));
        sort_by_id(&mut chunks);
        for queued in chunks {
            // Only chunks of this send can be best-effort ones (the queue
            // never holds them): they had their one attempt.
            match queued.chunk.best_effort() {
                true => self.drop_chunk(queued.chunk, DropReason::BestEffort, message),
                false => self.queue.push_back(queued),
            }
        }
    }

    /// Drops one chunk that failed, counted as `reason` (rejected or best
    /// effort), with an event that names its metric.
    fn drop_chunk(&mut self, chunk: Arc<Chunk>, reason: DropReason, message: &str) {
        self.remove_pending(&chunk);
        let rows = u64::from(chunk.rows);
        let (chunks_dropped, rows_dropped) = match reason {
            DropReason::Rejected => (&mut self.stats.chunks_dropped_rejected, &mut self.stats.rows_dropped_rejected),
            _ => (&mut self.stats.chunks_dropped_best_effort, &mut self.stats.rows_dropped_best_effort),
        };
        *chunks_dropped += 1;
        *rows_dropped += rows;
        let (collection, message) = (chunk.metric.collection.clone(), message.to_string());
        self.emit(Event::Dropped { reason, collection, chunks: 1, rows, message });
        self.release(chunk);
    }

    /// Lets go of a chunk that was acknowledged or dropped: its buffer is
    /// kept for the next chunks when the pipeline held the last reference
    /// to it. A driver that still holds the chunk's batch keeps it alive,
    /// and the buffer is then freed with the batch: drivers drop a batch
    /// before they report on it.
    fn release(&mut self, chunk: Arc<Chunk>) {
        #[cfg(feature = "recycle")]
        if let Ok(chunk) = Arc::try_unwrap(chunk) {
            self.spares.keep(chunk.data);
        }
        #[cfg(not(feature = "recycle"))]
        drop(chunk);
    }

    fn add_pending(&mut self, chunk: &Chunk) {
        self.stats.chunks_pending += 1;
        self.stats.rows_pending += u64::from(chunk.rows);
        self.stats.bytes_pending += chunk.data.len() as u64;
    }

    fn remove_pending(&mut self, chunk: &Chunk) {
        self.stats.chunks_pending -= 1;
        self.stats.rows_pending -= u64::from(chunk.rows);
        self.stats.bytes_pending -= chunk.data.len() as u64;
    }

    fn emit(&mut self, event: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

/// Sorts chunks by id (sealing order), stably. An insertion sort: what is
/// sorted here is always nearly in order already (a batch's chunks, or a
/// batch put back in front of a queue in order), and core's stable sort
/// cost the wasm build three instantiations of about 13 KB each (4.6 KB
/// gzip in all).
fn sort_by_id(chunks: &mut [Queued]) {
    for i in 1..chunks.len() {
        let mut j = i;
        while j > 0 && chunks[j - 1].chunk.id > chunks[j].chunk.id {
            chunks.swap(j - 1, j);
            j -= 1;
        }
    }
}
