//! Decoded rows in the form they are stored: one cell per column, all rows
//! of a chunk in one buffer.
//!
//! apache-avro's `Value` tree costs about a hundred bytes per field (the
//! field name is copied into every record), so a chunk kept decoded until
//! its transaction took many times its Avro size. Rows are decoded a group
//! at a time instead ([`crate::scan::Group`]) and each row is turned into
//! cells at once: a tag byte, then a varint, eight bytes of float, or a
//! length and the bytes. A chunk then costs about its Avro size again, and
//! the stores read cells without allocating. JSON columns are written
//! straight into the buffer, under the row's byte limit, so a row that
//! would expand past it is refused before the text exists.

use std::io::Write;

use apache_avro::types::Value;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::schema_map::{ColumnKind, hex};

/// One stored value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// NULL.
    Null,
    /// An integer (booleans as 0 and 1).
    Int(i64),
    /// A float.
    Real(f64),
    /// UTF-8 text (strings, enum symbols, uuids, big decimals, JSON).
    Text(&'a [u8]),
    /// Bytes.
    Blob(&'a [u8]),
}

impl Cell<'_> {
    /// The bytes this cell counts for against the row limit.
    fn stored_bytes(&self) -> usize {
        match self {
            Cell::Null => 0,
            Cell::Int(_) | Cell::Real(_) => 8,
            Cell::Text(b) | Cell::Blob(b) => b.len(),
        }
    }
}

const NULL: u8 = 0;
const INT: u8 = 1;
const REAL: u8 = 2;
const TEXT: u8 = 3;
const BLOB: u8 = 4;

/// The rows of one chunk, as cells.
#[derive(Debug, Default)]
pub struct Cells {
    buf: Vec<u8>,
    rows: u64,
    columns: usize,
    /// Bytes counted against the limits so far (as for a row).
    stored: usize,
    max_stored: usize,
}

/// Why a row could not be turned into cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellError {
    /// The row is larger than the limit once stored.
    TooLarge {
        /// The column at which the limit was passed.
        column: String,
    },
    /// The chunk is larger than its limit once stored.
    ChunkTooLarge,
    /// The decoded value is not a record of the schema's fields.
    Shape(String),
}

/// A writer that refuses to go past a byte budget.
struct Limited<'a> {
    out: &'a mut Vec<u8>,
    left: usize,
}

impl Write for Limited<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.len() > self.left {
            return Err(std::io::Error::other("row byte limit"));
        }
        self.left -= data.len();
        self.out.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Cells {
    /// An empty set of rows of `columns` cells each, at most `max_stored`
    /// bytes once stored.
    pub fn new(columns: usize, capacity_bytes: usize, max_stored: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity_bytes), rows: 0, columns, stored: 0, max_stored }
    }

    /// Rows held.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes allocated.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends a decoded record whose fields go to columns of `kinds`, or
    /// leaves the buffer as it was and says why not.
    pub fn push(&mut self, row: Value, kinds: &[(ColumnKind, &str)], max_row_bytes: usize) -> Result<(), CellError> {
        let Value::Record(fields) = row else {
            return Err(CellError::Shape("decoded row is not a record".into()));
        };
        if fields.len() != kinds.len() {
            return Err(CellError::Shape(format!(
                "decoded row has {} fields, the schema {}",
                fields.len(),
                kinds.len()
            )));
        }
        let mark = self.buf.len();
        let chunk_left = self.max_stored.saturating_sub(self.stored);
        let budget = max_row_bytes.min(chunk_left);
        let mut left = budget;
        for ((_, value), &(kind, name)) in fields.into_iter().zip(kinds) {
            if self.push_cell(value, kind, &mut left).is_err() {
                self.buf.truncate(mark);
                return Err(if chunk_left < max_row_bytes {
                    CellError::ChunkTooLarge
                } else {
                    CellError::TooLarge { column: name.to_owned() }
                });
            }
        }
        self.stored += budget - left;
        self.rows += 1;
        Ok(())
    }

    fn push_cell(&mut self, value: Value, kind: ColumnKind, left: &mut usize) -> Result<(), ()> {
        if kind == ColumnKind::Json {
            return match value {
                Value::Null => self.put(Cell::Null, left),
                Value::Union(_, inner) if matches!(*inner, Value::Null) => self.put(Cell::Null, left),
                value => self.put_json(&value, left),
            };
        }
        match value {
            Value::Null => self.put(Cell::Null, left),
            Value::Boolean(b) => self.put(Cell::Int(i64::from(b)), left),
            Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => self.put(Cell::Int(i64::from(i)), left),
            Value::Long(i)
            | Value::TimeMicros(i)
            | Value::TimestampMillis(i)
            | Value::TimestampMicros(i)
            | Value::TimestampNanos(i)
            | Value::LocalTimestampMillis(i)
            | Value::LocalTimestampMicros(i)
            | Value::LocalTimestampNanos(i) => self.put(Cell::Int(i), left),
            Value::Float(f) => self.put(Cell::Real(f64::from(f)), left),
            Value::Double(f) => self.put(Cell::Real(f), left),
            Value::String(s) | Value::Enum(_, s) => self.put(Cell::Text(s.as_bytes()), left),
            Value::Uuid(u) => self.put(Cell::Text(u.hyphenated().to_string().as_bytes()), left),
            Value::BigDecimal(d) => self.put(Cell::Text(d.to_string().as_bytes()), left),
            Value::Bytes(b) | Value::Fixed(_, b) => self.put(Cell::Blob(&b), left),
            Value::Decimal(d) => self.put(Cell::Blob(&Vec::<u8>::try_from(d).unwrap_or_default()), left),
            Value::Duration(d) => self.put(Cell::Blob(&<[u8; 12]>::from(d)), left),
            Value::Union(_, inner) => self.push_cell(*inner, kind, left),
            value @ (Value::Array(_) | Value::Map(_) | Value::Record(_)) => self.put_json(&value, left),
        }
    }

    fn put(&mut self, cell: Cell<'_>, left: &mut usize) -> Result<(), ()> {
        *left = left.checked_sub(cell.stored_bytes()).ok_or(())?;
        match cell {
            Cell::Null => self.buf.push(NULL),
            Cell::Int(i) => {
                self.buf.push(INT);
                put_varint(&mut self.buf, ((i << 1) ^ (i >> 63)) as u64);
            }
            Cell::Real(f) => {
                self.buf.push(REAL);
                self.buf.extend_from_slice(&f.to_le_bytes());
            }
            Cell::Text(b) | Cell::Blob(b) => {
                self.buf.push(if matches!(cell, Cell::Text(_)) { TEXT } else { BLOB });
                put_varint(&mut self.buf, b.len() as u64);
                self.buf.extend_from_slice(b);
            }
        }
        Ok(())
    }

    /// Writes the JSON of `value` as a text cell, stopping at the budget.
    fn put_json(&mut self, value: &Value, left: &mut usize) -> Result<(), ()> {
        let mut text = Vec::new();
        serde_json::to_writer(Limited { out: &mut text, left: *left }, &Json(value)).map_err(|_| ())?;
        self.put(Cell::Text(&text), left)
    }

    /// The rows, each an iterator over its cells.
    pub fn iter(&self) -> impl Iterator<Item = RowCells<'_>> {
        let mut pos = 0;
        let columns = self.columns;
        let buf = &self.buf[..];
        (0..self.rows).map(move |_| {
            let start = pos;
            for _ in 0..columns {
                pos = skip_cell(buf, pos);
            }
            RowCells { buf: &buf[start..pos], pos: 0 }
        })
    }
}

/// One row's cells, in column order.
pub struct RowCells<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for RowCells<'a> {
    type Item = Cell<'a>;

    fn next(&mut self) -> Option<Cell<'a>> {
        let tag = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(match tag {
            INT => {
                let v = read_varint(self.buf, &mut self.pos);
                Cell::Int((v >> 1) as i64 ^ -((v & 1) as i64))
            }
            REAL => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.buf[self.pos..self.pos + 8]);
                self.pos += 8;
                Cell::Real(f64::from_le_bytes(b))
            }
            TEXT | BLOB => {
                let len = read_varint(self.buf, &mut self.pos) as usize;
                let bytes = &self.buf[self.pos..self.pos + len];
                self.pos += len;
                if tag == TEXT { Cell::Text(bytes) } else { Cell::Blob(bytes) }
            }
            _ => Cell::Null,
        })
    }
}

fn skip_cell(buf: &[u8], mut pos: usize) -> usize {
    let tag = buf[pos];
    pos += 1;
    match tag {
        INT => {
            read_varint(buf, &mut pos);
        }
        REAL => pos += 8,
        TEXT | BLOB => {
            let len = read_varint(buf, &mut pos) as usize;
            pos += len;
        }
        _ => {}
    }
    pos
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// A decoded value as the query API's JSON: bytes as lowercase hex, unions
/// as their branch's value, non-finite floats as null, durations as
/// `{"months","days","millis"}`.
pub struct Json<'a>(pub &'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Boolean(b) => s.serialize_bool(*b),
            Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => s.serialize_i32(*i),
            Value::Long(i)
            | Value::TimeMicros(i)
            | Value::TimestampMillis(i)
            | Value::TimestampMicros(i)
            | Value::TimestampNanos(i)
            | Value::LocalTimestampMillis(i)
            | Value::LocalTimestampMicros(i)
            | Value::LocalTimestampNanos(i) => s.serialize_i64(*i),
            Value::Float(f) => finite(f64::from(*f), s),
            Value::Double(f) => finite(*f, s),
            Value::String(t) | Value::Enum(_, t) => s.serialize_str(t),
            Value::Uuid(u) => s.collect_str(&u.hyphenated()),
            Value::BigDecimal(d) => s.collect_str(d),
            Value::Bytes(b) | Value::Fixed(_, b) => s.serialize_str(&hex(b)),
            Value::Decimal(d) => s.serialize_str(&hex(&Vec::<u8>::try_from(d.clone()).unwrap_or_default())),
            Value::Duration(d) => {
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("months", &u32::from(d.months()))?;
                map.serialize_entry("days", &u32::from(d.days()))?;
                map.serialize_entry("millis", &u32::from(d.millis()))?;
                map.end()
            }
            Value::Union(_, inner) => Json(inner).serialize(s),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Json(item))?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                // Sorted, as serde_json's own map would be.
                let mut sorted: Vec<_> = entries.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut map = s.serialize_map(Some(sorted.len()))?;
                for (k, v) in sorted {
                    map.serialize_entry(k, &Json(v))?;
                }
                map.end()
            }
            Value::Record(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, &Json(v))?;
                }
                map.end()
            }
        }
    }
}

fn finite<S: Serializer>(f: f64, s: S) -> Result<S::Ok, S::Error> {
    if f.is_finite() { s.serialize_f64(f) } else { s.serialize_unit() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(k: &[ColumnKind]) -> Vec<(ColumnKind, &'static str)> {
        k.iter().map(|&k| (k, "c")).collect()
    }

    #[test]
    fn cells_round_trip() {
        let mut cells = Cells::new(5, 0, usize::MAX);
        let row = Value::Record(vec![
            ("a".into(), Value::Long(-5)),
            ("b".into(), Value::Double(2.5)),
            ("c".into(), Value::Union(1, Box::new(Value::String("x".into())))),
            ("d".into(), Value::Union(0, Box::new(Value::Null))),
            ("e".into(), Value::Array(vec![Value::Int(1), Value::Bytes(vec![0xab])])),
        ]);
        use ColumnKind::*;
        let k = kinds(&[Int, Real, Text, Int, Json]);
        cells.push(row.clone(), &k, 1 << 20).unwrap();
        cells.push(row, &k, 1 << 20).unwrap();
        let rows: Vec<Vec<Cell<'_>>> = cells.iter().map(Iterator::collect).collect();
        let expected = vec![Cell::Int(-5), Cell::Real(2.5), Cell::Text(b"x"), Cell::Null, Cell::Text(br#"[1,"ab"]"#)];
        assert_eq!(rows, vec![expected.clone(), expected]);
    }

    #[test]
    fn a_row_over_the_limit_leaves_the_buffer_as_it_was() {
        let mut cells = Cells::new(2, 0, usize::MAX);
        let k = vec![(ColumnKind::Int, "n"), (ColumnKind::Json, "items")];
        let small = Value::Record(vec![("n".into(), Value::Long(1)), ("items".into(), Value::Array(vec![]))]);
        cells.push(small, &k, 100).unwrap();
        let bytes = cells.bytes();
        let big =
            Value::Record(vec![("n".into(), Value::Long(1)), ("items".into(), Value::Array(vec![Value::Null; 1000]))]);
        assert_eq!(cells.push(big, &k, 100), Err(CellError::TooLarge { column: "items".into() }));
        assert_eq!((cells.rows(), cells.bytes()), (1, bytes));
    }

    #[test]
    fn a_chunk_over_its_stored_limit_is_refused() {
        let mut cells = Cells::new(1, 0, 100);
        let k = vec![(ColumnKind::Text, "s")];
        let row = || Value::Record(vec![("s".into(), Value::String("x".repeat(40)))]);
        cells.push(row(), &k, 1000).unwrap();
        cells.push(row(), &k, 1000).unwrap();
        assert_eq!(cells.push(row(), &k, 1000), Err(CellError::ChunkTooLarge));
        assert_eq!(cells.rows(), 2);
    }

    #[test]
    fn json_matches_the_documented_mapping() {
        let v = Value::Record(vec![
            ("f".into(), Value::Double(f64::NAN)),
            ("m".into(), Value::Map([("b".to_owned(), Value::Int(2)), ("a".to_owned(), Value::Int(1))].into())),
            ("x".into(), Value::Fixed(2, vec![0, 255])),
        ]);
        assert_eq!(serde_json::to_string(&Json(&v)).unwrap(), r#"{"f":null,"m":{"a":1,"b":2},"x":"00ff"}"#);
    }
}
