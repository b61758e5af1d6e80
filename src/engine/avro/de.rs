//! A serde `Deserializer` that reads Avro binary guided by the schema, into
//! any `Deserialize` type; strings and bytes are borrowed from the input.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::error::DecodeError;
use super::reader::Reader;
use super::value::{MAX_DEPTH, skip, zero_width};
use crate::engine::schema::{Node, NodeId, Record, Schema};

pub(crate) struct NodeDe<'s, 'r, 'de> {
    pub schema: &'s Schema,
    pub node: NodeId,
    pub reader: &'r mut Reader<'de>,
    /// How deep the value is nested; deeper than [`MAX_DEPTH`] is refused,
    /// as `decode_value` does, so that hostile input for a recursive schema
    /// cannot overflow the stack.
    pub depth: u32,
}

impl<'s, 'r, 'de> NodeDe<'s, 'r, 'de> {
    fn at(&mut self, node: NodeId) -> NodeDe<'s, '_, 'de> {
        NodeDe { schema: self.schema, node, reader: self.reader, depth: self.depth + 1 }
    }

    #[inline]
    fn check_depth(&self) -> Result<(), DecodeError> {
        if self.depth > MAX_DEPTH {
            return Err(self.reader.error("values nested too deeply"));
        }
        Ok(())
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_, '_, 'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, DecodeError> {
        self.check_depth()?;
        let schema = self.schema;
        match schema.node(self.node) {
            Node::Null => visitor.visit_unit(),
            Node::Boolean => visitor.visit_bool(self.reader.boolean()?),
            Node::Int(_) => visitor.visit_i32(self.reader.int()?),
            Node::Long(_) => visitor.visit_i64(self.reader.long()?),
            Node::Float => visitor.visit_f32(self.reader.float()?),
            Node::Double => visitor.visit_f64(self.reader.double()?),
            Node::Bytes(_) => visitor.visit_borrowed_bytes(self.reader.bytes_with_len()?),
            Node::Fixed(f) => visitor.visit_borrowed_bytes(self.reader.bytes(f.size)?),
            Node::String(_) => visitor.visit_borrowed_str(self.reader.str()?),
            Node::Enum(e) => {
                let i = self.reader.index(e.symbols.len(), "enum symbol")?;
                visitor.visit_str(&e.symbols[i])
            }
            Node::Union(u) => {
                let i = self.reader.index(u.branches.len(), "union branch")?;
                match schema.node(u.branches[i]) {
                    Node::Null => visitor.visit_none(),
                    _ => self.at(u.branches[i]).deserialize_any(visitor),
                }
            }
            Node::Record(record) => {
                visitor.visit_map(RecordAccess { schema, record, reader: self.reader, next: 0, depth: self.depth })
            }
            Node::Array(items) => visitor.visit_seq(BlockAccess::new(schema, *items, self.reader, false, self.depth)),
            Node::Map(values) => visitor.visit_map(BlockAccess::new(schema, *values, self.reader, true, self.depth)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, DecodeError> {
        self.check_depth()?;
        let schema = self.schema;
        match schema.node(self.node) {
            Node::Null => visitor.visit_none(),
            Node::Union(u) => {
                let i = self.reader.index(u.branches.len(), "union branch")?;
                match schema.node(u.branches[i]) {
                    Node::Null => visitor.visit_none(),
                    _ => visitor.visit_some(self.at(u.branches[i])),
                }
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.check_depth()?;
        let schema = self.schema;
        match schema.node(self.node) {
            Node::Enum(e) => {
                let i = self.reader.index(e.symbols.len(), "enum symbol")?;
                visitor.visit_enum(e.symbols[i].as_str().into_deserializer())
            }
            Node::Union(u) => {
                let i = self.reader.index(u.branches.len(), "union branch")?;
                let branch = u.branches[i];
                visitor.visit_enum(UnionAccess { de: self.at(branch) })
            }
            Node::String(_) => {
                let s = self.reader.str()?;
                visitor.visit_enum(s.into_deserializer())
            }
            _ => Err(self.reader.error(alloc::format!("cannot read {} as an enum", schema.describe(self.node)))),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.schema.node(self.node) {
            Node::Bytes(_) => visitor.visit_seq(byte_seq(self.reader.bytes_with_len()?)),
            Node::Fixed(f) => visitor.visit_seq(byte_seq(self.reader.bytes(f.size)?)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        skip(self.schema, self.node, self.reader, 0)?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit unit_struct
        tuple_struct map struct identifier
    }
}

/// Bytes as a sequence of `u8`, for `Vec<u8>` and `[u8; N]` targets.
fn byte_seq(bytes: &[u8]) -> de::value::SeqDeserializer<core::iter::Copied<core::slice::Iter<'_, u8>>, DecodeError> {
    de::value::SeqDeserializer::new(bytes.iter().copied())
}

struct RecordAccess<'s, 'r, 'de> {
    schema: &'s Schema,
    record: &'s Record,
    reader: &'r mut Reader<'de>,
    next: usize,
    depth: u32,
}

impl<'de> de::MapAccess<'de> for RecordAccess<'_, '_, 'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        match self.record.fields.get(self.next) {
            Some(field) => seed.deserialize(field.name.as_str().into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        let field = &self.record.fields[self.next];
        self.next += 1;
        seed.deserialize(NodeDe { schema: self.schema, node: field.node, reader: self.reader, depth: self.depth + 1 })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.record.fields.len() - self.next)
    }
}

/// Items of arrays, or entries of maps, block by block.
struct BlockAccess<'s, 'r, 'de> {
    schema: &'s Schema,
    node: NodeId,
    reader: &'r mut Reader<'de>,
    left: usize,
    done: bool,
    keyed: bool,
    /// Whether items can take no bytes (see `Reader::block`).
    zero_width: bool,
    depth: u32,
}

impl<'s, 'r, 'de> BlockAccess<'s, 'r, 'de> {
    fn new(schema: &'s Schema, node: NodeId, reader: &'r mut Reader<'de>, keyed: bool, depth: u32) -> Self {
        let zero_width = !keyed && zero_width(schema, node);
        BlockAccess { schema, node, reader, left: 0, done: false, keyed, zero_width, depth }
    }

    fn advance(&mut self) -> Result<bool, DecodeError> {
        if self.done {
            return Ok(false);
        }
        if self.left == 0 {
            self.left = self.reader.block(self.zero_width)?;
            if self.left == 0 {
                self.done = true;
                return Ok(false);
            }
        }
        self.left -= 1;
        Ok(true)
    }
}

impl<'de> de::SeqAccess<'de> for BlockAccess<'_, '_, 'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        if !self.advance()? {
            return Ok(None);
        }
        seed.deserialize(NodeDe { schema: self.schema, node: self.node, reader: self.reader, depth: self.depth + 1 })
            .map(Some)
    }
}

impl<'de> de::MapAccess<'de> for BlockAccess<'_, '_, 'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        debug_assert!(self.keyed);
        if !self.advance()? {
            return Ok(None);
        }
        let key = self.reader.str()?;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        seed.deserialize(NodeDe { schema: self.schema, node: self.node, reader: self.reader, depth: self.depth + 1 })
    }
}

/// A union read as a Rust enum: the variant is the branch's name.
struct UnionAccess<'s, 'r, 'de> {
    de: NodeDe<'s, 'r, 'de>,
}

impl<'s, 'r, 'de> de::EnumAccess<'de> for UnionAccess<'s, 'r, 'de> {
    type Error = DecodeError;
    type Variant = NodeDe<'s, 'r, 'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant), DecodeError> {
        let full = self.de.schema.branch_name(self.de.node);
        let short = full.rsplit('.').next().unwrap_or(full);
        let value = seed.deserialize(short.into_deserializer())?;
        Ok((value, self.de))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDe<'_, '_, 'de> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        skip(self.schema, self.node, self.reader, 0)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DecodeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use alloc::vec;
    use serde::Deserialize;

    use crate::engine::avro::decode;
    use crate::engine::schema::Schema;

    #[derive(Deserialize)]
    struct List {
        next: Option<Box<List>>,
    }

    #[test]
    fn refuses_nesting_deeper_than_the_limit_instead_of_overflowing_the_stack() {
        let schema =
            Schema::parse(r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#).unwrap();
        // Branch 1 (another L) a million times: this used to overflow the stack.
        let mut hostile = vec![0x02u8; 1_000_000];
        hostile.push(0x00);
        let error = decode::<List>(&schema, &mut &hostile[..]).err().expect("refused");
        assert!(error.message.contains("nested too deeply"), "{error}");
        // A list of 100 is well within the limit.
        let mut ok = vec![0x02u8; 100];
        ok.push(0x00);
        let mut input = &ok[..];
        let list: List = decode(&schema, &mut input).unwrap();
        assert!(input.is_empty());
        let (mut length, mut node) = (0, &list);
        while let Some(next) = &node.next {
            length += 1;
            node = next;
        }
        assert_eq!(length, 100);
    }
}
