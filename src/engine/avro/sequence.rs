//! The serializer for sequences: Avro arrays, and bytes or fixed given as
//! sequences of integers.

use alloc::format;
use alloc::vec::Vec;
use serde::ser::{self, Impossible, Serialize};

use super::error::{EncodeError, Problem};
use super::ser::{NodeSer, Out};
use super::varint::put_len;
use crate::engine::schema::{NodeId, Target};

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
