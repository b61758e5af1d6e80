//! A metric's buffer: rows are encoded straight into the open chunk, which is
//! sealed when the next row would take it past the max chunk size.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;

use crate::engine::avro::{self, EncodeError, Problem};
use crate::engine::chunk::{Chunk, Delivery, MetricInfo};
#[cfg(feature = "recycle")]
use crate::engine::pipeline::Pipeline;
use crate::engine::schema::Schema;

/// The max chunk size when none is given (castai/metrics' default).
pub const DEFAULT_MAX_CHUNK_SIZE: usize = 1 << 20;
/// The largest max chunk size allowed (castai/metrics' cap, and what the
/// collector accepts).
pub const MAX_CHUNK_SIZE_LIMIT: usize = 20 << 20;
/// A chunk is sealed at this many rows even if it has room left (rows of a
/// record whose fields are all `null` take no bytes at all).
pub const MAX_ROWS_PER_CHUNK: u32 = 1_000_000;

/// How a metric chunks and labels its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricOptions {
    /// A chunk is sealed before a row would take it past this many bytes.
    pub max_chunk_size: usize,
    /// When true, the collector adds no receive-time column.
    pub skip_timestamp: bool,
    /// Name of the collector's receive-time column; `timestamp` when absent.
    pub timestamp_column: Option<String>,
    /// What the metric's chunks are promised (exactly once by default).
    pub delivery: Delivery,
}

impl Default for MetricOptions {
    fn default() -> Self {
        MetricOptions {
            max_chunk_size: DEFAULT_MAX_CHUNK_SIZE,
            skip_timestamp: false,
            timestamp_column: None,
            delivery: Delivery::ExactlyOnce,
        }
    }
}

/// An option of a metric (or of a client) that is out of its bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The option's name, as the user spells it.
    pub option: &'static str,
    /// What is wrong with its value.
    pub message: String,
}

impl OptionError {
    /// An error about `option`.
    pub fn new(option: &'static str, message: impl Into<String>) -> Self {
        OptionError { option, message: message.into() }
    }
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option \"{}\": {}", self.option, self.message)
    }
}

impl serde::ser::StdError for OptionError {}

/// A row of a batch that does not fit the schema: its index in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Position of the row in the rows given.
    pub index: usize,
    /// Why it does not fit.
    pub error: EncodeError,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}: {}", self.index, self.error)
    }
}

impl serde::ser::StdError for RowError {}

/// Refuses a max chunk size of 0 or past [`MAX_CHUNK_SIZE_LIMIT`].
fn check_max_chunk_size(max_chunk_size: usize) -> Result<(), OptionError> {
    if max_chunk_size == 0 || max_chunk_size > MAX_CHUNK_SIZE_LIMIT {
        let mut message = String::new();
        crate::engine::text::push_u64(&mut message, max_chunk_size as u64);
        message.push_str(" is not between 1 and ");
        crate::engine::text::push_u64(&mut message, MAX_CHUNK_SIZE_LIMIT as u64);
        message.push_str(" bytes");
        return Err(OptionError::new("max_chunk_size", message));
    }
    Ok(())
}

/// The open chunk of one metric and its sealing, whatever encodes the rows:
/// the engine's encoder for [`MetricBuffer`], JavaScript in the browser
/// build (which hands over rows already encoded).
#[derive(Debug)]
pub struct ChunkBuffer {
    info: Arc<MetricInfo>,
    max_chunk_size: usize,
    open: Vec<u8>,
    open_rows: u32,
    rows_written: u64,
    #[cfg(feature = "recycle")]
    spare: Spare,
}

/// The buffer a [`ChunkBuffer`] keeps for its next full chunk, and whether
/// it fills chunks (the `recycle` feature).
#[cfg(feature = "recycle")]
#[derive(Debug, Default)]
struct Spare {
    buffer: Option<Vec<u8>>,
    /// A full chunk was sealed since the last flush ([`ChunkBuffer::take_open`]).
    filled: bool,
    /// One was sealed in the flush interval before that.
    filled_before: bool,
}

impl ChunkBuffer {
    /// A buffer for the chunks of `info`, after checking `max_chunk_size`.
    pub fn new(info: MetricInfo, max_chunk_size: usize) -> Result<Self, OptionError> {
        check_max_chunk_size(max_chunk_size)?;
        Ok(Self::checked(info, max_chunk_size))
    }

    /// The same for a max chunk size the caller has checked (the browser
    /// build's JS checks it by its JS name, and the core then links no
    /// messages).
    pub fn checked(info: MetricInfo, max_chunk_size: usize) -> Self {
        ChunkBuffer {
            info: Arc::new(info),
            max_chunk_size,
            open: Vec::new(),
            open_rows: 0,
            rows_written: 0,
            #[cfg(feature = "recycle")]
            spare: Spare::default(),
        }
    }

    /// What the chunks of this metric carry besides their rows.
    pub fn info(&self) -> &Arc<MetricInfo> {
        &self.info
    }

    /// The largest chunk, in bytes.
    pub fn max_chunk_size(&self) -> usize {
        self.max_chunk_size
    }

    /// Rows accepted since the buffer was made.
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    /// Rows in the open (not yet sealed) chunk.
    pub fn open_rows(&self) -> u32 {
        self.open_rows
    }

    /// Bytes in the open chunk.
    pub fn open_bytes(&self) -> usize {
        self.open.len()
    }

    /// Appends one row that `encode` writes at the end of the open chunk.
    /// When the row does not fit, the open chunk is sealed and returned,
    /// and the row starts the next one.
    ///
    /// A row that `encode` refuses, or that alone is larger than the max
    /// chunk size (`too_large(size, limit)`), is rejected and leaves the
    /// buffer as it was.
    #[inline]
    pub fn write_with<E>(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
        too_large: impl FnOnce(usize, usize) -> E,
    ) -> Result<Option<Chunk>, E> {
        let start = self.open.len();
        if start == 0 && self.open.capacity() == 0 {
            self.open.reserve(self.max_chunk_size.min(INITIAL_CAPACITY));
        }
        encode(&mut self.open)?;
        let size = self.open.len() - start;
        if self.open.len() <= self.max_chunk_size && self.open_rows < MAX_ROWS_PER_CHUNK {
            self.open_rows += 1;
            self.rows_written += 1;
            return Ok(None);
        }
        if size > self.max_chunk_size {
            self.open.truncate(start);
            return Err(too_large(size, self.max_chunk_size));
        }
        let mut next = self.full_chunk_vec();
        next.extend_from_slice(&self.open[start..]);
        self.open.truncate(start);
        let sealed = self.seal(next);
        self.open_rows = 1;
        self.rows_written += 1;
        Ok(sealed)
    }

    /// Writes all rows or none: `write` is called for each in turn (with
    /// the buffer), and when one fails, nothing of the batch stays and the
    /// error comes back with the row's index. Chunks sealed on the way are
    /// appended to `sealed`.
    pub fn write_all_with<E, R>(
        &mut self,
        rows: impl IntoIterator<Item = R>,
        mut write: impl FnMut(&mut Self, R) -> Result<Option<Chunk>, E>,
        sealed: &mut Vec<Chunk>,
    ) -> Result<usize, (usize, E)> {
        // Rows go straight into chunks; on a bad row the chunks sealed here
        // are taken back, and the first of them still starts with the bytes
        // the open chunk held before, so nothing is copied on success.
        let (open_len, open_rows) = (self.open.len(), self.open_rows);
        let mut local = Vec::new();
        let mut count = 0;
        for row in rows {
            let index = count;
            match write(self, row) {
                Ok(chunk) => local.extend(chunk),
                Err(error) => {
                    if let Some(first) = local.into_iter().next() {
                        self.open = first.data;
                    }
                    self.open.truncate(open_len);
                    self.open_rows = open_rows;
                    self.rows_written -= index as u64;
                    return Err((index, error));
                }
            }
            count += 1;
        }
        sealed.append(&mut local);
        Ok(count)
    }

    /// Seals the open chunk, however full, for a flush; `None` when it holds
    /// no rows.
    pub fn take_open(&mut self) -> Option<Chunk> {
        #[cfg(feature = "recycle")]
        {
            self.spare.filled_before = core::mem::take(&mut self.spare.filled);
        }
        self.seal(Vec::new())
    }

    /// Whether a spare buffer would be used: none is held, and the buffer
    /// sealed a full chunk in this flush interval or the one before (it
    /// fills chunks; one that does not would only hold the spare).
    #[cfg(feature = "recycle")]
    pub fn wants_spare(&self) -> bool {
        self.spare.buffer.is_none() && (self.spare.filled || self.spare.filled_before)
    }

    /// Gives the buffer a vec to hold the rows of the chunk that follows the
    /// next full one, instead of fresh memory (a spare from
    /// [`Pipeline::take_spare`]); whatever it holds is cleared then, and it
    /// is grown to [`Self::full_chunk_capacity`] when short of it. A spare
    /// held already is freed.
    #[cfg(feature = "recycle")]
    pub fn give_spare(&mut self, spare: Vec<u8>) {
        self.spare.buffer = Some(spare);
    }

    /// Takes back the spare buffer, unused (a flush gives it back to the
    /// pipeline, so that a metric that stopped writing holds none).
    #[cfg(feature = "recycle")]
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        self.spare.buffer.take()
    }

    /// Bytes (of capacity) of the spare buffer held.
    #[cfg(feature = "recycle")]
    pub fn spare_bytes(&self) -> usize {
        self.spare.buffer.as_ref().map_or(0, Vec::capacity)
    }

    /// The capacity of the vec of a chunk that follows a full one: a full
    /// chunk, plus a little room so that the row that overflows it rarely
    /// makes the vec grow (which would copy the whole chunk).
    pub fn full_chunk_capacity(&self) -> usize {
        self.max_chunk_size + (self.max_chunk_size / 128).min(8 << 10)
    }

    /// Seals the open chunk and makes `next` the open one.
    fn seal(&mut self, next: Vec<u8>) -> Option<Chunk> {
        let mut data = core::mem::replace(&mut self.open, next);
        let rows = core::mem::take(&mut self.open_rows);
        if rows == 0 {
            return None;
        }
        // Buffered bytes are the SDK's main memory cost: keep the spare
        // capacity of a sealed chunk under 0.4% of its bytes (shrinking
        // reallocates in place with the system allocators measured).
        if data.capacity() - data.len() > data.len() / 256 + 64 {
            data.shrink_to_fit();
        }
        Some(Chunk::new(self.info.clone(), data, rows))
    }

    /// The vec for a chunk that follows a full one, of
    /// [`Self::full_chunk_capacity`]: the spare buffer when one was given.
    fn full_chunk_vec(&mut self) -> Vec<u8> {
        let capacity = self.full_chunk_capacity();
        #[cfg(feature = "recycle")]
        {
            self.spare.filled = true;
            if let Some(mut spare) = self.spare.buffer.take() {
                // No byte of an earlier chunk is ever read again: the new
                // chunk's rows start at 0.
                spare.clear();
                // A chunk's buffer is shrunk to its rows when sealed (the
                // spare capacity of sealed chunks stays under 0.4%), so a
                // full chunk's comes back a little short of this: it grows
                // back by a realloc, which keeps the pages the buffer has
                // (glibc moves a mapped block with mremap, without a copy;
                // only the few pages of the tail are new).
                spare.reserve_exact(capacity);
                return spare;
            }
        }
        Vec::with_capacity(capacity)
    }
}

/// The rows of one metric that are not sealed yet, encoded by the engine
/// from any `Serialize` row.
#[derive(Debug)]
pub struct MetricBuffer {
    schema: Arc<Schema>,
    chunks: ChunkBuffer,
}

impl MetricBuffer {
    /// A buffer for rows of `schema`, after checking `options` against it.
    pub fn new(schema: Arc<Schema>, options: MetricOptions) -> Result<Self, OptionError> {
        check_max_chunk_size(options.max_chunk_size)?;
        if let Some(column) = &options.timestamp_column {
            if !is_avro_name(column) {
                return Err(OptionError::new(
                    "timestamp_column",
                    alloc::format!("\"{column}\" is not a valid column name ([A-Za-z_][A-Za-z0-9_]*)"),
                ));
            }
            if schema.record().fields.iter().any(|field| field.name == *column) {
                return Err(OptionError::new(
                    "timestamp_column",
                    alloc::format!("\"{column}\" is already a field of the record"),
                ));
            }
        }
        let info = MetricInfo {
            collection: schema.collection().to_string(),
            schema: schema.wire_form().to_string(),
            skip_timestamp: options.skip_timestamp,
            timestamp_column: options.timestamp_column,
            delivery: options.delivery,
        };
        Ok(MetricBuffer { chunks: ChunkBuffer::new(info, options.max_chunk_size)?, schema })
    }

    /// The schema rows are encoded with.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// What the chunks of this metric carry besides their rows.
    pub fn info(&self) -> &Arc<MetricInfo> {
        self.chunks.info()
    }

    /// Rows accepted since the buffer was made.
    pub fn rows_written(&self) -> u64 {
        self.chunks.rows_written()
    }

    /// Rows in the open (not yet sealed) chunk.
    pub fn open_rows(&self) -> u32 {
        self.chunks.open_rows()
    }

    /// Bytes in the open chunk.
    pub fn open_bytes(&self) -> usize {
        self.chunks.open_bytes()
    }

    /// Encodes `row` into the open chunk. When the row does not fit, the open
    /// chunk is sealed and returned, and the row starts the next one.
    ///
    /// A row that does not fit the schema, or that alone is larger than the
    /// max chunk size, is rejected and leaves the buffer as it was.
    #[inline]
    pub fn write<T: Serialize + ?Sized>(&mut self, row: &T) -> Result<Option<Chunk>, EncodeError> {
        let schema = &self.schema;
        self.chunks.write_with(|out| avro::encode(schema, row, out), row_too_large)
    }

    /// Appends one row that `encode` writes, already Avro of this buffer's
    /// schema (the instruments' rows, written by hand); as [`Self::write`].
    pub fn write_encoded(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<Option<Chunk>, EncodeError> {
        self.chunks.write_with(
            |out| {
                encode(out);
                Ok(())
            },
            row_too_large,
        )
    }

    /// Writes all `rows` or none: when one does not fit the schema, the error
    /// gives its index and nothing of the batch is buffered. Chunks sealed on
    /// the way are appended to `sealed`.
    pub fn write_all<'a, T, I>(&mut self, rows: I, sealed: &mut Vec<Chunk>) -> Result<usize, RowError>
    where
        T: Serialize + 'a + ?Sized,
        I: IntoIterator<Item = &'a T>,
    {
        let schema = &self.schema;
        write_all_by(&mut self.chunks, rows, |row, out| avro::encode(schema, row, out), sealed)
    }

    /// As [`Self::write_all`], for rows that `encode` writes, already Avro
    /// of this buffer's schema (a derived type's); only a row larger than
    /// the max chunk size is refused.
    pub fn write_all_encoded<R>(
        &mut self,
        rows: impl IntoIterator<Item = R>,
        mut encode: impl FnMut(R, &mut Vec<u8>),
        sealed: &mut Vec<Chunk>,
    ) -> Result<usize, RowError> {
        write_all_by(
            &mut self.chunks,
            rows,
            |row, out| {
                encode(row, out);
                Ok(())
            },
            sealed,
        )
    }

    /// Seals the open chunk, however full, for a flush; `None` when it holds
    /// no rows.
    pub fn take_open(&mut self) -> Option<Chunk> {
        self.chunks.take_open()
    }

    /// Takes a spare buffer from `pipeline` for the chunk that follows the
    /// next full one, when this buffer fills chunks and holds none (see
    /// [`ChunkBuffer::wants_spare`]): a caller that holds the pipeline
    /// anyway (to push what a write sealed) calls this then. Returns whether
    /// it got one.
    #[cfg(feature = "recycle")]
    pub fn refill_spare(&mut self, pipeline: &mut Pipeline) -> bool {
        if !self.chunks.wants_spare() {
            return false;
        }
        let spare = pipeline.take_spare(self.chunks.full_chunk_capacity());
        spare.map(|spare| self.chunks.give_spare(spare)).is_some()
    }

    /// Gives the spare buffer held back to `pipeline` (at a flush: a metric
    /// that stopped writing then holds none; one that writes takes it back
    /// with [`Self::refill_spare`]).
    #[cfg(feature = "recycle")]
    pub fn return_spare(&mut self, pipeline: &mut Pipeline) {
        if let Some(spare) = self.chunks.take_spare() {
            pipeline.give_spare(spare);
        }
    }

    /// Bytes (of capacity) of the spare buffer held.
    #[cfg(feature = "recycle")]
    pub fn spare_bytes(&self) -> usize {
        self.chunks.spare_bytes()
    }
}

/// The refusal of a row that alone is larger than the max chunk size.
fn row_too_large(size: usize, limit: usize) -> EncodeError {
    EncodeError::new(Problem::RowTooLarge { size, limit })
}

/// All `rows` that `encode` writes into `chunks`, or none (see
/// [`MetricBuffer::write_all`]).
fn write_all_by<R>(
    chunks: &mut ChunkBuffer,
    rows: impl IntoIterator<Item = R>,
    mut encode: impl FnMut(R, &mut Vec<u8>) -> Result<(), EncodeError>,
    sealed: &mut Vec<Chunk>,
) -> Result<usize, RowError> {
    chunks
        .write_all_with(rows, |chunks, row| chunks.write_with(|out| encode(row, out), row_too_large), sealed)
        .map_err(|(index, error)| RowError { index, error })
}

/// The first chunk of a metric, and each after a flush, start this small and
/// grow: most metrics in a browser never fill a chunk between flushes.
const INITIAL_CAPACITY: usize = 4 << 10;

/// Avro's rule for names, which the collector also applies to columns.
pub(crate) fn is_avro_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
