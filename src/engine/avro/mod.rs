//! Avro binary encoding and decoding of rows, driven by a [`Schema`].
//!
//! Rows go through serde in both directions, so any `Serialize` /
//! `Deserialize` type works, and [`Value`] covers rows without a Rust type.

#[macro_use]
mod refuse;
mod de;
mod error;
mod reader;
mod record;
mod sequence;
mod ser;
mod value;
pub(crate) mod varint;

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub use error::{DecodeError, EncodeError, Problem};
pub use value::Value;

use crate::engine::schema::{Schema, Target};

/// Appends `row` to `out` as one Avro datum of `schema`'s record.
///
/// On error `out` is left exactly as it was, and the error names the field.
#[inline]
pub fn encode<T: Serialize + ?Sized>(schema: &Schema, row: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let result =
        row.serialize(ser::NodeSer { out: &mut ser::Out { schema, bytes: out }, at: &Target::of(schema.root()) });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Reads one datum of `schema`'s record from the front of `input`, advancing
/// it; strings and bytes may borrow from the input.
pub fn decode<'de, T: Deserialize<'de>>(schema: &Schema, input: &mut &'de [u8]) -> Result<T, DecodeError> {
    let mut reader = reader::Reader::new(input);
    let value = T::deserialize(de::NodeDe { schema, node: schema.root(), reader: &mut reader, depth: 0 })?;
    *input = reader.input;
    Ok(value)
}

/// Reads one datum of `schema`'s record from the front of `input` as a
/// dynamic [`Value`], advancing it.
pub fn decode_value(schema: &Schema, input: &mut &[u8]) -> Result<Value, DecodeError> {
    let mut reader = reader::Reader::new(input);
    let value = value::read(schema, schema.root(), &mut reader, 0)?;
    *input = reader.input;
    Ok(value)
}

/// Reads exactly `rows` datums that fill `bytes` (a chunk's payload).
pub fn decode_all(schema: &Schema, bytes: &[u8], rows: usize) -> Result<Vec<Value>, DecodeError> {
    let mut reader = reader::Reader::new(bytes);
    // A row takes one byte at least, unless its record is of zero width;
    // those draw on the same budget as zero-width array items.
    let limit = match value::zero_width(schema, schema.root()) {
        true => reader::MAX_ZERO_WIDTH_ITEMS as usize,
        false => bytes.len(),
    };
    if rows > limit {
        return Err(reader.error(alloc::format!("{rows} rows cannot be held by {} bytes", bytes.len())));
    }
    let mut values = Vec::with_capacity(rows.min(bytes.len()));
    for _ in 0..rows {
        values.push(value::read(schema, schema.root(), &mut reader, 0)?);
    }
    if !reader.input.is_empty() {
        return Err(reader.error(alloc::format!("{} bytes left over after {rows} rows", reader.input.len())));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus the npm package's encoder is checked against too
    /// (tests/browser/js/encode.test.mjs): rows given as JSON, and their
    /// Avro bytes; and each schema's wire form, which the package writes
    /// too. `EDGEMETRICS_WRITE_CORPUS=1` writes the bytes and wire forms
    /// this engine produces into the file (after a deliberate change).
    #[test]
    fn the_shared_corpus() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/js/rows.json");
        let mut corpus: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let write = std::env::var_os("EDGEMETRICS_WRITE_CORPUS").is_some();
        let mut rows = 0;
        for case in corpus.as_array_mut().unwrap() {
            let schema = Schema::parse(&case["schema"].to_string()).unwrap();
            match write {
                true => case["wire"] = schema.wire_form().into(),
                false => assert_eq!(case["wire"], schema.wire_form(), "{}", case["schema"]),
            }
            for row in case["rows"].as_array_mut().unwrap() {
                let mut out = Vec::new();
                encode(&schema, &row["value"], &mut out).unwrap_or_else(|e| panic!("{}: {e}", row["value"]));
                let hex: String = out.iter().map(|b| alloc::format!("{b:02x}")).collect();
                match write {
                    true => row["avro"] = hex.into(),
                    false => assert_eq!(row["avro"], hex.as_str(), "{}", row["value"]),
                }
                rows += 1;
            }
        }
        assert!(rows > 10, "{rows} rows");
        if write {
            std::fs::write(path, serde_json::to_string_pretty(&corpus).unwrap() + "\n").unwrap();
        }
    }

    #[test]
    fn decode_all_refuses_more_rows_than_the_bytes_can_hold() {
        let schema = Schema::parse(r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"}]}"#).unwrap();
        let error = decode_all(&schema, &[2, 4], 3).unwrap_err();
        assert_eq!(error.message, "3 rows cannot be held by 2 bytes");
        assert_eq!(decode_all(&schema, &[2, 4], 2).unwrap().len(), 2);
        let empty = Schema::parse(r#"{"type":"record","name":"e","fields":[]}"#).unwrap();
        assert_eq!(decode_all(&empty, &[], 10).unwrap().len(), 10);
        assert!(decode_all(&empty, &[], usize::MAX).is_err(), "bounded, not an endless loop");
    }
}
