//! Bounds-checked reading of Avro primitives from untrusted bytes.

use alloc::format;

use super::error::DecodeError;
use super::varint::get_long;

/// Reads Avro primitives from a byte slice, tracking the offset for errors.
pub(crate) struct Reader<'de> {
    pub input: &'de [u8],
    total: usize,
    /// How many more items of zero width (see [`Reader::block`]) this input
    /// may still announce.
    zero_width_left: u64,
}

/// Items of zero width one input may hold in all: they take no bytes, so the
/// input's size cannot bound them, and each costs a decoded value.
pub(crate) const MAX_ZERO_WIDTH_ITEMS: u64 = 1 << 20;

impl<'de> Reader<'de> {
    pub fn new(input: &'de [u8]) -> Self {
        Reader { input, total: input.len(), zero_width_left: MAX_ZERO_WIDTH_ITEMS }
    }

    pub fn offset(&self) -> usize {
        self.total - self.input.len()
    }

    pub fn error(&self, message: impl Into<alloc::string::String>) -> DecodeError {
        DecodeError { offset: self.offset(), message: message.into() }
    }

    // Inlined natively: decoding containerMetrics into its struct went from
    // 95 to 73 ns/row (`benches/encode.rs`). Not in wasm, where these are
    // used by the subscription decoder and inlining cost 0.6 KB gzip.
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub fn long(&mut self) -> Result<i64, DecodeError> {
        get_long(&mut self.input).ok_or_else(|| self.error("truncated or overlong variable-length integer"))
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub fn int(&mut self) -> Result<i32, DecodeError> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| self.error(format!("{v} is out of range for an int")))
    }

    /// A length or count that must fit in what is left of the input
    /// (`unit` bytes per element at least).
    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub fn len(&mut self) -> Result<usize, DecodeError> {
        let v = self.long()?;
        if v < 0 || v as u64 > self.input.len() as u64 {
            return Err(
                self.error(format!("length {v} is negative or longer than the {} bytes left", self.input.len()))
            );
        }
        Ok(v as usize)
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub fn bytes(&mut self, n: usize) -> Result<&'de [u8], DecodeError> {
        if n > self.input.len() {
            return Err(self.error(format!("{n} bytes needed, {} left", self.input.len())));
        }
        let (head, tail) = self.input.split_at(n);
        self.input = tail;
        Ok(head)
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub fn bytes_with_len(&mut self) -> Result<&'de [u8], DecodeError> {
        let n = self.len()?;
        self.bytes(n)
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline)]
    pub fn str(&mut self) -> Result<&'de str, DecodeError> {
        let at = self.offset();
        let bytes = self.bytes_with_len()?;
        core::str::from_utf8(bytes).map_err(|_| DecodeError { offset: at, message: "string is not UTF-8".into() })
    }

    pub fn boolean(&mut self) -> Result<bool, DecodeError> {
        match self.bytes(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.error(format!("boolean byte {b} is neither 0 nor 1"))),
        }
    }

    pub fn float(&mut self) -> Result<f32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn double(&mut self) -> Result<f64, DecodeError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// An index below `count` (enum symbol, union branch).
    pub fn index(&mut self, count: usize, what: &str) -> Result<usize, DecodeError> {
        let v = self.long()?;
        if v < 0 || v as u64 >= count as u64 {
            return Err(self.error(format!("{what} index {v} is outside 0..{count}")));
        }
        Ok(v as usize)
    }

    /// The item count of the next array or map block; 0 ends the value.
    /// Counts are bounded so that hostile input cannot make a reader loop
    /// or allocate far beyond its size: an item takes one byte at least, so
    /// a count cannot exceed the bytes left, except for items of zero width
    /// (`zero_width`: null, fixed of size 0, records of such fields), which
    /// draw on a budget of [`MAX_ZERO_WIDTH_ITEMS`] for the whole input.
    pub fn block(&mut self, zero_width: bool) -> Result<usize, DecodeError> {
        let count = self.long()?;
        let count = if count < 0 {
            let _byte_size = self.long()?;
            count.unsigned_abs()
        } else {
            count as u64
        };
        if zero_width {
            if count > self.zero_width_left {
                return Err(self.error(format!(
                    "block of {count} zero-width items is beyond the limit of {MAX_ZERO_WIDTH_ITEMS} per input"
                )));
            }
            self.zero_width_left -= count;
        } else if count > self.input.len() as u64 {
            return Err(
                self.error(format!("block of {count} items is implausible for the {} bytes left", self.input.len()))
            );
        }
        Ok(count as usize)
    }
}
