//! Spare chunk buffers: the data buffers of chunks the pipeline let go of
//! (acknowledged, or dropped by a documented policy), kept to hold the rows
//! of the next chunks.
//!
//! Without them each chunk that follows a full one is fresh memory: in a
//! fresh process the kernel's page faults on it cost about a third of
//! `MetricBuffer::write`'s time, until the allocator starts reusing freed
//! chunks (README, "Native client"). With them a metric cycles through a
//! few buffers whose pages are already there.
//!
//! Spare memory is memory the user pays for, beside the memory cap on
//! pending bytes: the pool is bounded by [`MAX_SPARE_BUFFERS`] and by
//! `max_buffer_bytes /` [`SPARE_SHARE`], and keeps only buffers of about
//! the size chunk buffers ask for.
//!
//! Compiled with the `recycle` feature (part of `std`): the browser build's
//! core goes without it, for its size.

use alloc::vec::Vec;

/// The most spare buffers a pipeline keeps, whatever their size: as many
/// 1 MiB chunks as the batches on the wire at once hold with the defaults
/// (2 of [`DEFAULT_MAX_BATCH_BYTES`](crate::engine::pipeline::DEFAULT_MAX_BATCH_BYTES)),
/// which come back with their acknowledgements. For 1 MiB chunks the bound
/// in bytes below is the tighter one.
pub const MAX_SPARE_BUFFERS: usize = 8;

/// A pipeline's spare buffers hold at most `max_buffer_bytes / SPARE_SHARE`
/// bytes (of capacity) in all: 4 MiB of the default 64 MiB memory cap, four
/// 1 MiB chunks. A cap under 16 chunks keeps none of them.
pub const SPARE_SHARE: usize = 16;

/// Buffers kept for the next chunks, newest last.
#[derive(Debug)]
pub(crate) struct Spares {
    buffers: Vec<Vec<u8>>,
    /// The capacity of `buffers`, in bytes.
    bytes: usize,
    max_bytes: usize,
    /// The smallest capacity a chunk buffer asked for, 0 before any asked.
    /// A buffer under half of it is not kept: nothing would take it (a
    /// chunk sealed by a flush, mostly, with a few rows).
    wanted: usize,
}

/// Before any chunk buffer asked for a spare, buffers under this are not
/// kept: the allocator serves these from memory it already has (glibc maps
/// fresh pages for each allocation of 128 KiB or more, until it adapts).
const MIN_SPARE_BYTES: usize = 64 << 10;

impl Spares {
    /// An empty pool for a pipeline whose memory cap is `max_buffer_bytes`.
    pub(crate) fn new(max_buffer_bytes: usize) -> Self {
        Spares { buffers: Vec::new(), bytes: 0, max_bytes: max_buffer_bytes / SPARE_SHARE, wanted: 0 }
    }

    /// Bytes of capacity held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Keeps `buffer` (emptied) when some chunk buffer could use it and the
    /// bounds allow; else frees it.
    pub(crate) fn keep(&mut self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        let least = match self.wanted {
            0 => MIN_SPARE_BYTES,
            wanted => wanted / 2,
        };
        let fits = self.buffers.len() < MAX_SPARE_BUFFERS && self.bytes + capacity <= self.max_bytes;
        if capacity >= least && fits {
            // Its rows were delivered or dropped: nothing reads them again.
            buffer.clear();
            self.bytes += capacity;
            self.buffers.push(buffer);
        }
    }

    /// The newest buffer whose capacity is between half and twice
    /// `capacity`, empty: a chunk's buffer is shrunk to its rows when
    /// sealed, so a full chunk's comes back a little short of a full chunk
    /// (and grows back when used); a much larger one stays for a metric
    /// with larger chunks.
    pub(crate) fn take(&mut self, capacity: usize) -> Option<Vec<u8>> {
        self.wanted = match self.wanted {
            0 => capacity,
            wanted => wanted.min(capacity),
        };
        let fits = |buffer: &Vec<u8>| (capacity / 2..=capacity.saturating_mul(2)).contains(&buffer.capacity());
        let index = self.buffers.iter().rposition(fits)?;
        let buffer = self.buffers.remove(index);
        self.bytes -= buffer.capacity();
        Some(buffer)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::vec;

    use apache_avro::types::Value;

    use super::*;
    use crate::engine::avro;
    use crate::engine::buffer::{ChunkBuffer, MetricBuffer, MetricOptions};
    use crate::engine::chunk::{Chunk, MetricInfo};
    use crate::engine::pipeline::{Action, Failure, Pipeline, PipelineConfig};
    use crate::engine::schema::Schema;

    const SCHEMA: &str = r#"{"type":"record","name":"line","fields":[
        {"name":"i","type":"long"},{"name":"text","type":"string"}]}"#;

    #[derive(serde::Serialize)]
    struct Line {
        i: i64,
        text: String,
    }

    /// Row `i`: its own letter, `50 + i % len_spread` times, so that a byte
    /// left over from an earlier chunk would show.
    fn line(i: i64, len_spread: i64) -> Line {
        let letter = char::from(b'a' + (i % 26) as u8);
        Line { i, text: core::iter::repeat_n(letter, (50 + i % len_spread) as usize).collect() }
    }

    fn new_pipeline(max_buffer_bytes: usize) -> Pipeline {
        Pipeline::new(PipelineConfig { max_buffer_bytes, max_batch_bytes: 64 << 20, ..Default::default() }, 7, 7)
            .unwrap()
    }

    fn buffer(max_chunk_size: usize) -> MetricBuffer {
        let schema = Arc::new(Schema::parse(SCHEMA).unwrap());
        MetricBuffer::new(schema, MetricOptions { max_chunk_size, ..Default::default() }).unwrap()
    }

    /// Sends what is queued as a sender does (the batch dropped before the
    /// report) and acknowledges it.
    fn send_and_ack(pipeline: &mut Pipeline) {
        while let Action::Send(batch) = pipeline.poll(0) {
            let id = batch.id;
            drop(batch);
            assert!(pipeline.ack(id));
        }
    }

    /// Every row of `chunk`, read by apache-avro, which must use all its bytes.
    fn decode(chunk: &Chunk) -> Vec<Value> {
        let schema = apache_avro::Schema::parse_str(SCHEMA).unwrap();
        let mut input = chunk.data();
        let rows =
            (0..chunk.rows()).map(|_| apache_avro::from_avro_datum(&schema, &mut input, None).unwrap()).collect();
        assert!(input.is_empty(), "{} bytes after the chunk's {} rows", input.len(), chunk.rows());
        rows
    }

    fn value(line: &Line) -> Value {
        Value::Record(vec![("i".into(), Value::Long(line.i)), ("text".into(), Value::String(line.text.clone()))])
    }

    /// Writes rows `from..to` as the native client does: each sealed chunk
    /// is pushed, the buffer's spare refilled, and what is queued sent and
    /// acknowledged. Returns the sealed chunks' data pointers, and checks
    /// each chunk's rows are exactly the rows written into it.
    fn write_and_ack(
        buffer: &mut MetricBuffer,
        pipeline: &mut Pipeline,
        rows: core::ops::Range<i64>,
        len_spread: i64,
        next_row: &mut i64,
    ) -> Vec<*const u8> {
        let mut pointers = Vec::new();
        let mut seal = |chunk: Chunk, buffer: &mut MetricBuffer, pipeline: &mut Pipeline, next_row: &mut i64| {
            let expected: Vec<_> =
                (*next_row..*next_row + i64::from(chunk.rows())).map(|i| value(&line(i, len_spread))).collect();
            assert_eq!(decode(&chunk), expected, "chunk {} from row {next_row}", pointers.len());
            *next_row += i64::from(chunk.rows());
            pointers.push(chunk.data().as_ptr());
            pipeline.push(chunk);
            buffer.refill_spare(pipeline);
            send_and_ack(pipeline);
        };
        for i in rows {
            if let Some(chunk) = buffer.write(&line(i, len_spread)).unwrap() {
                seal(chunk, buffer, pipeline, next_row);
            }
        }
        pointers
    }

    #[test]
    fn an_acknowledged_chunks_buffer_holds_a_later_chunk() {
        // 4 MiB chunks: their sealed buffers are not shrunk (the slack of 8
        // KiB is under 0.4% of them), so a spare needs no realloc and the
        // same pointer shows the same memory.
        let mut buffer = buffer(4 << 20);
        let mut pipeline = new_pipeline(256 << 20);
        let mut next_row = 0;
        let pointers = write_and_ack(&mut buffer, &mut pipeline, 0..50_000, 2000, &mut next_row);
        assert!(pointers.len() >= 9, "{} chunks", pointers.len());
        // Chunk k is pushed, the buffer takes the spare of chunk k - 1 (acked
        // after it was pushed), then chunk k is acked; so chunk k + 2 is
        // written into the buffer of chunk k - 1. The first spare (of the
        // first chunk, which grew from 4 KiB and was shrunk) is grown back.
        for k in 4..pointers.len() {
            assert_eq!(pointers[k], pointers[k - 3], "chunk {k} is in the buffer of chunk {}", k - 3);
        }
        let mut distinct = pointers.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() <= 4, "{} buffers for {} chunks", distinct.len(), pointers.len());
        // The one spare the pipeline holds (of the last chunk acked).
        let stats = pipeline.stats();
        assert_eq!(stats.spare_bytes, (4 << 20) + (8 << 10));
        assert_eq!((stats.rows_acked, stats.rows_pending), (next_row as u64, 0));
    }

    #[test]
    fn recycled_buffers_that_were_shrunk_grow_back_and_hold_exactly_their_rows() {
        // 64 KiB chunks are shrunk when sealed (their 512 B of slack is over
        // 0.4%): each spare grows back by a realloc. Rows of every length,
        // and flushes between, with the spare given back at each flush.
        let mut buffer = buffer(64 << 10);
        let mut pipeline = new_pipeline(64 << 20);
        let mut next_row = 0;
        let mut chunks = 0;
        for round in 0..6 {
            let from = round * 5_000;
            chunks += write_and_ack(&mut buffer, &mut pipeline, from..from + 5_000, 700, &mut next_row).len();
            let flushed = buffer.take_open().unwrap();
            let expected: Vec<_> =
                (next_row..next_row + i64::from(flushed.rows())).map(|i| value(&line(i, 700))).collect();
            assert_eq!(decode(&flushed), expected);
            next_row += i64::from(flushed.rows());
            pipeline.push(flushed);
            buffer.return_spare(&mut pipeline);
            assert_eq!(buffer.spare_bytes(), 0);
            send_and_ack(&mut pipeline);
        }
        assert_eq!(next_row, 30_000);
        assert!(chunks > 50, "{chunks} chunks");
        assert!(pipeline.stats().spare_bytes > 0);
    }

    #[test]
    fn a_buffer_that_stopped_filling_chunks_wants_no_spare() {
        let mut buffer = buffer(64 << 10);
        let mut pipeline = new_pipeline(64 << 20);
        let mut next_row = 0;
        write_and_ack(&mut buffer, &mut pipeline, 0..2_000, 700, &mut next_row);
        assert!(buffer.spare_bytes() > 0, "a buffer that fills chunks holds a spare");
        // A flush takes it back; the first row after it takes it again, as
        // the client's first write after a flush does.
        buffer.take_open().unwrap();
        buffer.return_spare(&mut pipeline);
        buffer.write(&line(0, 1)).unwrap();
        assert!(buffer.refill_spare(&mut pipeline));
        // Two flush intervals without a full chunk: no more.
        for _ in 0..2 {
            buffer.take_open().unwrap();
            buffer.return_spare(&mut pipeline);
            buffer.write(&line(0, 1)).unwrap();
        }
        assert!(!buffer.refill_spare(&mut pipeline));
        assert_eq!(buffer.spare_bytes(), 0);
    }

    #[test]
    fn a_spare_given_with_bytes_in_it_holds_only_the_next_chunks_rows() {
        let schema = Schema::parse(SCHEMA).unwrap();
        let mut chunks = ChunkBuffer::new((*info()).clone(), 4096).unwrap();
        let mut dirty = vec![0xff; 3000];
        dirty.reserve(8 << 10);
        chunks.give_spare(dirty);
        let mut sealed = Vec::new();
        for i in 0..200 {
            let chunk = chunks.write_with(|out| avro::encode(&schema, &line(i, 10), out), |_, _| panic!("too large"));
            sealed.extend(chunk.unwrap());
        }
        assert_eq!(chunks.spare_bytes(), 0, "the second chunk took the spare");
        let mut next_row = 0;
        for chunk in &sealed {
            let expected: Vec<_> =
                (next_row..next_row + i64::from(chunk.rows())).map(|i| value(&line(i, 10))).collect();
            assert_eq!(decode(chunk), expected);
            next_row += i64::from(chunk.rows());
        }
    }

    fn info() -> Arc<MetricInfo> {
        Arc::new(MetricInfo {
            collection: "c".into(),
            schema: SCHEMA.into(),
            skip_timestamp: false,
            timestamp_column: None,
            delivery: Default::default(),
        })
    }

    /// A chunk of one row whose buffer has `capacity` bytes.
    fn chunk_of(capacity: usize) -> Chunk {
        let mut data = Vec::with_capacity(capacity);
        data.push(0);
        Chunk::new(info(), data, 1)
    }

    #[test]
    fn the_pool_is_bounded_by_count_and_by_a_sixteenth_of_the_memory_cap() {
        // By bytes: a 16 MiB cap keeps 1 MiB, four 256 KiB buffers of ten.
        let mut pipeline = new_pipeline(16 << 20);
        assert_eq!(pipeline.take_spare(256 << 10), None, "asking says what is worth keeping");
        for _ in 0..10 {
            pipeline.push(chunk_of(256 << 10));
        }
        send_and_ack(&mut pipeline);
        assert_eq!(pipeline.stats().spare_bytes, 1 << 20);
        // By count: 64 MiB keeps 4 MiB, but at most 8 buffers.
        let mut pipeline = pipeline_with_spares_of(64 << 20, 64 << 10, 20);
        assert_eq!(pipeline.stats().spare_bytes, (MAX_SPARE_BUFFERS * (64 << 10)) as u64);
        let mut taken = 0;
        while pipeline.take_spare(64 << 10).is_some() {
            taken += 1;
        }
        assert_eq!((taken, pipeline.stats().spare_bytes), (MAX_SPARE_BUFFERS, 0));
        // A cap under 16 chunks keeps none.
        let pipeline = pipeline_with_spares_of(1 << 20, 128 << 10, 4);
        assert_eq!(pipeline.stats().spare_bytes, 0);
    }

    /// A pipeline that was asked for buffers of `capacity`, then pushed and
    /// acknowledged `count` chunks of that capacity.
    fn pipeline_with_spares_of(max_buffer_bytes: usize, capacity: usize, count: usize) -> Pipeline {
        let mut pipeline = new_pipeline(max_buffer_bytes);
        assert_eq!(pipeline.take_spare(capacity), None);
        for _ in 0..count {
            pipeline.push(chunk_of(capacity));
        }
        send_and_ack(&mut pipeline);
        pipeline
    }

    #[test]
    fn only_buffers_a_chunk_buffer_could_use_are_kept_and_handed_out() {
        let mut pipeline = new_pipeline(128 << 20);
        // Before any asked: 64 KiB and more.
        pipeline.give_spare(Vec::with_capacity(32 << 10));
        pipeline.give_spare(Vec::with_capacity(64 << 10));
        assert_eq!(pipeline.stats().spare_bytes, 64 << 10);
        // Asked for 1 MiB: at least half of it is handed out and kept.
        assert_eq!(pipeline.take_spare(1 << 20), None, "64 KiB is not within half of 1 MiB");
        pipeline.give_spare(Vec::with_capacity(256 << 10));
        assert_eq!(pipeline.stats().spare_bytes, 64 << 10);
        pipeline.give_spare(Vec::with_capacity(3 << 20));
        assert_eq!(pipeline.take_spare(1 << 20), None, "3 MiB is over twice 1 MiB");
        pipeline.give_spare(Vec::with_capacity((1 << 20) - 100));
        assert_eq!(pipeline.take_spare(1 << 20).map(|spare| spare.capacity()), Some((1 << 20) - 100));
        // A metric with 3 MiB chunks takes the one it can use.
        let spare = pipeline.take_spare(2 << 20).unwrap();
        assert!((spare.len(), spare.capacity()) == (0, 3 << 20));
        assert_eq!(pipeline.stats().spare_bytes, 64 << 10);
    }

    #[test]
    fn dropped_chunks_come_back_too_but_not_while_a_driver_holds_them() {
        let mut pipeline = new_pipeline(64 << 20);
        assert_eq!(pipeline.take_spare(1 << 20), None);
        // A batch the driver still holds when it reports: freed with it.
        pipeline.push(chunk_of(1 << 20));
        let Action::Send(held) = pipeline.poll(0) else { panic!("a batch to send") };
        assert!(pipeline.ack(held.id));
        assert_eq!(pipeline.stats().spare_bytes, 0);
        drop(held);
        // Rejected for good.
        pipeline.push(chunk_of(1 << 20));
        let Action::Send(batch) = pipeline.poll(0) else { panic!("a batch to send") };
        let id = batch.id;
        drop(batch);
        assert!(pipeline.fail(id, Failure::Permanent { message: "bad".into() }, 0));
        assert_eq!(pipeline.stats().spare_bytes, 1 << 20);
        // Dropped at the memory cap (queued, never sent): 4 of 20 full 1 MiB
        // chunks over a cap of 16 MiB, which keeps 1 MiB of spares.
        let mut capped = new_pipeline(16 << 20);
        assert_eq!(capped.take_spare(1 << 20), None);
        for _ in 0..20 {
            capped.push(Chunk::new(info(), vec![1; 1 << 20], 1));
        }
        let stats = capped.stats();
        assert_eq!((stats.chunks_dropped_memory_cap, stats.spare_bytes), (4, 1 << 20));
        assert_eq!(capped.take_spare(1 << 20).map(|spare| (spare.len(), spare.capacity())), Some((0, 1 << 20)));
    }
}
