//! Serializers for arrays, maps and records.

use alloc::format;
use alloc::vec::Vec;
use serde::ser::{self, Impossible, Serialize};

use super::error::{EncodeError, Problem};
use super::ser::{NodeSer, Out};
use super::varint::put_len;
use crate::engine::schema::{NodeId, Record, Target};

/// What a serde sequence becomes.
pub(crate) enum SeqMode {
    /// An Avro array of this item type.
    Array(NodeId),
    /// Avro bytes, from a sequence of integers 0..=255 (`Vec<u8>` without serde_bytes).
    Bytes,
    /// A fixed of this size, likewise.
    Fixed(usize),
}

/// Writes a sequence. Avro prefixes a block with its item count; when serde
/// does not announce the length, the count is inserted at the end.
pub(crate) struct SeqSer<'o, 's> {
    out: &'o mut Out<'s>,
    mode: SeqMode,
    announced: Option<usize>,
    start: usize,
    count: usize,
}

impl<'o, 's> SeqSer<'o, 's> {
    pub(crate) fn new(out: &'o mut Out<'s>, mode: SeqMode, len: Option<usize>) -> Self {
        let announced = match mode {
            SeqMode::Fixed(_) => None,
            _ => len,
        };
        match (&mode, announced) {
            (SeqMode::Array(_), Some(n @ 1..)) | (SeqMode::Bytes, Some(n)) => put_len(out.bytes, n),
            _ => {}
        }
        let start = out.bytes.len();
        SeqSer { out, mode, announced, start, count: 0 }
    }

    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), EncodeError> {
        let index = self.count;
        self.count += 1;
        match self.mode {
            SeqMode::Array(items) => value
                .serialize(NodeSer { out: &mut *self.out, at: &Target::of(items) })
                .map_err(|e| e.within(format!("[{index}]"))),
            SeqMode::Bytes | SeqMode::Fixed(_) => {
                let byte = value.serialize(ByteSer).map_err(|e| e.within(format!("[{index}]")))?;
                self.out.bytes.push(byte);
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), EncodeError> {
        match (self.mode, self.announced) {
            (SeqMode::Fixed(size), _) if size != self.count => {
                Err(EncodeError::new(Problem::FixedSize { expected: size, found: self.count }))
            }
            (SeqMode::Fixed(_), _) => Ok(()),
            (mode, Some(n)) => {
                if n != self.count {
                    return Err(ser::Error::custom(format!(
                        "the sequence announced {n} items and gave {}",
                        self.count
                    )));
                }
                if matches!(mode, SeqMode::Array(_)) {
                    self.out.bytes.push(0);
                }
                Ok(())
            }
            (mode, None) => {
                let mut prefix = Vec::new();
                if self.count > 0 || matches!(mode, SeqMode::Bytes) {
                    put_len(&mut prefix, self.count);
                }
                self.out.bytes.splice(self.start..self.start, prefix);
                if matches!(mode, SeqMode::Array(_)) {
                    self.out.bytes.push(0);
                }
                Ok(())
            }
        }
    }
}

macro_rules! seq_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for SeqSer<'_, '_> {
            type Ok = ();
            type Error = EncodeError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), EncodeError> {
                self.element(value)
            }
            fn end(self) -> Result<(), EncodeError> {
                self.finish()
            }
        }
    )*};
}
seq_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// Writes an Avro map; keys must be strings.
pub(crate) struct MapSer<'o, 's> {
    values: NodeId,
    out: &'o mut Out<'s>,
    announced: Option<usize>,
    start: usize,
    count: usize,
}

impl<'o, 's> MapSer<'o, 's> {
    pub(crate) fn new(values: NodeId, out: &'o mut Out<'s>, len: Option<usize>) -> Self {
        if let Some(n @ 1..) = len {
            put_len(out.bytes, n);
        }
        let start = out.bytes.len();
        MapSer { values, out, announced: len, start, count: 0 }
    }

    fn key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), EncodeError> {
        self.count += 1;
        key.serialize(KeySer { out: self.out.bytes })
    }

    fn value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), EncodeError> {
        value
            .serialize(NodeSer { out: &mut *self.out, at: &Target::of(self.values) })
            .map_err(|e| e.within(format!("[{}]", self.count - 1)))
    }

    fn finish(&mut self) -> Result<(), EncodeError> {
        match self.announced {
            Some(n) if n != self.count => {
                return Err(ser::Error::custom(format!("the map announced {n} entries and gave {}", self.count)));
            }
            Some(_) => {}
            None if self.count > 0 => {
                let mut prefix = Vec::new();
                put_len(&mut prefix, self.count);
                self.out.bytes.splice(self.start..self.start, prefix);
            }
            None => {}
        }
        self.out.bytes.push(0);
        Ok(())
    }
}

/// Writes a record's fields in schema order. Fields that arrive in that
/// order (any derived struct whose fields follow the schema) are written
/// straight out; the first one out of order switches to collecting spans
/// that `end` reorders, which costs one copy of the row.
pub(crate) struct RecordSer<'o, 's> {
    record: &'s Record,
    out: &'o mut Out<'s>,
    /// Fields before this index are written, in order.
    next: usize,
    /// Where out-of-order spans start in `out`.
    mark: usize,
    /// Out-of-order fields: (field index, start, end) in `out`.
    spans: Vec<(usize, usize, usize)>,
    /// The field whose key `serialize_key` matched.
    pending: usize,
}

impl<'o, 's> RecordSer<'o, 's> {
    #[inline]
    pub(crate) fn new(record: &'s Record, out: &'o mut Out<'s>) -> Self {
        RecordSer { record, out, next: 0, mark: 0, spans: Vec::new(), pending: 0 }
    }

    fn field_index(&self, key: &str) -> Result<usize, EncodeError> {
        let fields = &self.record.fields;
        if self.next < fields.len() && fields[self.next].name == key {
            return Ok(self.next);
        }
        let index = fields.iter().position(|f| f.name == key).ok_or_else(|| {
            EncodeError::new(Problem::UnknownField { record: self.record.name.full.clone() }).within(key)
        })?;
        if (index < self.next && self.spans.is_empty()) || self.spans.iter().any(|s| s.0 == index) {
            return Err(EncodeError::new(Problem::DuplicateField).within(key));
        }
        Ok(index)
    }

    #[inline(always)]
    fn value<T: ?Sized + Serialize>(&mut self, index: usize, value: &T) -> Result<(), EncodeError> {
        let field = &self.record.fields[index];
        let in_order = self.spans.is_empty() && index == self.next;
        if !in_order && self.spans.is_empty() {
            self.mark = self.out.bytes.len();
        }
        let start = self.out.bytes.len();
        value
            .serialize(NodeSer { out: &mut *self.out, at: &field.target })
            .map_err(|e| e.within(field.name.as_str()))?;
        if in_order {
            self.next += 1;
        } else {
            self.spans.push((index, start, self.out.bytes.len()));
        }
        Ok(())
    }

    fn missing(&mut self, from: usize, tail: &[u8]) -> Result<(), EncodeError> {
        for index in from..self.record.fields.len() {
            let field = &self.record.fields[index];
            if let Some(&(_, start, end)) = self.spans.iter().find(|s| s.0 == index) {
                self.out.bytes.extend_from_slice(&tail[start - self.mark..end - self.mark]);
            } else if let Some(default) = &field.default {
                self.out.bytes.extend_from_slice(default);
            } else {
                return Err(EncodeError::new(Problem::MissingField).within(field.name.as_str()));
            }
        }
        Ok(())
    }

    /// Borrows rather than consumes: moving the serializer here copied it
    /// through the stack right after its fields were updated, a store
    /// forwarding stall worth a fifth of encoding time.
    #[inline(always)]
    fn finish(&mut self) -> Result<(), EncodeError> {
        if self.spans.is_empty() {
            if self.next == self.record.fields.len() {
                return Ok(());
            }
            return self.missing(self.next, &[]);
        }
        let tail = self.out.bytes.split_off(self.mark);
        self.missing(self.next, &tail)
    }
}

impl ser::SerializeStruct for RecordSer<'_, '_> {
    type Ok = ();
    type Error = EncodeError;
    #[inline(always)]
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), EncodeError> {
        // The fast path: the next field, in order, under the static key seen
        // before for it; no span bookkeeping.
        if let Some(field) = self.record.fields.get(self.next)
            && self.spans.is_empty()
            && field.key_seen.matches(key, &field.name)
        {
            let node = NodeSer { out: &mut *self.out, at: &field.target };
            value.serialize(node).map_err(|e| e.within(field.name.as_str()))?;
            self.next += 1;
            return Ok(());
        }
        let index = match self.record.fields.get(self.next) {
            Some(field) if field.name == key => {
                field.key_seen.remember(key);
                self.next
            }
            _ => self.field_index(key)?,
        };
        self.value(index, value)
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), EncodeError> {
        Ok(())
    }
    fn end(mut self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for RecordSer<'_, '_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), EncodeError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(mut self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeMap for RecordSer<'_, '_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), EncodeError> {
        self.pending = key.serialize(FieldKey { record: self })?;
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.value(self.pending, value)
    }
    fn end(mut self) -> Result<(), EncodeError> {
        self.finish()
    }
}

/// A struct or a map, as a record or an Avro map.
pub(crate) enum Compound<'o, 's> {
    Record(RecordSer<'o, 's>),
    Map(MapSer<'o, 's>),
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), EncodeError> {
        match self {
            Compound::Record(r) => ser::SerializeMap::serialize_key(r, key),
            Compound::Map(m) => m.key(key),
        }
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), EncodeError> {
        match self {
            Compound::Record(r) => ser::SerializeMap::serialize_value(r, value),
            Compound::Map(m) => m.value(value),
        }
    }
    fn end(mut self) -> Result<(), EncodeError> {
        match &mut self {
            Compound::Record(r) => r.finish(),
            Compound::Map(m) => m.finish(),
        }
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;
    #[inline(always)]
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), EncodeError> {
        match self {
            Compound::Record(r) => ser::SerializeStruct::serialize_field(r, key, value),
            Compound::Map(m) => {
                m.key(key)?;
                m.value(value)
            }
        }
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), EncodeError> {
        Ok(())
    }
    #[inline(always)]
    fn end(self) -> Result<(), EncodeError> {
        match self {
            // Decided from fields read in place: taking the serializer's
            // address here made it copied through the stack once per row.
            Compound::Record(r) if r.spans.is_empty() && r.next == r.record.fields.len() => Ok(()),
            Compound::Record(mut r) => r.finish(),
            Compound::Map(mut m) => m.finish(),
        }
    }
}

/// Generates the methods of a serializer that accepts only some kinds.
macro_rules! refuse {
    ($err:expr; $($method:ident($($arg:ty),*)),*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::Ok, EncodeError> { Err($err) }
    )*};
}

macro_rules! refuse_compound {
    ($err:expr) => {
        type SerializeSeq = Impossible<Self::Ok, EncodeError>;
        type SerializeTuple = Impossible<Self::Ok, EncodeError>;
        type SerializeTupleStruct = Impossible<Self::Ok, EncodeError>;
        type SerializeTupleVariant = Impossible<Self::Ok, EncodeError>;
        type SerializeMap = Impossible<Self::Ok, EncodeError>;
        type SerializeStruct = Impossible<Self::Ok, EncodeError>;
        type SerializeStructVariant = Impossible<Self::Ok, EncodeError>;
        refuse!($err; serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_f32(f32), serialize_f64(f64),
            serialize_bytes(&[u8]), serialize_none(), serialize_unit(), serialize_unit_struct(&'static str));
        fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Self::Ok, EncodeError> { Err($err) }
        fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<Self::Ok, EncodeError> { Err($err) }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Result<Self::Ok, EncodeError> { Err($err) }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<Self::Ok, EncodeError> { Err($err) }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, EncodeError> { Err($err) }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, EncodeError> { Err($err) }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, EncodeError> { Err($err) }
        fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, EncodeError> { Err($err) }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, EncodeError> { Err($err) }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, EncodeError> { Err($err) }
        fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, EncodeError> { Err($err) }
    };
}

/// Writes an Avro map key (a string).
struct KeySer<'a> {
    out: &'a mut Vec<u8>,
}

impl ser::Serializer for KeySer<'_> {
    type Ok = ();
    type Error = EncodeError;
    refuse_compound!(EncodeError::new(Problem::KeyNotString));
    refuse!(EncodeError::new(Problem::KeyNotString); serialize_i32(i32), serialize_i64(i64), serialize_u8(u8),
        serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_char(char));
    fn serialize_str(self, v: &str) -> Result<(), EncodeError> {
        put_len(self.out, v.len());
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }
}

/// Matches a map key against a record's fields, returning the field index.
struct FieldKey<'r, 'o, 's> {
    record: &'r RecordSer<'o, 's>,
}

impl ser::Serializer for FieldKey<'_, '_, '_> {
    type Ok = usize;
    type Error = EncodeError;
    refuse_compound!(EncodeError::new(Problem::KeyNotString));
    refuse!(EncodeError::new(Problem::KeyNotString); serialize_i32(i32), serialize_i64(i64), serialize_u8(u8),
        serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_char(char));
    fn serialize_str(self, v: &str) -> Result<usize, EncodeError> {
        self.record.field_index(v)
    }
}

/// Reads one byte of a byte sequence.
struct ByteSer;

impl ser::Serializer for ByteSer {
    type Ok = u8;
    type Error = EncodeError;
    refuse_compound!(EncodeError::mismatch("a byte (0 to 255)", "another kind"));
    refuse!(EncodeError::mismatch("a byte (0 to 255)", "a string"); serialize_str(&str), serialize_char(char));
    fn serialize_u8(self, v: u8) -> Result<u8, EncodeError> {
        Ok(v)
    }
    fn serialize_u16(self, v: u16) -> Result<u8, EncodeError> {
        u8::try_from(v).map_err(|_| EncodeError::out_of_range("a byte", v))
    }
    fn serialize_u32(self, v: u32) -> Result<u8, EncodeError> {
        u8::try_from(v).map_err(|_| EncodeError::out_of_range("a byte", v))
    }
    fn serialize_u64(self, v: u64) -> Result<u8, EncodeError> {
        u8::try_from(v).map_err(|_| EncodeError::out_of_range("a byte", v))
    }
    fn serialize_i32(self, v: i32) -> Result<u8, EncodeError> {
        u8::try_from(v).map_err(|_| EncodeError::out_of_range("a byte", v))
    }
    fn serialize_i64(self, v: i64) -> Result<u8, EncodeError> {
        u8::try_from(v).map_err(|_| EncodeError::out_of_range("a byte", v))
    }
}
