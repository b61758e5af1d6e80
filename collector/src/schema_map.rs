//! Mapping of Avro record schemas to SQLite columns (values are converted
//! in [`crate::cells`]).
//!
//! | Avro field type | column | JSON (query API) |
//! | --- | --- | --- |
//! | boolean | INTEGER 0/1 | true/false |
//! | int, long, date, time-*, timestamp-*, local-timestamp-* | INTEGER | number |
//! | float, double | REAL | number (NaN and infinities as null) |
//! | string, uuid, enum (symbol), big-decimal (decimal string) | TEXT | string |
//! | bytes, fixed, decimal (two's complement bytes), duration (12 bytes) | BLOB | lowercase hex string |
//! | `["null", T]` / `[T, "null"]` with T above | T, NULL when null | T or null |
//! | record, array, map, other unions | TEXT holding JSON | the JSON value |

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use apache_avro::Schema;
use apache_avro::schema::{Name, RecordSchema};
use serde::{Deserialize, Serialize};

/// Columns every collection table has besides its fields.
pub const META_COLUMNS: [&str; 3] = ["_cluster_id", "_received_at_ms", "_chunk_id"];

/// Names a field or timestamp column may not take (compared ignoring ASCII
/// case, as SQLite does): the meta columns of both stores (`_batch`, `_row`
/// and `_version` are ClickHouse's, refused on SQLite too so that both stores
/// take the same schemas) and SQLite's row id.
const RESERVED: [&str; 9] =
    ["_cluster_id", "_received_at_ms", "_chunk_id", "_batch", "_row", "_version", "rowid", "oid", "_rowid_"];

/// Longest accepted collection, field or column name.
pub const MAX_NAME_LEN: usize = 128;

/// How a column stores its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// INTEGER holding 0 or 1.
    Bool,
    /// INTEGER.
    Int,
    /// REAL.
    Real,
    /// TEXT.
    Text,
    /// BLOB.
    Blob,
    /// TEXT holding a JSON document.
    Json,
}

impl ColumnKind {
    /// The declared SQLite type.
    pub fn sql_type(self) -> &'static str {
        match self {
            Self::Bool | Self::Int => "INTEGER",
            Self::Real => "REAL",
            Self::Text | Self::Json => "TEXT",
            Self::Blob => "BLOB",
        }
    }

    /// True for kinds the stats endpoint summarizes.
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Int | Self::Real)
    }
}

/// One column of a collection table (meta columns excluded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Column name (the field name).
    pub name: String,
    /// Storage kind.
    pub kind: ColumnKind,
    /// The field's Avro type in Parsing Canonical Form, as JSON.
    pub avro_type: serde_json::Value,
    /// True for the server's receive-timestamp column.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server_timestamp: bool,
}

/// Checks the Avro name rule `[A-Za-z_][A-Za-z0-9_]*` (and a length limit).
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("{name:?} is not a valid name (letters, digits and _, not starting with a digit)"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("name of {} characters exceeds the limit of {MAX_NAME_LEN}", name.len()));
    }
    Ok(())
}

/// Checks a collection name: the name rule, and not a reserved table name
/// (`_` prefix, `sqlite_` prefix).
pub fn check_collection_name(name: &str) -> Result<(), String> {
    check_name(name).map_err(|e| format!("collection {e}"))?;
    if name.starts_with('_') || name.to_ascii_lowercase().starts_with("sqlite_") {
        return Err(format!("collection {name:?} is reserved (names starting with `_` or `sqlite_` are not allowed)"));
    }
    Ok(())
}

fn check_column_name(name: &str, what: &str) -> Result<(), String> {
    check_name(name).map_err(|e| format!("{what} {e}"))?;
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(format!("{what} {name:?} is a reserved column name"));
    }
    Ok(())
}

/// Quotes an identifier for SQL. Names are validated before, so this is a
/// second line of defence.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns of a record's fields, in field order. The schema has passed
/// [`crate::plan::build`], so it is a record, not recursive and not deep.
pub fn record_columns(schema: &Schema) -> Result<(&RecordSchema, Vec<Column>), String> {
    let Schema::Record(record) = schema else {
        return Err(format!("schema is not a record (got {})", schema.canonical_form()));
    };
    let mut named = HashMap::new();
    collect_named(schema, &mut named);
    let mut seen: HashSet<String> = HashSet::new();
    let mut columns = Vec::with_capacity(record.fields.len());
    for field in &record.fields {
        check_column_name(&field.name, "field")?;
        if !seen.insert(field.name.to_ascii_lowercase()) {
            return Err(format!(
                "field {:?} differs from another field only in case (SQLite column names ignore case)",
                field.name
            ));
        }
        let avro_type: serde_json::Value = serde_json::from_str(&field.schema.canonical_form())
            .map_err(|e| format!("field {:?}: canonical form: {e}", field.name))?;
        columns.push(Column {
            name: field.name.clone(),
            kind: kind_of(&field.schema, &named),
            avro_type,
            server_timestamp: false,
        });
    }
    Ok((record, columns))
}

/// The server timestamp column, checked against the record's columns.
pub fn timestamp_column(name: &str, fields: &[Column]) -> Result<Column, String> {
    check_column_name(name, "timestamp column")?;
    if let Some(f) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "timestamp column {name:?} collides with the record field {:?} \
             (set metadata.timestamp_column to another name, or metadata.skip_timestamp)",
            f.name
        ));
    }
    Ok(Column {
        name: name.to_owned(),
        kind: ColumnKind::Int,
        avro_type: serde_json::Value::String("long".into()),
        server_timestamp: true,
    })
}

/// True when a field newly added to an existing collection is acceptable:
/// it has a default or is a union with null.
pub fn can_be_added(schema: &Schema, has_default: bool) -> bool {
    has_default || matches!(schema, Schema::Union(u) if u.is_nullable())
}

fn collect_named<'a>(schema: &'a Schema, out: &mut HashMap<Name, &'a Schema>) {
    match schema {
        Schema::Record(r) => {
            out.insert(r.name.clone(), schema);
            for f in &r.fields {
                collect_named(&f.schema, out);
            }
        }
        Schema::Enum(e) => {
            out.insert(e.name.clone(), schema);
        }
        Schema::Fixed(f) => {
            out.insert(f.name.clone(), schema);
        }
        Schema::Array(a) => collect_named(&a.items, out),
        Schema::Map(m) => collect_named(&m.types, out),
        Schema::Union(u) => u.variants().iter().for_each(|v| collect_named(v, out)),
        _ => {}
    }
}

fn kind_of(schema: &Schema, named: &HashMap<Name, &Schema>) -> ColumnKind {
    match schema {
        Schema::Null | Schema::Int | Schema::Long | Schema::Date => ColumnKind::Int,
        Schema::TimeMillis | Schema::TimeMicros => ColumnKind::Int,
        Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos => ColumnKind::Int,
        Schema::LocalTimestampMillis | Schema::LocalTimestampMicros | Schema::LocalTimestampNanos => ColumnKind::Int,
        Schema::Boolean => ColumnKind::Bool,
        Schema::Float | Schema::Double => ColumnKind::Real,
        Schema::String | Schema::Uuid | Schema::Enum(_) | Schema::BigDecimal => ColumnKind::Text,
        Schema::Bytes | Schema::Fixed(_) | Schema::Decimal(_) | Schema::Duration => ColumnKind::Blob,
        Schema::Array(_) | Schema::Map(_) | Schema::Record(_) => ColumnKind::Json,
        Schema::Union(u) => {
            let non_null: Vec<&Schema> = u.variants().iter().filter(|v| !matches!(v, Schema::Null)).collect();
            match non_null.as_slice() {
                [] => ColumnKind::Int,
                [one] if u.variants().len() == 2 => match kind_of(one, named) {
                    ColumnKind::Json => ColumnKind::Json,
                    k => k,
                },
                _ => ColumnKind::Json,
            }
        }
        Schema::Ref { name } => match named.get(name) {
            Some(target) => kind_of(target, named),
            None => ColumnKind::Json,
        },
    }
}

/// A float as JSON; NaN and infinities become null.
pub fn float_json(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(json: &str) -> Result<Vec<Column>, String> {
        let s = Schema::parse_str(json).map_err(|e| e.to_string())?;
        record_columns(&s).map(|(_, c)| c)
    }

    #[test]
    fn kinds() {
        let c = cols(
            r#"{"type":"record","name":"r","fields":[
                {"name":"b","type":"boolean"},
                {"name":"i","type":"int"},
                {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
                {"name":"d","type":"double"},
                {"name":"s","type":"string"},
                {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
                {"name":"e2","type":"E"},
                {"name":"by","type":"bytes"},
                {"name":"n","type":["null","long"]},
                {"name":"n2","type":["string","null"]},
                {"name":"u","type":["null","long","string"]},
                {"name":"a","type":{"type":"array","items":"long"}},
                {"name":"m","type":{"type":"map","values":"long"}}
            ]}"#,
        )
        .unwrap();
        let kinds: Vec<ColumnKind> = c.iter().map(|c| c.kind).collect();
        use ColumnKind::*;
        assert_eq!(kinds, vec![Bool, Int, Int, Real, Text, Text, Text, Blob, Int, Text, Json, Json, Json]);
        assert_eq!(c[1].avro_type, serde_json::json!("int"));
    }

    #[test]
    fn names() {
        assert!(check_collection_name("containerMetrics").is_ok());
        assert!(check_collection_name("a b").is_err());
        assert!(check_collection_name("a\"b").is_err());
        assert!(check_collection_name("x;DROP TABLE y").is_err());
        assert!(check_collection_name("_chunks").is_err());
        assert!(check_collection_name("sqlite_master").is_err());
        assert!(check_collection_name("1abc").is_err());
        assert!(check_collection_name("").is_err());
    }

    #[test]
    fn reserved_and_case_duplicate_fields() {
        let e = cols(r#"{"type":"record","name":"r","fields":[{"name":"_chunk_id","type":"long"}]}"#).unwrap_err();
        assert!(e.contains("reserved"), "{e}");
        let e =
            cols(r#"{"type":"record","name":"r","fields":[{"name":"a","type":"long"},{"name":"A","type":"long"}]}"#)
                .unwrap_err();
        assert!(e.contains("only in case"), "{e}");
    }

    #[test]
    fn named_types_used_twice() {
        cols(
            r#"{"type":"record","name":"r","fields":[
                {"name":"p","type":{"type":"record","name":"P","fields":[{"name":"x","type":"long"}]}},
                {"name":"q","type":"P"}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn not_a_record() {
        let s = Schema::parse_str(r#""string""#).unwrap();
        assert_eq!(record_columns(&s).unwrap_err(), r#"schema is not a record (got "string")"#);
    }

    #[test]
    fn timestamp_collision() {
        let c = cols(r#"{"type":"record","name":"r","fields":[{"name":"Timestamp","type":"long"}]}"#).unwrap();
        assert!(timestamp_column("timestamp", &c).is_err());
        assert!(timestamp_column("ts", &c).unwrap().server_timestamp);
    }
}
