//! The protobuf body of a batch, written by hand for the wasm core.
//!
//! Why not prost: the core only writes `WriteMetricsBatchRequest`, and
//! prost's generated messages with its generic encoding cost the wasm build
//! 9.3 KB raw, 3.6 KB gzip, more than this module (measured when the
//! browser build read and wrote four messages in Rust; the answers and the
//! subscription's messages are now read and written by the package's
//! JavaScript). The bytes written are the ones prost writes (proto3: fields
//! in number order, default values left out), which the test below checks
//! against the prost types generated from `proto/`.

use alloc::vec::Vec;

use crate::engine::chunk::Chunk;

const VARINT: u32 = 0;
const LEN: u32 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least 1.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from(field << 3 | wire));
}

/// A length-delimited field, left out when empty (proto3 default).
fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes_always(out, field, bytes);
    }
}

fn put_bytes_always(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A varint field, left out when 0.
fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_key(out, field, VARINT);
        put_varint(out, v);
    }
}

/// One `WriteMetricsRequest` of `chunk` (as castai/metrics sends it plus
/// the chunk id), as field 1 of a `WriteMetricsBatchRequest`: a batch body
/// is its chunks' encodings one after another.
pub(crate) fn put_chunk(out: &mut Vec<u8>, chunk: &Chunk) {
    let metric = chunk.metric();
    let mut metadata = Vec::new();
    put_uint(&mut metadata, 1, u64::from(chunk.rows()));
    put_uint(&mut metadata, 2, u64::from(metric.skip_timestamp));
    if let Some(column) = &metric.timestamp_column {
        put_bytes_always(&mut metadata, 3, column.as_bytes());
    }
    let fields =
        [(1, metric.collection.as_bytes()), (2, chunk.data()), (3, metric.schema.as_bytes()), (5, chunk.wire_id())];
    let field_len = |(number, bytes): &(u32, &[u8])| match bytes.len() {
        0 => 0,
        n => varint_len(u64::from(*number << 3)) + varint_len(n as u64) + n,
    };
    let len = fields.iter().map(field_len).sum::<usize>() + 1 + varint_len(metadata.len() as u64) + metadata.len();
    out.reserve(len + 1 + varint_len(len as u64));
    put_key(out, 1, LEN);
    put_varint(out, len as u64);
    for (number, bytes) in &fields[..3] {
        put_bytes(out, *number, bytes);
    }
    put_bytes_always(out, 4, &metadata);
    put_bytes(out, 5, fields[3].1);
}

/// The `WriteMetricsBatchRequest` of `chunks`.
#[cfg(test)]
pub(crate) fn batch<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        put_chunk(&mut out, chunk);
    }
    out
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::engine::chunk::{ChunkId, Delivery, MetricInfo};
    use crate::proto::metrics::v1beta as mb;
    use alloc::sync::Arc;
    use prost::Message;

    fn chunk(collection: &str, data: Vec<u8>, rows: u32, skip: bool, column: Option<&str>, seq: u64) -> Chunk {
        let metric = MetricInfo {
            collection: collection.into(),
            schema: r#"{"type":"record","name":"m","fields":[]}"#.into(),
            skip_timestamp: skip,
            timestamp_column: column.map(String::from),
            delivery: Delivery::ExactlyOnce,
        };
        let mut chunk = Chunk::new(Arc::new(metric), data, rows);
        chunk.id = ChunkId::new(7, seq);
        chunk
    }

    #[test]
    fn batches_are_the_bytes_prost_writes() {
        let chunks = [
            chunk("m", vec![1, 2, 3], 3, false, None, 1),
            chunk("", Vec::new(), 0, true, Some(""), 0),
            chunk("containerMetrics", vec![0xAB; 300], 200_000, false, Some("ts"), u64::MAX),
            chunk("big", vec![7; 70_000], 1, true, None, 1 << 40),
        ];
        for n in 0..=chunks.len() {
            let ours = batch(&chunks[..n]);
            let prost = crate::proto::batch_request(&chunks[..n]).encode_to_vec();
            assert_eq!(ours, prost, "{n} chunks");
        }
        let mut one = Vec::new();
        put_chunk(&mut one, &chunks[2]);
        assert_eq!(
            one,
            mb::WriteMetricsBatchRequest { chunks: vec![crate::proto::chunk_request(&chunks[2])] }.encode_to_vec()
        );
    }

    #[test]
    fn only_exactly_once_chunks_carry_a_chunk_id() {
        for delivery in Delivery::ALL {
            let mut chunk = chunk("m", vec![1, 2, 3], 3, false, None, 9);
            chunk.metric = Arc::new(MetricInfo { delivery, ..(*chunk.metric).clone() });
            let ours = batch([&chunk]);
            let prost = crate::proto::batch_request([&chunk]);
            assert_eq!(ours, prost.encode_to_vec(), "{delivery}");
            let sent = &prost.chunks[0].chunk_id;
            assert_eq!(sent.len(), if delivery == Delivery::ExactlyOnce { 16 } else { 0 }, "{delivery}");
        }
    }
}
