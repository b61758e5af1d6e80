//! The instruments of the package's `edgemetrics/instruments` entry
//! (feature `instruments`, a module of its own so that the default build
//! stays as small): the engine's registry behind the same C ABI, and its
//! collection into rows of the instrument collections, encoded here by the
//! engine's encoder and appended to chunk buffers like the rows JS writes.
//!
//! Labels come in the scratch area as, for each pair, the key's and the
//! value's UTF-8 lengths (u32, little-endian) then their bytes. An error
//! leaves its message in the client's text (`em_text` gives where).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{Client, client, text};

use crate::engine::buffer::{ChunkBuffer, DEFAULT_MAX_CHUNK_SIZE};
use crate::engine::chunk::MetricInfo;
use crate::engine::instruments::{Bound, Descriptor, InstrumentError, Kind, rows};

/// What a client keeps for its instruments.
#[derive(Default)]
pub struct Instruments {
    registry: crate::engine::instruments::Registry,
    made: Vec<Arc<crate::engine::instruments::Instrument>>,
    bound: Vec<Option<Bound>>,
    /// Per instrument collection: the index of its buffer.
    collections: [Option<usize>; 5],
}

const KINDS: [Kind; 6] =
    [Kind::Counter, Kind::UpDownCounter, Kind::Gauge, Kind::Histogram, Kind::ExponentialHistogram, Kind::Summary];

/// Keeps `error` for JS (which assembles the message as the engine's
/// `Display` does, so that no `core::fmt` is linked): its `what`, subject
/// and message in the text, separated by U+0001, and a value in `out[1]`.
fn refuse(c: &mut Client, error: &InstrumentError) -> i32 {
    c.text.clear();
    for (i, part) in [error.what, &error.subject, error.message].into_iter().enumerate() {
        if i > 0 {
            c.text.push('\u{1}');
        }
        c.text.push_str(part);
    }
    c.out[1] = error.value;
    -1
}

/// The label pairs in the scratch area, borrowed from it.
fn labels(scratch: &[u8], count: u32) -> Option<Vec<(&str, &str)>> {
    let mut pairs = Vec::with_capacity(count as usize);
    let mut at = 0;
    for _ in 0..count {
        let word = |at: usize| scratch.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let (k, v) = (word(at)?, word(at + 4)?);
        let key = scratch.get(at + 8..at + 8 + k)?;
        let value = scratch.get(at + 8 + k..at + 8 + k + v)?;
        pairs.push((core::str::from_utf8(key).ok()?, core::str::from_utf8(value).ok()?));
        at += 8 + k + v;
    }
    Some(pairs)
}

fn bad_labels(c: &mut Client) -> i32 {
    c.text = String::from("labels are not UTF-8 pairs");
    -1
}

/// An instrument of kind `kind` (the order of `Kind` in the package's JS);
/// the scratch area holds its name, unit and description one after the
/// other, then `bounds` f64s (little-endian) for a histogram. Returns its
/// index, or -1 (the message in `em_text`).
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_instrument(
    handle: *mut Client,
    kind: u32,
    name: usize,
    unit: usize,
    description: usize,
    bounds: u32,
) -> i32 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let Some(&kind) = KINDS.get(kind as usize) else { return -1 };
    let strings = name + unit + description;
    let Some(numbers) = c.scratch.get(strings..strings + 8 * bounds as usize) else { return -1 };
    let mut descriptor = Descriptor::new(kind, &text(&c.scratch[..name]));
    descriptor.unit = text(&c.scratch[name..name + unit]);
    descriptor.description = text(&c.scratch[name + unit..strings]);
    if bounds > 0 {
        let values: Vec<f64> = numbers
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect();
        descriptor.bounds = Arc::from(values);
    }
    match c.instruments.registry.instrument(descriptor) {
        Ok(instrument) => {
            let index = match c.instruments.made.iter().position(|i| Arc::ptr_eq(i, &instrument)) {
                Some(index) => index,
                None => {
                    c.instruments.made.push(instrument);
                    c.instruments.made.len() - 1
                }
            };
            index as i32
        }
        Err(error) => refuse(c, &error),
    }
}

/// Records `value` for the series of `count` labels in the scratch area.
/// Returns 0, or -1 (the message in `em_text`).
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_record(handle: *mut Client, instrument: u32, value: f64, count: u32) -> i32 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let Some(made) = c.instruments.made.get(instrument as usize).cloned() else { return -1 };
    let Some(pairs) = labels(&c.scratch, count) else { return bad_labels(c) };
    match made.record(value, &pairs) {
        Ok(()) => 0,
        Err(error) => {
            drop(pairs);
            refuse(c, &error)
        }
    }
}

/// A handle on the series of `count` labels in the scratch area. Returns its
/// index, or -1 (the message in `em_text`).
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_bind(handle: *mut Client, instrument: u32, count: u32) -> i32 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let Some(made) = c.instruments.made.get(instrument as usize).cloned() else { return -1 };
    let Some(pairs) = labels(&c.scratch, count) else { return bad_labels(c) };
    let bound = made.bind(&pairs);
    drop(pairs);
    match bound {
        Ok(bound) => {
            let slot = c.instruments.bound.iter().position(Option::is_none).unwrap_or(c.instruments.bound.len());
            if slot == c.instruments.bound.len() {
                c.instruments.bound.push(None);
            }
            c.instruments.bound[slot] = Some(bound);
            slot as i32
        }
        Err(error) => refuse(c, &error),
    }
}

/// Records `value` through bound handle `bound`. Returns 0, or -1.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_bound_record(handle: *mut Client, bound: u32, value: f64) -> i32 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let Some(Some(series)) = c.instruments.bound.get(bound as usize) else { return -1 };
    match series.record(value) {
        Ok(()) => 0,
        Err(error) => refuse(c, &error),
    }
}

/// Lets go of bound handle `bound` (its series may then go stale).
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_unbind(handle: *mut Client, bound: u32) {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    if let Some(slot) = c.instruments.bound.get_mut(bound as usize) {
        *slot = None;
    }
}

/// Collects the instruments as of `now_unix_ms` and appends their rows to
/// the instrument collections' chunks. Returns the rows.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_collect(handle: *mut Client, now_unix_ms: f64, now: f64) -> f64 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let points = c.instruments.registry.collect(now_unix_ms as u64);
    let temporality = c.instruments.registry.config().temporality;
    let mut written = 0.0;
    for (index, points) in crate::engine::instruments::by_collection(points).iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let metric = *c.instruments.collections[index].get_or_insert_with(|| {
            let info = MetricInfo {
                collection: String::from(rows::COLLECTIONS[index]),
                schema: rows::schema(index),
                skip_timestamp: false,
                timestamp_column: None,
                delivery: Default::default(),
            };
            c.metrics.push(ChunkBuffer::checked(info, DEFAULT_MAX_CHUNK_SIZE));
            c.metrics.len() - 1
        });
        let buffer = &mut c.metrics[metric];
        for point in points {
            let row = rows::Row { point, temporality };
            // A row larger than a chunk (a histogram of 256 bounds is 6 KB;
            // a chunk 1 MiB) cannot be; were it, it is dropped.
            if let Ok(Some(chunk)) = buffer.write_with(
                |open| {
                    row.write(open);
                    Ok::<(), ()>(())
                },
                |_, _| (),
            ) {
                c.pipeline.push(chunk);
            }
            written += 1.0;
        }
        if buffer.open_rows() > 0 {
            c.pipeline.note_open_rows(super::millis(now));
        }
    }
    written
}

/// The client's last error message: its address, with its length in `out[0]`.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_text(handle: *mut Client) -> *const u8 {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    c.out[0] = c.text.len() as f64;
    c.text.as_ptr()
}

/// The instruments' counters in `out`: instruments made, their series,
/// updates that went to an overflow series.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_instrument_stats(handle: *mut Client) {
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let stats = c.instruments.registry.stats();
    c.out[0] = stats.instruments as f64;
    c.out[1] = stats.series as f64;
    c.out[2] = stats.overflowed as f64;
}

/// Sets how the instruments aggregate, before any is made: temporality 0
/// delta, 1 cumulative; series per instrument; collections before an idle
/// series is dropped. The JS checked the numbers.
///
/// # Safety
/// `handle` is live: see [`client`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn em_instruments_config(
    handle: *mut Client,
    temporality: u32,
    cardinality_limit: u32,
    stale_after: u32,
) {
    use crate::engine::instruments::{Registry, RegistryConfig, Temporality};
    // SAFETY: the caller passes a live handle.
    let c = unsafe { client(handle) };
    let temporality = if temporality == 1 { Temporality::Cumulative } else { Temporality::Delta };
    let config = RegistryConfig { temporality, cardinality_limit: cardinality_limit as usize, stale_after };
    c.instruments.registry = Registry::new(config);
}
