//! Validation of one chunk (`WriteMetricsRequest`): names, chunk id, limits,
//! the schema and its plan, a structural walk of the Avro bytes, and their
//! decoding with `apache-avro` into the cells that are stored.
//!
//! Every limit is checked before the work it bounds: the schema's length
//! before it is parsed, its expanded size and depth before anything is read
//! with it ([`crate::plan`]), the row count against the bytes before they
//! are walked, every count of values as it is read ([`crate::scan`]), and a
//! row's stored size while it is converted ([`crate::cells`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use apache_avro::rabin::Rabin;
use apache_avro::schema::ArraySchema;

use crate::cells::Cells;
use crate::config::Limits;
use crate::inflight::{Held, Ticket};
use crate::pb::metrics::v1beta::WriteMetricsRequest;
use crate::plan::{Plan, SchemaLimits};
use crate::scan::{ScanError, ScanLimits};
use crate::schema_map::{self, Column};

/// A rejected request, with the gRPC / HTTP class it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// INVALID_ARGUMENT / 400.
    #[error("{0}")]
    Invalid(String),
    /// A message over `--max-message-bytes`: RESOURCE_EXHAUSTED / 413.
    #[error("{0}")]
    TooLarge(String),
    /// Over a limit on what a chunk holds, which no retry will pass:
    /// INVALID_ARGUMENT / 413.
    #[error("{0}")]
    Limit(String),
    /// The in-flight budget is spent: UNAVAILABLE / 503, retry later.
    #[error("{0}")]
    Busy(String),
}

impl From<crate::inflight::HoldError> for Rejection {
    fn from(e: crate::inflight::HoldError) -> Self {
        match e {
            crate::inflight::HoldError::Busy(m) => Self::Busy(m),
            crate::inflight::HoldError::TooLarge(m) => Self::Limit(m),
        }
    }
}

impl Rejection {
    /// Prefixes the message with `chunk <index>: `.
    pub fn in_chunk(self, index: usize) -> Self {
        self.map(|m| format!("chunk {index}: {m}"))
    }

    /// The same class with another message.
    pub fn map(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Invalid(m) => Self::Invalid(f(m)),
            Self::TooLarge(m) => Self::TooLarge(f(m)),
            Self::Limit(m) => Self::Limit(f(m)),
            Self::Busy(m) => Self::Busy(f(m)),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m) | Self::TooLarge(m) | Self::Limit(m) | Self::Busy(m) => m,
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
    /// The flattened schema the bytes are walked with.
    pub plan: Plan,
    /// `{"type":"array","items":<schema>}`, for decoding a group of rows in
    /// one call (see [`crate::decode`]).
    pub array: Schema,
}

/// A chunk that passed every check and is ready to store.
#[derive(Debug)]
pub struct ValidChunk {
    /// The collection (table).
    pub collection: String,
    /// Its schema.
    pub schema: Arc<ParsedSchema>,
    /// The decoded rows, one cell per field.
    pub cells: Cells,
    /// The Avro datums as received.
    pub avro: Vec<u8>,
    /// The server timestamp column, unless `skip_timestamp`.
    pub timestamp_column: Option<Column>,
    /// The 16-byte chunk id, or None for no de-duplication.
    pub chunk_id: Option<[u8; 16]>,
    /// What it holds of the in-flight budget (its cells, and its schema
    /// when it was parsed for it), until the chunk is stored and dropped.
    pub _held: Vec<Held>,
}

/// A cache of parsed schemas keyed by their JSON bytes (clients send the
/// same schema with every chunk), bounded by the bytes of JSON it holds.
#[derive(Default)]
pub struct SchemaCache {
    cached: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    schemas: HashMap<Vec<u8>, Arc<ParsedSchema>>,
    json_bytes: usize,
}

/// JSON bytes of schemas the cache holds before it starts over (a parsed
/// schema takes some 30 times its JSON: about 30 MiB at most).
const SCHEMA_CACHE_BYTES: usize = 1024 * 1024;

/// About how many bytes a parsed schema takes per byte of its JSON (the
/// apache-avro tree twice, the plan, the columns).
const PARSED_SCHEMA_FACTOR: usize = 32;

impl SchemaCache {
    /// The parsed schema of `bytes`, and whether it was parsed now.
    fn get_or_parse(&self, bytes: &[u8], limits: &Limits) -> Result<(Arc<ParsedSchema>, bool), Rejection> {
        if let Some(s) = self.cached.lock().ok().and_then(|c| c.schemas.get(bytes).cloned()) {
            return Ok((s, false));
        }
        let parsed = Arc::new(parse_schema(bytes, limits)?);
        if let Ok(mut cached) = self.cached.lock() {
            if cached.json_bytes + bytes.len() > SCHEMA_CACHE_BYTES {
                *cached = Cached::default();
            }
            if cached.schemas.insert(bytes.to_vec(), parsed.clone()).is_none() {
                cached.json_bytes += bytes.len();
            }
        }
        Ok((parsed, true))
    }
}

fn parse_schema(bytes: &[u8], limits: &Limits) -> Result<ParsedSchema, Rejection> {
    let invalid = Rejection::Invalid;
    if bytes.len() > limits.max_schema_bytes {
        return Err(Rejection::Limit(format!(
            "schema of {} bytes exceeds the limit of {} bytes (--max-schema-bytes)",
            bytes.len(),
            limits.max_schema_bytes
        )));
    }
    let json = std::str::from_utf8(bytes).map_err(|e| invalid(format!("schema is not UTF-8: {e}")))?;
    if json.trim().is_empty() {
        return Err(invalid("schema is empty".into()));
    }
    let schema = crate::avro_guard::parse_schema(json).map_err(|e| invalid(format!("schema does not parse: {e}")))?;
    let plan = crate::plan::build(
        &schema,
        SchemaLimits {
            max_depth: limits.max_schema_depth,
            max_nodes: limits.max_schema_nodes,
            max_fields: limits.max_columns,
            max_fixed_bytes: limits.max_row_bytes,
        },
    )
    .map_err(invalid)?;
    // The decoder resolves references through these names: they must be
    // the ones the plan read, or bytes would be walked as one type and
    // decoded as another.
    let resolved = apache_avro::schema::ResolvedSchema::try_from(&schema)
        .map_err(|e| invalid(format!("schema does not resolve: {e}")))?;
    let mut names: Vec<String> = resolved.get_names().keys().map(|n| n.fullname(None)).collect();
    names.sort();
    if names != plan.names {
        return Err(invalid(format!(
            "schema's named types resolve as {names:?} but were read as {:?}: a name is given twice",
            plan.names
        )));
    }
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
        plan,
        array: Schema::Array(ArraySchema { items: Box::new(schema.clone()), attributes: Default::default() }),
        schema,
    })
}

/// The checks on a request as a whole, before any of its chunks is
/// decoded: the rows its chunks declare together.
pub fn check_request(chunks: &[WriteMetricsRequest], limits: &Limits) -> Result<(), Rejection> {
    let rows = chunks.iter().map(|c| c.metadata.as_ref().map_or(0, |m| m.rows)).fold(0u64, u64::saturating_add);
    if rows > limits.max_rows_per_request {
        return Err(Rejection::Limit(format!(
            "the request declares {rows} rows, the limit is {} (--max-rows-per-request)",
            limits.max_rows_per_request
        )));
    }
    Ok(())
}

/// Validates one chunk; errors are not yet prefixed with the chunk index.
pub fn validate_chunk(
    req: WriteMetricsRequest,
    limits: &Limits,
    cache: &SchemaCache,
    ticket: Option<&Ticket>,
) -> Result<ValidChunk, Rejection> {
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
    if metadata.rows == 0 {
        return Err(invalid("metadata.rows is 0: a chunk carries at least one row".into()));
    }
    if metadata.rows > limits.max_rows_per_chunk {
        return Err(Rejection::Limit(format!(
            "metadata.rows is {}, the limit is {} rows per chunk (--max-rows-per-chunk)",
            metadata.rows, limits.max_rows_per_chunk
        )));
    }
    // Bytes before any work below: the ticket gets its schema's (a parsed
    // schema takes some 30 times its JSON) when it was parsed for it.
    let (schema, parsed_now) = cache.get_or_parse(&req.schema, limits)?;
    let mut held = Vec::new();
    if let (Some(ticket), true) = (ticket, parsed_now) {
        held.push(ticket.hold(req.schema.len().saturating_mul(PARSED_SCHEMA_FACTOR)).map_err(Rejection::from)?);
    }
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
    let min_bytes = metadata.rows.saturating_mul(schema.plan.min_row_bytes);
    if min_bytes > req.metrics.len() as u64 {
        return Err(invalid(format!(
            "metadata.rows is {} but {} bytes of Avro hold at most {} rows of {:?}, which take at least {} bytes each",
            metadata.rows,
            req.metrics.len(),
            req.metrics.len() as u64 / schema.plan.min_row_bytes,
            schema.record_name,
            schema.plan.min_row_bytes,
        )));
    }
    let scan_limits = ScanLimits {
        max_values_per_chunk: limits.max_values_per_chunk,
        max_values_per_row: limits.max_values_per_row,
        max_values_per_byte: limits.max_values_per_byte,
    };
    let scanned = crate::scan::scan(&schema.plan, &req.metrics, metadata.rows, scan_limits).map_err(|e| match e {
        ScanError::Invalid(m) => Rejection::Invalid(m),
        ScanError::Limit(m) => Rejection::Limit(m),
    })?;
    let (cells, cells_held) = crate::decode::decode(&schema, &req.metrics, &scanned.groups, limits, ticket)?;
    held.extend(cells_held);
    Ok(ValidChunk {
        collection: req.collection,
        schema,
        cells,
        avro: req.metrics,
        timestamp_column,
        chunk_id,
        _held: held,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::metrics::v1beta::MetricsMetadata;
    use apache_avro::types::Value;

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
        validate_chunk(r, &Limits::default(), &SchemaCache::default(), None)
    }

    #[test]
    fn good_chunk() {
        let c = check(req(encode(&[(1, "a"), (2, "b")]), 2)).unwrap();
        assert_eq!(c.cells.rows(), 2);
        assert_eq!(c.timestamp_column.unwrap().name, "timestamp");
    }

    #[test]
    fn row_count_mismatch() {
        let e = check(req(encode(&[(1, "a")]), 2)).unwrap_err();
        assert_eq!(
            e.message(),
            r#"metadata.rows is 2 but 3 bytes of Avro hold at most 1 rows of "m", which take at least 2 bytes each"#
        );
        let e = check(req(encode(&[(1, "abc")]), 2)).unwrap_err();
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
        let mut r = req(encode(&[(1, "a")]), 1);
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
    fn empty_chunks_are_refused() {
        let e = check(req(encode(&[]), 0)).unwrap_err();
        assert_eq!(e, Rejection::Invalid("metadata.rows is 0: a chunk carries at least one row".into()));
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
