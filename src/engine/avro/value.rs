//! A dynamic Avro value: what a row decodes into when there is no Rust type
//! for it (JavaScript objects, subscriptions, tests).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::error::DecodeError;
use super::reader::Reader;
use crate::engine::schema::{Node, NodeId, Schema};

/// One decoded Avro value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `boolean`
    Boolean(bool),
    /// `int` (and its logical types)
    Int(i32),
    /// `long` (and its logical types)
    Long(i64),
    /// `float`
    Float(f32),
    /// `double`
    Double(f64),
    /// `bytes` (and decimal on bytes)
    Bytes(Vec<u8>),
    /// `string` (and uuid)
    String(String),
    /// A fixed value.
    Fixed(Vec<u8>),
    /// An enum symbol: its index and its name.
    Enum(u32, String),
    /// An array.
    Array(Vec<Value>),
    /// A map, entries in encoded order.
    Map(Vec<(String, Value)>),
    /// A record's fields in schema order.
    Record(Vec<(String, Value)>),
    /// The branch index of a union and its value.
    Union(u32, Box<Value>),
}

impl Value {
    /// The value of a record field by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Nesting deeper than this is refused (recursive schemas and hostile input).
pub(crate) const MAX_DEPTH: u32 = 256;

/// Whether a value of `node` can take no bytes at all: null, fixed of size
/// 0, and records of only such fields. Arrays of these are the only ones
/// whose length the input's size does not bound (see `Reader::block`).
pub(crate) fn zero_width(schema: &Schema, node: NodeId) -> bool {
    fn at(schema: &Schema, node: NodeId, depth: u32) -> bool {
        match schema.node(node) {
            Node::Null => true,
            Node::Fixed(f) => f.size == 0,
            Node::Record(r) => depth < MAX_DEPTH && r.fields.iter().all(|f| at(schema, f.node, depth + 1)),
            _ => false,
        }
    }
    at(schema, node, 0)
}

pub(crate) fn read(schema: &Schema, node: NodeId, r: &mut Reader<'_>, depth: u32) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(r.error("values nested too deeply"));
    }
    Ok(match schema.node(node) {
        Node::Null => Value::Null,
        Node::Boolean => Value::Boolean(r.boolean()?),
        Node::Int(_) => Value::Int(r.int()?),
        Node::Long(_) => Value::Long(r.long()?),
        Node::Float => Value::Float(r.float()?),
        Node::Double => Value::Double(r.double()?),
        Node::Bytes(_) => Value::Bytes(r.bytes_with_len()?.to_vec()),
        Node::String(_) => Value::String(r.str()?.to_string()),
        Node::Fixed(f) => Value::Fixed(r.bytes(f.size)?.to_vec()),
        Node::Enum(e) => {
            let i = r.index(e.symbols.len(), "enum symbol")?;
            Value::Enum(i as u32, e.symbols[i].clone())
        }
        Node::Union(u) => {
            let i = r.index(u.branches.len(), "union branch")?;
            Value::Union(i as u32, Box::new(read(schema, u.branches[i], r, depth + 1)?))
        }
        Node::Record(rec) => {
            let mut fields = Vec::with_capacity(rec.fields.len());
            for f in &rec.fields {
                fields.push((f.name.clone(), read(schema, f.node, r, depth + 1)?));
            }
            Value::Record(fields)
        }
        Node::Array(items) => {
            let mut values = Vec::new();
            let zero = zero_width(schema, *items);
            loop {
                let n = r.block(zero)?;
                if n == 0 {
                    break;
                }
                values.reserve(n.min(r.input.len()));
                for _ in 0..n {
                    values.push(read(schema, *items, r, depth + 1)?);
                }
            }
            Value::Array(values)
        }
        Node::Map(values_node) => {
            let mut entries = Vec::new();
            loop {
                let n = r.block(false)?;
                if n == 0 {
                    break;
                }
                entries.reserve(n.min(r.input.len()));
                for _ in 0..n {
                    let key = r.str()?.to_string();
                    entries.push((key, read(schema, *values_node, r, depth + 1)?));
                }
            }
            Value::Map(entries)
        }
    })
}

/// Reads past one value without building it.
pub(crate) fn skip(schema: &Schema, node: NodeId, r: &mut Reader<'_>, depth: u32) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(r.error("values nested too deeply"));
    }
    match schema.node(node) {
        Node::Null => {}
        Node::Boolean => {
            r.boolean()?;
        }
        Node::Int(_) => {
            r.int()?;
        }
        Node::Long(_) => {
            r.long()?;
        }
        Node::Float => {
            r.bytes(4)?;
        }
        Node::Double => {
            r.bytes(8)?;
        }
        Node::Bytes(_) => {
            r.bytes_with_len()?;
        }
        Node::String(_) => {
            r.str()?;
        }
        Node::Fixed(f) => {
            r.bytes(f.size)?;
        }
        Node::Enum(e) => {
            r.index(e.symbols.len(), "enum symbol")?;
        }
        Node::Union(u) => {
            let i = r.index(u.branches.len(), "union branch")?;
            skip(schema, u.branches[i], r, depth + 1)?;
        }
        Node::Record(rec) => {
            for f in &rec.fields {
                skip(schema, f.node, r, depth + 1)?;
            }
        }
        Node::Array(items) => {
            let zero = zero_width(schema, *items);
            loop {
                let n = r.block(zero)?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    skip(schema, *items, r, depth + 1)?;
                }
            }
        }
        Node::Map(values) => loop {
            let n = r.block(false)?;
            if n == 0 {
                break;
            }
            for _ in 0..n {
                r.str()?;
                skip(schema, *values, r, depth + 1)?;
            }
        },
    }
    Ok(())
}

/// Serializes as the natural shape: records and maps as maps, unions as
/// their value (the encoder picks the branch of the same kind again).
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Boolean(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i32(*i),
            Value::Long(l) => s.serialize_i64(*l),
            Value::Float(x) => s.serialize_f32(*x),
            Value::Double(x) => s.serialize_f64(*x),
            Value::Bytes(b) | Value::Fixed(b) => s.serialize_bytes(b),
            Value::String(v) | Value::Enum(_, v) => s.serialize_str(v),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) | Value::Record(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Union(_, v) => v.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::Value;
    use crate::engine::avro::varint::put_long;
    use crate::engine::avro::{decode_all, encode};
    use crate::engine::schema::Schema;

    fn array_of(items: &str) -> Schema {
        let text = alloc::format!(
            r#"{{"type":"record","name":"r","fields":[{{"name":"a","type":{{"type":"array","items":{items}}}}}]}}"#
        );
        Schema::parse(&text).unwrap()
    }

    #[test]
    fn arrays_of_zero_width_items_decode_when_longer_than_the_bytes_left() {
        // 300 nulls, then 70 empty records, last in the datum: both counts
        // exceed 64 times the bytes left, which the old bound refused.
        let schema = Schema::parse(
            r#"{"type":"record","name":"r","fields":[{"name":"nulls","type":{"type":"array","items":"null"}},
            {"name":"empties","type":{"type":"array","items":{"type":"record","name":"e","fields":[]}}}]}"#,
        )
        .unwrap();
        let bytes = [0xd8, 0x04, 0x00, 0x8c, 0x01, 0x00];
        let rows = decode_all(&schema, &bytes, 1).unwrap();
        assert!(matches!(rows[0].field("nulls"), Some(Value::Array(a)) if a.len() == 300));
        assert!(matches!(rows[0].field("empties"), Some(Value::Array(a)) if a.len() == 70));
        let mut again = Vec::new();
        encode(&schema, &rows[0], &mut again).unwrap();
        assert_eq!(again, bytes);
    }

    #[test]
    fn block_counts_stay_bounded() {
        // Five ints announced, three bytes left.
        let error = decode_all(&array_of(r#""int""#), &[0x0a, 0x02, 0x04, 0x00], 1).unwrap_err();
        assert!(error.message.contains("implausible"), "{error}");
        // A trillion nulls are refused, not decoded.
        let mut hostile = Vec::new();
        put_long(&mut hostile, 1 << 40);
        hostile.push(0);
        let error = decode_all(&array_of(r#""null""#), &hostile, 1).unwrap_err();
        assert!(error.message.contains("zero-width"), "{error}");
        // The budget is for the whole input, not per block.
        let mut blocks = Vec::new();
        for _ in 0..3 {
            put_long(&mut blocks, 1 << 19);
        }
        blocks.push(0);
        let error = decode_all(&array_of(r#""null""#), &blocks, 1).unwrap_err();
        assert!(error.message.contains("zero-width"), "{error}");
        let mut two = Vec::new();
        put_long(&mut two, 1 << 19);
        put_long(&mut two, 1 << 19);
        two.push(0);
        assert!(decode_all(&array_of(r#""null""#), &two, 1).is_ok());
    }
}
