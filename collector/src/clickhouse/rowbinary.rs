//! ClickHouse's RowBinary format, both ways: the rows the sink inserts and
//! the answers its queries read back.
//!
//! Written by hand: it is a few dozen lines (little-endian numbers, LEB128
//! lengths, a null flag before a `Nullable` value), and the `clickhouse`
//! crate that would do it checks a row's types against the server's, which
//! ClickHouse 18.16 cannot answer (the issue names it: `with_validation(false)`).

use crate::cells::Cell;
use crate::schema_map::ColumnKind;

/// Appends RowBinary values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An unsigned LEB128 length.
    fn len(&mut self, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    /// A `String`.
    pub fn string(&mut self, bytes: &[u8]) {
        self.len(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// An `Int64`.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `UInt64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `UInt32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A field cell in its column's type (`Nullable`, see
    /// [`super::column_type`]). NaN is written as NULL, as SQLite stores
    /// it, so that both stores answer the same.
    pub fn cell(&mut self, kind: ColumnKind, cell: Cell<'_>) -> Result<(), String> {
        match (kind, cell) {
            (_, Cell::Null) => self.buf.push(1),
            (ColumnKind::Real, Cell::Real(f)) if f.is_nan() => self.buf.push(1),
            (ColumnKind::Bool, Cell::Int(v)) => self.buf.extend_from_slice(&[0, u8::from(v != 0)]),
            (ColumnKind::Int, Cell::Int(v)) => {
                self.buf.push(0);
                self.i64(v);
            }
            (ColumnKind::Real, Cell::Real(f)) => {
                self.buf.push(0);
                self.buf.extend_from_slice(&f.to_le_bytes());
            }
            (ColumnKind::Real, Cell::Int(v)) => {
                self.buf.push(0);
                self.buf.extend_from_slice(&(v as f64).to_le_bytes());
            }
            (ColumnKind::Text | ColumnKind::Json, Cell::Text(b)) | (ColumnKind::Blob, Cell::Blob(b)) => {
                self.buf.push(0);
                self.string(b);
            }
            (kind, cell) => return Err(format!("internal: a {kind:?} column was given {cell:?}")),
        }
        Ok(())
    }
}

/// Reads RowBinary values from a query's answer.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

/// The answer ended inside a value, or a length did not fit.
#[derive(Debug, thiserror::Error)]
#[error("ClickHouse answered malformed RowBinary")]
pub struct Malformed;

impl<'a> Reader<'a> {
    /// Reads `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// True when every value has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            return Err(Malformed);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        self.take(N)?.try_into().map_err(|_| Malformed)
    }

    /// A `UInt8`.
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    /// An `Int64`.
    pub fn i64(&mut self) -> Result<i64, Malformed> {
        self.array().map(i64::from_le_bytes)
    }

    /// A `UInt64`.
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        self.array().map(u64::from_le_bytes)
    }

    /// A `UInt32`.
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        self.array().map(u32::from_le_bytes)
    }

    /// A `Float64`.
    pub fn f64(&mut self) -> Result<f64, Malformed> {
        self.array().map(f64::from_le_bytes)
    }

    /// A `String`.
    pub fn string(&mut self) -> Result<&'a [u8], Malformed> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                let n = usize::try_from(n).map_err(|_| Malformed)?;
                return self.take(n);
            }
        }
        Err(Malformed)
    }

    /// A `Nullable` field cell of `kind`, as [`Writer::cell`] wrote it.
    pub fn cell(&mut self, kind: ColumnKind) -> Result<Cell<'a>, Malformed> {
        if self.u8()? != 0 {
            return Ok(Cell::Null);
        }
        Ok(match kind {
            ColumnKind::Bool => Cell::Int(i64::from(self.u8()?)),
            ColumnKind::Int => Cell::Int(self.i64()?),
            ColumnKind::Real => Cell::Real(self.f64()?),
            ColumnKind::Text | ColumnKind::Json => Cell::Text(self.string()?),
            ColumnKind::Blob => Cell::Blob(self.string()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_back_as_written() {
        let cells = [
            (ColumnKind::Bool, Cell::Int(1)),
            (ColumnKind::Int, Cell::Int(i64::MIN)),
            (ColumnKind::Real, Cell::Real(-0.5)),
            (ColumnKind::Real, Cell::Real(f64::NAN)),
            (ColumnKind::Text, Cell::Text(&[b'x'; 300])),
            (ColumnKind::Blob, Cell::Blob(&[0, 255])),
            (ColumnKind::Json, Cell::Null),
        ];
        let mut w = Writer::default();
        for (kind, cell) in cells {
            w.cell(kind, cell).unwrap();
        }
        let mut r = Reader::new(&w.buf);
        for (kind, cell) in cells {
            let expected = match cell {
                Cell::Real(f) if f.is_nan() => Cell::Null,
                c => c,
            };
            assert_eq!(r.cell(kind).unwrap(), expected);
        }
        assert!(r.is_empty());
        // A 300-byte string's length takes two bytes.
        assert_eq!(w.buf.iter().filter(|&&b| b == b'x').count(), 300);
    }

    #[test]
    fn truncated_answers_are_malformed() {
        let mut w = Writer::default();
        w.string(b"hello");
        w.i64(7);
        for cut in 0..w.buf.len() {
            let mut r = Reader::new(&w.buf[..cut]);
            assert!(r.string().and_then(|_| r.i64()).is_err(), "cut at {cut}");
        }
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.string().is_err(), "a length past 64 bits");
    }

    #[test]
    fn a_cell_of_another_kind_is_refused() {
        assert!(Writer::default().cell(ColumnKind::Int, Cell::Text(b"1")).is_err());
    }
}
