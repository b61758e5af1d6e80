//! The browser and Worker build's core: the engine's chunk buffers and
//! send pipeline behind a small C ABI that the npm package's JavaScript
//! calls (`pkg/lib/core.js`).
//!
//! What runs in the browser is split by what needs to be where. Reading a
//! JS object is JavaScript's work, and any crossing into wasm per value
//! costs more than it saves, so the package's JS checks options and
//! schemas, reads rows and encodes them to Avro, makes the requests and
//! keeps the timers. What the three targets share stays here, in Rust:
//! chunks sealed at the max chunk size, chunk ids, the queue of sealed
//! chunks with its memory cap, batches, retries with backoff and jitter,
//! the counters and events, and the protobuf body of a batch. Without
//! wasm-bindgen (its glue and export shims were a fifth of the old build)
//! the exports take numbers and pointers into linear memory:
//!
//! - strings and row bytes go in through the client's scratch area
//!   ([`em_scratch`]), which JS fills before the call that reads it;
//! - results that are more than one number come back in the client's
//!   `out` area of f64s ([`em_out`]), and bodies and texts as a pointer and
//!   a length into memory the client owns until its next call.
//!
//! Times are milliseconds on the caller's monotonic clock, passed as f64.
#![allow(unsafe_code)]

mod heap;
#[cfg(feature = "instruments")]
mod instruments;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use crate::engine::buffer::ChunkBuffer;
use crate::engine::chunk::{Delivery, MetricInfo};
use crate::engine::pipeline::{Action, Failure, Pipeline, PipelineConfig};
use crate::engine::stats::{DropReason, Event, Stats};
use crate::wire;

/// A client: its metrics' buffers, its pipeline, and what it hands to JS.
pub struct Client {
    pipeline: Pipeline,
    metrics: Vec<ChunkBuffer>,
    /// What JS writes before a call: rows, strings.
    scratch: Vec<u8>,
    /// The body of the batch last handed out by [`em_poll`].
    body: Vec<u8>,
    /// Bytes of each chunk's part of that body, in order (a page that is
    /// going away sends a batch in several keepalive requests).
    parts: Vec<u32>,
    /// Text of the event last handed out by [`em_event`].
    text: String,
    out: [f64; 8],
    stats: Stats,
    #[cfg(feature = "instruments")]
    instruments: instruments::Instruments,
}

/// The client behind a handle JS got from [`em_new`].
///
/// # Safety
/// `handle` came from [`em_new`] and was not given to [`em_free`]
/// (`pkg/lib/core.js` forgets a handle when it frees it, and throws for any
/// later call); the module runs on one thread, so no two calls overlap.
unsafe fn client<'a>(handle: *mut Client) -> &'a mut Client {
    // SAFETY: as the caller promises: a live `Box::into_raw` pointer.
    unsafe { &mut *handle }
}

/// Text JS wrote (its TextEncoder writes only UTF-8; anything else is
/// taken as empty).
fn text(bytes: &[u8]) -> String {
    if !crate::engine::text::is_utf8(bytes) {
        return String::new();
    }
    // SAFETY: checked just above, by the same rules as `core::str::from_utf8`
    // (whose fast loop is 0.6 KB of wasm; the tests of `is_utf8` compare
    // the two).
    unsafe { String::from_utf8_unchecked(bytes.to_vec()) }
}

fn millis(t: f64) -> u64 {
    if t > 0.0 { t as u64 } else { 0 }
}

/// A new client, for a configuration the JS checked.
#[unsafe(no_mangle)]
pub extern "C" fn em_new(
    flush_interval_ms: f64,
    initial_retry_ms: f64,
    max_retry_ms: f64,
    max_buffer_bytes: f64,
    max_batch_bytes: f64,
    max_in_flight: u32,
    session: f64,
    seed: f64,
) -> *mut Client {
    let config = PipelineConfig {
        flush_interval_ms: millis(flush_interval_ms),
        initial_retry_interval_ms: millis(initial_retry_ms),
        max_retry_interval_ms: millis(max_retry_ms),
        max_buffer_bytes: max_buffer_bytes as usize,
        max_batch_bytes: max_batch_bytes as usize,
        max_in_flight: max_in_flight as usize,
    };
    // The session id is random per client (53 bits from JS), so chunk ids
    // do not repeat across page loads. The JS checked the numbers.
    let pipeline = Pipeline::checked(config, session as u64, seed as u64);
    Box::into_raw(Box::new(Client {
        pipeline,
        metrics: Vec::new(),
        scratch: Vec::new(),
        body: Vec::new(),
        parts: Vec::new(),
        text: String::new(),
        out: [0.0; 8],
        stats: Stats::default(),
        #[cfg(feature = "instruments")]
        instruments: Default::default(),
    }))
}

/// Frees a client and everything it buffers.
///
/// # Safety
/// `handle` comes from [`em_new`] and is used no more after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_free(handle: *mut Client) {
    // SAFETY: as the caller promises; JS calls this once per handle, last.
    drop(unsafe { Box::from_raw(handle) });
}

/// The scratch area, at least `len` bytes long: JS writes there, then
/// makes the call that reads it. The memory may have grown.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_scratch(handle: *mut Client, len: usize) -> *mut u8 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    if c.scratch.len() < len {
        c.scratch.resize(len, 0);
    }
    c.scratch.as_mut_ptr()
}

/// The `out` area: 8 f64s.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_out(handle: *mut Client) -> *const f64 {
    // SAFETY: the caller passes a live handle.
    unsafe { client(handle) }.out.as_ptr()
}

/// A metric; the scratch area holds its collection, schema JSON and
/// timestamp column (`ts_len` is `u32::MAX` for none) one after another;
/// the JS checked the max chunk size and the delivery (0 best effort, 1 at
/// least once, 2 exactly once). Returns its index.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_metric(
    handle: *mut Client,
    max_chunk_size: f64,
    skip_timestamp: u32,
    collection_len: usize,
    schema_len: usize,
    ts_len: u32,
    delivery: u32,
) -> i32 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let text = |from: usize, len: usize| text(&c.scratch[from..from + len]);
    let timestamp_column = (ts_len != u32::MAX).then(|| text(collection_len + schema_len, ts_len as usize));
    let info = MetricInfo {
        collection: text(0, collection_len),
        schema: text(collection_len, schema_len),
        skip_timestamp: skip_timestamp != 0,
        timestamp_column,
        delivery: match delivery {
            0 => Delivery::BestEffort,
            1 => Delivery::AtLeastOnce,
            _ => Delivery::ExactlyOnce,
        },
    };
    c.metrics.push(ChunkBuffer::checked(info, max_chunk_size as usize));
    (c.metrics.len() - 1) as i32
}

/// Appends `rows` encoded rows of metric `metric` from the scratch area:
/// their `len` bytes, then where each ends, as little-endian u32s. The JS
/// checked every row against the max chunk size, so each fits a chunk.
/// Returns 0, or 2 when the sender should look again (a chunk was sealed,
/// or rows wait in a chunk that was empty); -1 for an unknown metric, 1
/// for a row larger than a chunk (which the JS never sends; the rows
/// before it stay).
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_append(handle: *mut Client, metric: u32, len: usize, rows: u32, now: f64) -> i32 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let Some(buffer) = c.metrics.get_mut(metric as usize) else {
        return -1;
    };
    let was_empty = buffer.open_rows() == 0;
    let mut sealed = false;
    let (bytes, ends) = c.scratch.split_at(len.min(c.scratch.len()));
    let mut start = 0;
    for end in ends.chunks_exact(4).take(rows as usize) {
        let end = (u32::from_le_bytes([end[0], end[1], end[2], end[3]]) as usize).clamp(start, bytes.len());
        let row = &bytes[start..end];
        start = end;
        let appended = buffer.write_with(
            |open: &mut Vec<u8>| {
                open.extend_from_slice(row);
                Ok(())
            },
            |_, _| (),
        );
        match appended {
            Ok(Some(chunk)) => {
                c.pipeline.push(chunk);
                sealed = true;
            }
            Ok(None) => {}
            Err(()) => return 1,
        }
    }
    let open = buffer.open_rows() > 0;
    if open {
        c.pipeline.note_open_rows(millis(now));
    }
    2 * i32::from(sealed || (was_empty && open))
}

/// Seals every metric's open chunk. Returns the sequence number below
/// which every chunk holding a row written so far lies.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_seal(handle: *mut Client) -> f64 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    for buffer in &mut c.metrics {
        if let Some(chunk) = buffer.take_open() {
            c.pipeline.push(chunk);
        }
    }
    c.pipeline.next_seq() as f64
}

/// What to do now: 0 nothing until something changes, 1 wait until
/// `out[0]`, 2 send batch `out[0]` (its body at `out[1]`, `out[2]` bytes,
/// split into `out[4]` parts whose lengths are u32s at `out[3]`; `out[5]`
/// rows), 3 seal the open chunks ([`em_seal`]) and ask again.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_poll(handle: *mut Client, now: f64) -> i32 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    match c.pipeline.poll(millis(now)) {
        Action::Idle => 0,
        Action::WaitUntil(at) => {
            c.out[0] = at as f64;
            1
        }
        Action::Flush => 3,
        Action::Send(batch) => {
            c.body.clear();
            c.parts.clear();
            for chunk in &batch.chunks {
                let before = c.body.len();
                wire::put_chunk(&mut c.body, chunk);
                c.parts.push((c.body.len() - before) as u32);
            }
            c.out = [
                batch.id as f64,
                c.body.as_ptr() as usize as f64,
                c.body.len() as f64,
                c.parts.as_ptr() as usize as f64,
                c.parts.len() as f64,
                batch.rows() as f64,
                0.0,
                0.0,
            ];
            2
        }
    }
}

/// The collector acknowledged batch `id`.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_ack(handle: *mut Client, id: f64) {
    // SAFETY: the caller passes a live handle.
    unsafe { client(handle) }.pipeline.ack(id as u64);
}

/// Sending batch `id` failed at `now`; the scratch area holds the message
/// (`len` bytes). `retryable` is 0 for a failure no retry will mend;
/// `retry_after_ms` is negative when the collector did not say.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_fail(
    handle: *mut Client,
    id: f64,
    retryable: u32,
    retry_after_ms: f64,
    now: f64,
    len: usize,
) {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let message = text(&c.scratch[..len]);
    let failure = match retryable {
        0 => Failure::Permanent { message },
        _ => Failure::Retryable { message, retry_after_ms: (retry_after_ms >= 0.0).then_some(retry_after_ms as u64) },
    };
    c.pipeline.fail(id as u64, failure, millis(now));
}

/// Puts the batches on the wire back in the queue (a driver that cannot
/// finish them, such as a Worker's request that ends). Returns how many.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_requeue(handle: *mut Client) -> u32 {
    // SAFETY: the caller passes a live handle.
    unsafe { client(handle) }.pipeline.requeue_in_flight() as u32
}

/// Drops and counts what is undelivered; the scratch area holds why
/// (`len` bytes). Returns the rows dropped.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_abandon(handle: *mut Client, len: usize) -> f64 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let message = text(&c.scratch[..len]);
    c.pipeline.abandon(&message) as f64
}

/// 1 while a chunk with a sequence number below `seq` is undelivered.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_pending(handle: *mut Client, seq: f64) -> u32 {
    // SAFETY: the caller passes a live handle.
    u32::from(unsafe { client(handle) }.pipeline.pending_before(seq as u64))
}

/// 1 when nothing is queued or on the wire.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_idle(handle: *mut Client) -> u32 {
    // SAFETY: the caller passes a live handle.
    u32::from(unsafe { client(handle) }.pipeline.is_empty())
}

/// The pipeline's counters: a [`Stats`], 22 u64s in the order of `Stats`
/// in `index.d.ts` (the JS counts the rows written, and so the rows open).
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_stats(handle: *mut Client) -> *const Stats {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    c.stats = c.pipeline.stats();
    &c.stats
}

/// The next event: 0 none; 1 rows dropped (`out` = reason 0 memory cap,
/// 1 rejected, 2 shutdown, 3 best effort; chunks; rows; the collection's length in the
/// text; the text's address; its length: the collection, then the
/// message); 2 a retry scheduled (`out` = attempt, delay; -; -; the text's
/// address; its length: the message).
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_event(handle: *mut Client) -> i32 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let Some(event) = c.pipeline.pop_event() else {
        return 0;
    };
    c.text.clear();
    let kind = match event {
        Event::Dropped { reason, collection, chunks, rows, message } => {
            let reason = match reason {
                DropReason::MemoryCap => 0.0,
                DropReason::Rejected => 1.0,
                DropReason::Shutdown => 2.0,
                DropReason::BestEffort => 3.0,
            };
            c.text.push_str(&collection);
            c.text.push_str(&message);
            c.out[..4].copy_from_slice(&[reason, chunks as f64, rows as f64, collection.len() as f64]);
            1
        }
        Event::RetryScheduled { attempt, delay_ms, message } => {
            c.text.push_str(&message);
            c.out[..4].copy_from_slice(&[f64::from(attempt), delay_ms as f64, 0.0, 0.0]);
            2
        }
    };
    c.out[4] = c.text.as_ptr() as usize as f64;
    c.out[5] = c.text.len() as f64;
    kind
}
