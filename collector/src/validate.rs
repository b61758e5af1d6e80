//! Validation of one chunk (`WriteMetricsRequest`): names, chunk id, limits,
//! the schema, and an exact decode of the Avro datums with `apache-avro`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use apache_avro::rabin::Rabin;
use apache_avro::schema::ArraySchema;
use apache_avro::types::Value;

use crate::config::Limits;
use crate::pb::metrics::v1beta::WriteMetricsRequest;
use crate::schema_map::{self, Column};

/// A rejected request, with the gRPC / HTTP class it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// INVALID_ARGUMENT / 400.
    #[error("{0}")]
    Invalid(String),
    /// RESOURCE_EXHAUSTED / 413.
    #[error("{0}")]
    TooLarge(String),
}

impl Rejection {
    /// Prefixes the message with `chunk <index>: `.
    pub fn in_chunk(self, index: usize) -> Self {
        match self {
            Self::Invalid(m) => Self::Invalid(format!("chunk {index}: {m}")),
            Self::TooLarge(m) => Self::TooLarge(format!("chunk {index}: {m}")),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m) | Self::TooLarge(m) => m,
        }
    }
}

/// A parsed schema with everything derived from it.
#[derive(Debug)]
pub struct ParsedSchema {
    /// The schema.
    pub schema: Schema,
    /// The schema JSON as the client sent it.
    pub json: String,
    /// CRC-64-AVRO (Rabin) fingerprint of the Parsing Canonical Form.
    pub fingerprint: u64,
    /// The record's (simple) name.
    pub record_name: String,
    /// Columns of the record's fields, in field order.
    pub columns: Vec<Column>,
    /// Per field: whether it could be added to an existing table (has a
    /// default or is nullable).
    pub addable: Vec<bool>,
    /// `{"type":"array","items":<schema>}`, for decoding a whole chunk in one
    /// call (see [`decode_rows`]).
    array: Schema,
}

/// A chunk that passed every check and is ready to store.
#[derive(Debug)]
pub struct ValidChunk {
    /// The collection (table).
    pub collection: String,
    /// Its schema.
    pub schema: Arc<ParsedSchema>,
    /// The decoded rows (records), `rows.len() == row_count`.
    pub rows: Vec<Value>,
    /// The Avro datums as received.
    pub avro: Vec<u8>,
    /// The server timestamp column, unless `skip_timestamp`.
    pub timestamp_column: Option<Column>,
    /// The 16-byte chunk id, or None for no de-duplication.
    pub chunk_id: Option<[u8; 16]>,
}

/// A bounded cache of parsed schemas keyed by their JSON bytes: clients send
/// the same schema with every chunk.
#[derive(Default)]
pub struct SchemaCache {
    map: Mutex<HashMap<Vec<u8>, Arc<ParsedSchema>>>,
}

const SCHEMA_CACHE_ENTRIES: usize = 1024;

impl SchemaCache {
    fn get_or_parse(&self, bytes: &[u8]) -> Result<Arc<ParsedSchema>, Rejection> {
        if let Some(s) = self.map.lock().ok().and_then(|m| m.get(bytes).cloned()) {
            return Ok(s);
        }
        let parsed = Arc::new(parse_schema(bytes)?);
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= SCHEMA_CACHE_ENTRIES {
                m.clear();
            }
            m.insert(bytes.to_vec(), parsed.clone());
        }
        Ok(parsed)
    }
}

fn parse_schema(bytes: &[u8]) -> Result<ParsedSchema, Rejection> {
    let invalid = Rejection::Invalid;
    let json = std::str::from_utf8(bytes).map_err(|e| invalid(format!("schema is not UTF-8: {e}")))?;
    if json.trim().is_empty() {
        return Err(invalid("schema is empty".into()));
    }
    let schema = Schema::parse_str(json).map_err(|e| invalid(format!("schema does not parse: {e}")))?;
    let (record, columns) = schema_map::record_columns(&schema).map_err(invalid)?;
    let record_name = record.name.name.clone();
    let addable = record.fields.iter().map(|f| schema_map::can_be_added(&f.schema, f.default.is_some())).collect();
    let fp = schema.fingerprint::<Rabin>();
    let mut fp8 = [0u8; 8];
    fp8.copy_from_slice(&fp.bytes[..8]);
    Ok(ParsedSchema {
        json: json.to_owned(),
        fingerprint: u64::from_le_bytes(fp8),
        record_name,
        columns,
        addable,
        array: Schema::Array(ArraySchema { items: Box::new(schema.clone()), attributes: Default::default() }),
        schema,
    })
}

/// Validates one chunk; errors are not yet prefixed with the chunk index.
pub fn validate_chunk(req: WriteMetricsRequest, limits: &Limits, cache: &SchemaCache) -> Result<ValidChunk, Rejection> {
    let invalid = Rejection::Invalid;
    schema_map::check_collection_name(&req.collection).map_err(invalid)?;
    let chunk_id = match req.chunk_id.len() {
        0 => None,
        16 => {
            let mut id = [0u8; 16];
            id.copy_from_slice(&req.chunk_id);
            Some(id)
        }
        n => {
            return Err(invalid(format!("chunk_id must be empty or 16 bytes, got {n} bytes")));
        }
    };
    let metadata = req.metadata.ok_or_else(|| invalid("metadata is missing (metadata.rows is required)".into()))?;
    if metadata.rows > limits.max_rows_per_chunk {
        return Err(Rejection::TooLarge(format!(
            "metadata.rows is {}, the limit is {} rows per chunk",
            metadata.rows, limits.max_rows_per_chunk
        )));
    }
    let schema = cache.get_or_parse(&req.schema)?;
    if schema.record_name != req.collection {
        return Err(invalid(format!(
            "collection {:?} does not match the schema's record name {:?}",
            req.collection, schema.record_name
        )));
    }
    let timestamp_column = if metadata.skip_timestamp {
        None
    } else {
        let name = metadata.timestamp_column.as_deref().unwrap_or("timestamp");
        Some(schema_map::timestamp_column(name, &schema.columns).map_err(invalid)?)
    };
    let rows = decode_rows(&schema, &req.metrics, metadata.rows)?;
    Ok(ValidChunk { collection: req.collection, schema, rows, avro: req.metrics, timestamp_column, chunk_id })
}

/// A reader over a few byte slices in sequence that remembers whether any
/// read wanted more than was left. apache-avro 0.21 turns an end of input
/// inside a string, a boolean or a union index into a null value instead of
/// an error, so this flag is what tells truncated input apart.
struct Tracked<'a, const N: usize> {
    parts: [&'a [u8]; N],
    part: usize,
    pos: usize,
    consumed: usize,
    hit_end: bool,
}

impl<'a, const N: usize> Tracked<'a, N> {
    fn new(parts: [&'a [u8]; N]) -> Self {
        Self { parts, part: 0, pos: 0, consumed: 0, hit_end: false }
    }
}

impl<const N: usize> std::io::Read for Tracked<'_, N> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.part < N && self.pos == self.parts[self.part].len() {
            self.part += 1;
            self.pos = 0;
        }
        if self.part == N {
            self.hit_end |= !buf.is_empty();
            return Ok(0);
        }
        let rest = &self.parts[self.part][self.pos..];
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        self.consumed += n;
        Ok(n)
    }
}

/// Avro's zig-zag varint encoding of a long.
fn zigzag_varint(n: i64) -> Vec<u8> {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::with_capacity(10);
    loop {
        if v < 0x80 {
            out.push(v as u8);
            return out;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
}

/// Decodes exactly `expected` datums and requires that no byte is left.
///
/// Fast path: the datums plus a block count in front and a 0 behind are an
/// Avro array of the record, which apache-avro decodes in one call (one
/// schema resolution per chunk instead of one per row); it succeeds only if
/// it yields exactly `expected` rows and consumes every byte without running
/// past the end. Anything else is decoded again row by row to name the
/// problem precisely.
fn decode_rows(schema: &ParsedSchema, bytes: &[u8], expected: u64) -> Result<Vec<Value>, Rejection> {
    if expected > 0
        && let Ok(count) = i64::try_from(expected)
    {
        let prefix = zigzag_varint(count);
        let mut reader = Tracked::new([&prefix[..], bytes, &[0u8]]);
        if let Ok(Value::Array(rows)) = apache_avro::from_avro_datum(&schema.array, &mut reader, None)
            && rows.len() as u64 == expected
            && !reader.hit_end
            && reader.consumed == prefix.len() + bytes.len() + 1
        {
            return Ok(rows);
        }
    }
    decode_rows_one_by_one(&schema.schema, bytes, expected)
}

fn decode_rows_one_by_one(schema: &Schema, bytes: &[u8], expected: u64) -> Result<Vec<Value>, Rejection> {
    let mut reader = Tracked::new([bytes]);
    // Do not trust `expected` for the allocation: cap it by the input size.
    let cap = usize::try_from(expected.min(bytes.len().max(1) as u64)).unwrap_or(0);
    let mut rows = Vec::with_capacity(cap);
    for i in 0..expected {
        let start = reader.consumed;
        let result = apache_avro::from_avro_datum(schema, &mut reader, None);
        if start == bytes.len() && (result.is_err() || reader.hit_end) {
            return Err(Rejection::Invalid(format!("metadata.rows is {expected} but the Avro bytes hold {i} rows")));
        }
        match result {
            Ok(_) if reader.hit_end => {
                return Err(Rejection::Invalid(format!(
                    "Avro bytes are truncated in row {i} (starting at byte {start} of {})",
                    bytes.len()
                )));
            }
            Ok(v) => rows.push(v),
            Err(e) => {
                return Err(Rejection::Invalid(format!(
                    "Avro bytes are truncated or invalid in row {i} (starting at byte {start} of {}): {e}",
                    bytes.len()
                )));
            }
        }
    }
    let left = bytes.len() - reader.consumed;
    if left > 0 {
        return Err(Rejection::Invalid(format!(
            "{left} bytes left over after {expected} rows (metadata.rows is {expected})"
        )));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::metrics::v1beta::MetricsMetadata;

    const SCHEMA: &str =
        r#"{"type":"record","name":"m","fields":[{"name":"v","type":"long"},{"name":"s","type":"string"}]}"#;

    fn encode(rows: &[(i64, &str)]) -> Vec<u8> {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let mut out = Vec::new();
        for (v, s) in rows {
            let rec = Value::Record(vec![("v".into(), Value::Long(*v)), ("s".into(), Value::String((*s).into()))]);
            out.extend(apache_avro::to_avro_datum(&schema, rec).unwrap());
        }
        out
    }

    fn req(metrics: Vec<u8>, rows: u64) -> WriteMetricsRequest {
        WriteMetricsRequest {
            collection: "m".into(),
            metrics,
            schema: SCHEMA.as_bytes().to_vec(),
            metadata: Some(MetricsMetadata { rows, skip_timestamp: false, timestamp_column: None }),
            chunk_id: vec![],
        }
    }

    fn check(r: WriteMetricsRequest) -> Result<ValidChunk, Rejection> {
        validate_chunk(r, &Limits::default(), &SchemaCache::default())
    }

    #[test]
    fn good_chunk() {
        let c = check(req(encode(&[(1, "a"), (2, "b")]), 2)).unwrap();
        assert_eq!(c.rows.len(), 2);
        assert_eq!(c.timestamp_column.unwrap().name, "timestamp");
    }

    #[test]
    fn row_count_mismatch() {
        let e = check(req(encode(&[(1, "a")]), 2)).unwrap_err();
        assert_eq!(e.message(), "metadata.rows is 2 but the Avro bytes hold 1 rows");
        let e = check(req(encode(&[(1, "a"), (2, "b")]), 1)).unwrap_err();
        assert!(e.message().contains("bytes left over after 1 rows"), "{e}");
    }

    #[test]
    fn truncated() {
        let mut b = encode(&[(1, "abc")]);
        b.pop();
        let e = check(req(b, 1)).unwrap_err();
        assert!(e.message().contains("truncated in row 0"), "{e}");
    }

    #[test]
    fn collection_must_match_record() {
        let mut r = req(encode(&[]), 0);
        r.collection = "other".into();
        let e = check(r).unwrap_err();
        assert!(e.message().contains("does not match"), "{e}");
    }

    #[test]
    fn chunk_id_length() {
        let mut r = req(encode(&[]), 0);
        r.chunk_id = vec![1; 15];
        assert!(check(r).unwrap_err().message().contains("15 bytes"));
    }

    #[test]
    fn zigzag() {
        assert_eq!(zigzag_varint(0), [0]);
        assert_eq!(zigzag_varint(1), [2]);
        assert_eq!(zigzag_varint(64), [0x80, 0x01]);
        assert_eq!(zigzag_varint(1_000_000), [0x80, 0x89, 0x7a]);
    }

    #[test]
    fn fingerprint_is_rabin_of_canonical_form() {
        // The Avro spec's test vector: the fingerprint of "int" is
        // 0x7275d51a3f395c8f.
        let p = Schema::parse_str(r#""int""#).unwrap();
        let fp = p.fingerprint::<Rabin>();
        let mut b = [0u8; 8];
        b.copy_from_slice(&fp.bytes);
        assert_eq!(u64::from_le_bytes(b), 0x7275_d51a_3f39_5c8f);
    }
}
