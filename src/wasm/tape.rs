//! The fast path of `metric.write` for flat records: the package's JS
//! (`pkg/fast-write.js`) reads the row's fields itself and lays them out in
//! a scratch area of wasm memory (the tape), then makes one call into wasm,
//! instead of one crossing per property and value. Rows are encoded from
//! the tape by the same engine encoder, through serde, so they produce the
//! same bytes and the same errors as the general path; the JS side falls
//! back to the general path for anything the tape does not carry (a value
//! of another JS kind, a `null`, a long string).
//!
//! Eligible: records whose fields are all `long`, `int`, `double`, `float`,
//! `string` or `boolean` (logical types included). The tape has one 8-byte
//! slot per field in schema order: numbers as f64, booleans as 0 or 1,
//! strings as (offset, length) of their UTF-8 bytes in the byte area.

use std::cell::RefCell;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::engine::schema::{Node, Schema};

/// What JS writes into a field's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A whole number for `long` or `int`.
    Integer = 0,
    /// A number for `double` or `float`.
    Float = 1,
    /// A string (offset and length in the byte area).
    String = 2,
    /// A boolean (0 or 1).
    Boolean = 3,
}

/// Bytes of strings a row may carry on the tape; longer rows take the
/// general path.
pub(crate) const TAPE_BYTES: usize = 16 << 10;

/// A metric's tape: the field kinds and the scratch memory JS writes.
pub(crate) struct Tape {
    kinds: Vec<Kind>,
    /// The field names, interned: the encoder recognises a `&'static str`
    /// key it has seen by its address, without comparing bytes.
    names: Vec<&'static str>,
    /// The record's name, interned likewise.
    record: &'static str,
    /// One 8-byte slot per field from `start` (8-aligned, for JS's
    /// `Float64Array`), then `TAPE_BYTES` of string bytes.
    memory: Vec<u8>,
    start: usize,
}

impl Tape {
    /// The tape of `schema`, when its record is flat.
    pub(crate) fn new(schema: &Schema) -> Option<Tape> {
        let kinds = schema
            .record()
            .fields
            .iter()
            .map(|field| match schema.node(field.node) {
                Node::Long(_) | Node::Int(_) => Some(Kind::Integer),
                Node::Double | Node::Float => Some(Kind::Float),
                Node::String(_) => Some(Kind::String),
                Node::Boolean => Some(Kind::Boolean),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let names = schema.record().fields.iter().map(|field| intern(&field.name)).collect();
        let memory = vec![0; 8 + 8 * kinds.len() + TAPE_BYTES];
        let start = (8 - memory.as_ptr() as usize % 8) % 8;
        let record = intern(schema.record().name.short());
        Some(Tape { kinds, names, record, memory, start })
    }

    /// The field kinds, in schema order, as JS reads them.
    pub(crate) fn kinds(&self) -> Vec<u8> {
        self.kinds.iter().map(|kind| *kind as u8).collect()
    }

    /// The address of the slots in wasm memory (the byte area follows them).
    pub(crate) fn address(&self) -> usize {
        self.memory.as_ptr() as usize + self.start
    }

    /// The row on the tape now.
    pub(crate) fn row(&self) -> TapeRow<'_> {
        TapeRow { tape: self }
    }

    fn slot(&self, index: usize) -> u64 {
        let at = self.start + 8 * index;
        let mut word = [0; 8];
        word.copy_from_slice(&self.memory[at..at + 8]);
        u64::from_le_bytes(word)
    }

    fn bytes(&self) -> &[u8] {
        &self.memory[self.start + 8 * self.kinds.len()..]
    }
}

/// The row on a tape, serialized as its record's fields in order.
pub(crate) struct TapeRow<'a> {
    tape: &'a Tape,
}

impl Serialize for TapeRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let tape = self.tape;
        let bytes = tape.bytes();
        let mut map = s.serialize_struct(tape.record, tape.kinds.len())?;
        for (index, (&name, kind)) in tape.names.iter().zip(&tape.kinds).enumerate() {
            let slot = tape.slot(index);
            match kind {
                Kind::Integer => {
                    let n = f64::from_bits(slot);
                    if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 {
                        map.serialize_field(name, &(n as i64))?;
                    } else {
                        map.serialize_field(name, &n)?;
                    }
                }
                Kind::Float => map.serialize_field(name, &f64::from_bits(slot))?,
                Kind::Boolean => map.serialize_field(name, &(slot != 0))?,
                Kind::String => {
                    let (offset, len) = ((slot & 0xffff_ffff) as usize, (slot >> 32) as usize);
                    let text = bytes
                        .get(offset..offset + len)
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .ok_or_else(|| serde::ser::Error::custom("the string on the tape is not UTF-8"))?;
                    map.serialize_field(name, text)?;
                }
            }
        }
        map.end()
    }
}

thread_local! {
    /// Names interned so far: each distinct name is leaked once, however
    /// many metrics use it.
    static NAMES: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// `name` as a `&'static str`, the same address for equal names.
fn intern(name: &str) -> &'static str {
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(known) = names.iter().find(|known| **known == name) {
            return *known;
        }
        let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
        names.push(leaked);
        leaked
    })
}
