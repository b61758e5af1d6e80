//! The few protobuf messages the wasm build's fetch and WebSocket paths
//! exchange, written and read by hand.
//!
//! Why not prost: the default wasm build (fetch + WebSocket) only encodes
//! `WriteMetricsBatchRequest` and `SubscribeRequest` and decodes
//! `WriteMetricsResponse` and `SubscribeEvent`. Measured on that build
//! (wasm-opt -Oz, gzip -9): with prost's generated messages and its generic
//! encoding, merging and error machinery the .wasm was 9.3 KB larger raw,
//! 3.6 KB larger gzip, than with this module. The bytes written are
//! the ones prost writes (proto3: fields in number order, default values
//! left out), which the tests below check against the prost types
//! generated from `proto/`. gRPC-web and the native client keep prost
//! (tonic needs it). Not supported, as nothing sends them: groups (wire
//! types 3 and 4), and merging a message field that occurs twice (the last
//! one wins).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

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
        [(1, metric.collection.as_bytes()), (2, chunk.data()), (3, metric.schema.as_bytes()), (5, &chunk.id().0[..])];
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
pub(crate) fn batch<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        put_chunk(&mut out, chunk);
    }
    out
}

/// The `SubscribeRequest` (the first message on the subscription socket).
pub(crate) fn subscribe_request(token: &str, cluster_id: &str, collections: &[String], from: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, 1, token.as_bytes());
    put_bytes(&mut out, 2, cluster_id.as_bytes());
    for collection in collections {
        put_bytes_always(&mut out, 3, collection.as_bytes());
    }
    for cluster in from {
        put_bytes_always(&mut out, 4, cluster.as_bytes());
    }
    out
}

/// A message that could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(&'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed to decode Protobuf message: ")?;
        f.write_str(self.0)
    }
}

/// A field's value as it is on the wire.
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
}

/// Reads the fields of one message.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for (i, &byte) in self.0.iter().enumerate().take(10) {
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                if i == 9 && byte > 1 {
                    break;
                }
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err(DecodeError("invalid varint"))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        if n > self.0.len() as u64 {
            return Err(DecodeError("buffer underflow"));
        }
        let (head, rest) = self.0.split_at(n as usize);
        self.0 = rest;
        Ok(head)
    }

    /// The next field (number and value), skipping nothing: unknown fields
    /// are the caller's to ignore.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, DecodeError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default())),
            2 => {
                let n = self.varint()?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed32
            }
            // Groups (3, 4) are deprecated and never sent to us.
            _ => return Err(DecodeError("unsupported wire type")),
        };
        if key >> 3 == 0 {
            return Err(DecodeError("invalid tag value: 0"));
        }
        Ok(Some((key >> 3, value)))
    }
}

fn text(bytes: &[u8]) -> Result<String, DecodeError> {
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| DecodeError("invalid string value: data is not UTF-8 encoded"))
}

/// Reads the fields of `bytes` into `f(number, value)`; a field of an
/// unexpected wire type is an error, as in prost.
fn each<'a>(
    bytes: &'a [u8],
    mut f: impl FnMut(u64, Value<'a>) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    let mut reader = Reader(bytes);
    while let Some((number, value)) = reader.field()? {
        if !f(number, value)? {
            return Err(DecodeError("invalid wire type"));
        }
    }
    Ok(())
}

/// `WriteMetricsResponse`: `success` and the optional `error`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) success: bool,
    pub(crate) error: Option<String>,
}

pub(crate) fn response(bytes: &[u8]) -> Result<Response, DecodeError> {
    let mut response = Response::default();
    each(bytes, |number, value| {
        match (number, value) {
            (1, Value::Varint(v)) => response.success = v != 0,
            (2, Value::Bytes(b)) => response.error = Some(text(b)?),
            (1 | 2, _) => return Ok(false),
            _ => {}
        }
        Ok(true)
    })?;
    Ok(response)
}

/// `Rows`: rows of one collection pushed on a subscription.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Rows {
    pub(crate) collection: String,
    pub(crate) schema_fingerprint: u64,
    pub(crate) schema: Vec<u8>,
    pub(crate) avro: Vec<u8>,
    pub(crate) rows: u64,
    pub(crate) received_at_ms: i64,
    pub(crate) cluster_id: String,
}

/// `SubscribeEvent`'s `event`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Subscribed,
    Rows(Rows),
    Missed { collection: String, rows: u64 },
    Error { message: String },
}

/// A `SubscribeEvent`: its event, or `None` when it carries none (or one
/// this build does not know).
pub(crate) fn event(bytes: &[u8]) -> Result<Option<Event>, DecodeError> {
    let mut event = None;
    each(bytes, |number, value| {
        let Value::Bytes(inner) = value else {
            return Ok(!(1..=4).contains(&number));
        };
        event = match number {
            1 => {
                // `Subscribed`: its collections are not used, but it must be
                // readable.
                each(inner, |number, value| Ok(number != 1 || matches!(value, Value::Bytes(_))))?;
                Some(Event::Subscribed)
            }
            2 => {
                let mut rows = Rows::default();
                each(inner, |number, value| {
                    match (number, value) {
                        (1, Value::Bytes(b)) => rows.collection = text(b)?,
                        (2, Value::Fixed64(v)) => rows.schema_fingerprint = v,
                        (3, Value::Bytes(b)) => rows.schema = b.to_vec(),
                        (4, Value::Bytes(b)) => rows.avro = b.to_vec(),
                        (5, Value::Varint(v)) => rows.rows = v,
                        (6, Value::Varint(v)) => rows.received_at_ms = v as i64,
                        (7, Value::Bytes(b)) => rows.cluster_id = text(b)?,
                        (1..=7, _) => return Ok(false),
                        _ => {}
                    }
                    Ok(true)
                })?;
                Some(Event::Rows(rows))
            }
            3 => {
                let (mut collection, mut rows) = (String::new(), 0);
                each(inner, |number, value| {
                    match (number, value) {
                        (1, Value::Bytes(b)) => collection = text(b)?,
                        (2, Value::Varint(v)) => rows = v,
                        (1 | 2, _) => return Ok(false),
                        _ => {}
                    }
                    Ok(true)
                })?;
                Some(Event::Missed { collection, rows })
            }
            4 => {
                let mut message = String::new();
                each(inner, |number, value| {
                    match (number, value) {
                        (1, Value::Bytes(b)) => message = text(b)?,
                        (1, _) => return Ok(false),
                        _ => {}
                    }
                    Ok(true)
                })?;
                Some(Event::Error { message })
            }
            _ => event.take(),
        };
        Ok(true)
    })?;
    Ok(event)
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::engine::chunk::{ChunkId, MetricInfo};
    use crate::proto::edgemetrics::v1 as pb;
    use crate::proto::metrics::v1beta as mb;
    use alloc::sync::Arc;
    use prost::Message;

    fn chunk(collection: &str, data: Vec<u8>, rows: u32, skip: bool, column: Option<&str>, seq: u64) -> Chunk {
        let metric = MetricInfo {
            collection: collection.into(),
            schema: r#"{"type":"record","name":"m","fields":[]}"#.into(),
            skip_timestamp: skip,
            timestamp_column: column.map(String::from),
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
    fn subscribe_requests_are_the_bytes_prost_writes() {
        let names = |names: &[&str]| names.iter().map(|name| name.to_string()).collect::<Vec<_>>();
        let long = "b".repeat(200);
        for (token, cluster, collections, from) in [
            ("", "", names(&[]), names(&[])),
            ("t0k", "c", names(&["a", "", &long]), names(&[])),
            ("t0k", "c", names(&["a"]), names(&["west", "", "east:1"])),
        ] {
            let prost = pb::SubscribeRequest {
                token: token.into(),
                cluster_id: cluster.into(),
                collections: collections.clone(),
                from_clusters: from.clone(),
            };
            assert_eq!(subscribe_request(token, cluster, &collections, &from), prost.encode_to_vec());
        }
    }

    #[test]
    fn responses_read_as_prost_reads_them() {
        let cases = [
            mb::WriteMetricsResponse::default(),
            mb::WriteMetricsResponse { success: true, error: None, rows_stored: 12, chunks_acked: 3 },
            mb::WriteMetricsResponse {
                success: false,
                error: Some("bad schema".into()),
                rows_stored: 0,
                chunks_acked: 0,
            },
            mb::WriteMetricsResponse {
                success: false,
                error: Some(String::new()),
                rows_stored: u64::MAX,
                chunks_acked: 1,
            },
        ];
        for case in cases {
            let read = response(&case.encode_to_vec()).unwrap();
            assert_eq!((read.success, read.error), (case.success, case.error));
        }
        // Unknown fields of every wire type are skipped.
        let mut bytes = vec![0x08, 0x01];
        bytes.extend([0x78, 0x05, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x7a, 0x02, 9, 9, 0x7d, 1, 2, 3, 4]);
        assert_eq!(response(&bytes).unwrap(), Response { success: true, error: None });
        assert!(mb::WriteMetricsResponse::decode(bytes.as_slice()).unwrap().success);
        // What prost refuses, this refuses.
        for bad in [
            &[0x08][..],
            &[0x12, 0x05, b'a'],
            &[0x12, 0x01, 0xff],
            &[0x0a, 0x00],
            &[0x00, 0x00],
            &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(mb::WriteMetricsResponse::decode(bad).is_err(), "{bad:?}");
            assert!(response(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn events_read_as_prost_reads_them() {
        use pb::subscribe_event::Event as E;
        let cases = [
            None,
            Some(E::Subscribed(pb::Subscribed { collections: vec!["a".into(), "b".into()] })),
            Some(E::Subscribed(pb::Subscribed::default())),
            Some(E::Rows(pb::Rows {
                collection: "containerMetrics".into(),
                schema_fingerprint: 0xDEAD_BEEF_0123_4567,
                schema: b"{}".to_vec(),
                avro: vec![1, 2, 3, 0, 255],
                rows: 2,
                received_at_ms: -5,
                cluster_id: "prod-eu:1".into(),
            })),
            Some(E::Rows(pb::Rows { received_at_ms: 1_700_000_000_000, ..Default::default() })),
            Some(E::Missed(pb::Missed { collection: "m".into(), rows: 17 })),
            Some(E::Error(pb::SubscriptionError { message: "refused".into() })),
            Some(E::Error(pb::SubscriptionError::default())),
        ];
        for case in cases {
            let bytes = pb::SubscribeEvent { event: case.clone() }.encode_to_vec();
            let expected = case.map(|event| match event {
                E::Subscribed(_) => Event::Subscribed,
                E::Rows(r) => Event::Rows(Rows {
                    collection: r.collection,
                    schema_fingerprint: r.schema_fingerprint,
                    schema: r.schema,
                    avro: r.avro,
                    rows: r.rows,
                    received_at_ms: r.received_at_ms,
                    cluster_id: r.cluster_id,
                }),
                E::Missed(m) => Event::Missed { collection: m.collection, rows: m.rows },
                E::Error(e) => Event::Error { message: e.message },
            });
            assert_eq!(event(&bytes).unwrap(), expected);
        }
        for bad in [
            &[0x12, 0x03, 0x0a, 0x01][..],
            &[0x12, 0x02, 0x10, 0x80],
            &[0x12, 0x02, 0x10, 0x01],
            &[0x22, 0x02, 0x0a, 0x01],
            &[0x08, 0x01],
            &[0x1a, 0x02, 0x0a, 0x80],
        ] {
            assert!(pb::SubscribeEvent::decode(bad).is_err(), "{bad:?}");
            assert!(event(bad).is_err(), "{bad:?}");
        }
        assert_eq!(DecodeError("buffer underflow").to_string(), "failed to decode Protobuf message: buffer underflow");
    }
}
