//! Decoding a chunk's rows with apache-avro, a group at a time, into the
//! cells they are stored as.
//!
//! The bytes were walked first ([`crate::scan`]), so they hold exactly the
//! rows declared and nothing the decoder could blow up on. Each group of
//! rows (about [`crate::scan::GROUP_VALUES`] values) is decoded in one call
//! and turned into cells at once, so no more than one group's `Value` trees
//! exist at a time. The cells are charged to the request's in-flight
//! [`Ticket`] as they grow.

use apache_avro::types::Value;

use crate::cells::{CellError, Cells};
use crate::config::Limits;
use crate::inflight::{Held, Ticket};
use crate::scan::Group;
use crate::schema_map::ColumnKind;
use crate::validate::{ParsedSchema, Rejection};

/// Decodes the rows group by group and turns each into cells at once;
/// returns them with what they hold of the in-flight budget.
pub fn decode(
    schema: &ParsedSchema,
    bytes: &[u8],
    groups: &[Group],
    limits: &Limits,
    ticket: Option<&Ticket>,
) -> Result<(Cells, Option<Held>), Rejection> {
    let kinds: Vec<(ColumnKind, &str)> = schema.columns.iter().map(|c| (c.kind, c.name.as_str())).collect();
    let mut cells = Cells::new(kinds.len(), 0, limits.max_stored_bytes_per_chunk);
    let mut held = match ticket {
        Some(ticket) => Some(ticket.hold(0).map_err(Rejection::from)?),
        None => None,
    };
    let mut charged = 0;
    let max_row_bytes = limits.max_row_bytes;
    let mut first_row = 0u64;
    for group in groups {
        let rows = decode_group(schema, &bytes[group.start..group.end], group.rows, first_row, group.start)?;
        for (i, row) in rows.into_iter().enumerate() {
            let at = first_row + i as u64;
            cells.push(row, &kinds, max_row_bytes).map_err(|e| match e {
                CellError::TooLarge { column } => Rejection::Limit(format!(
                    "row {at}, field {column:?}: the row takes more than {max_row_bytes} bytes once stored (--max-row-bytes)"
                )),
                CellError::ChunkTooLarge => Rejection::Limit(format!(
                    "row {at}: the chunk takes more than {} bytes once stored (--max-stored-bytes-per-chunk)",
                    limits.max_stored_bytes_per_chunk
                )),
                CellError::Shape(m) => Rejection::Invalid(format!("row {at}: {m}")),
            })?;
            // Charged as the buffer grows (it doubles, so a few times per chunk).
            if let (Some(ticket), Some(held)) = (ticket, held.as_mut())
                && cells.capacity() > charged
            {
                ticket.grow(held, cells.capacity() - charged).map_err(Rejection::from)?;
                charged = cells.capacity();
            }
        }
        first_row += group.rows;
    }
    Ok((cells, held))
}

/// A reader over a few byte slices in sequence that counts what it gave.
struct Chained<'a, const N: usize> {
    parts: [&'a [u8]; N],
    part: usize,
    pos: usize,
    consumed: usize,
}

impl<const N: usize> std::io::Read for Chained<'_, N> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.part < N && self.pos == self.parts[self.part].len() {
            self.part += 1;
            self.pos = 0;
        }
        if self.part == N {
            return Ok(0);
        }
        let rest = &self.parts[self.part][self.pos..];
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        self.consumed += n;
        Ok(n)
    }
}

/// Avro's zig-zag varint encoding of a long.
fn zigzag_varint(n: i64) -> Vec<u8> {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::with_capacity(10);
    loop {
        if v < 0x80 {
            out.push(v as u8);
            return out;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
}

/// The datums of `rows` rows with a block count in front and a 0 behind:
/// an Avro array of the record, which apache-avro decodes in one call (one
/// schema resolution for them all).
fn decode_rows(schema: &ParsedSchema, bytes: &[u8], rows: u64) -> Result<Vec<Value>, String> {
    let prefix = zigzag_varint(rows as i64);
    let mut reader = Chained { parts: [&prefix[..], bytes, &[0u8]], part: 0, pos: 0, consumed: 0 };
    match apache_avro::from_avro_datum(&schema.array, &mut reader, None) {
        Ok(Value::Array(decoded))
            if decoded.len() as u64 == rows && reader.consumed == prefix.len() + bytes.len() + 1 =>
        {
            Ok(decoded)
        }
        Ok(_) => Err(format!("apache-avro did not read them as {rows} rows")),
        Err(e) => Err(e.to_string()),
    }
}

/// Decodes one group of rows. What the scan does not check (a uuid's text,
/// a big decimal's encoding) can still fail here: then the failing row is
/// found by halving the group, each half decoded in one call, rather than
/// by decoding row by row (each call resolves the whole schema again).
fn decode_group(
    schema: &ParsedSchema,
    bytes: &[u8],
    rows: u64,
    first_row: u64,
    start: usize,
) -> Result<Vec<Value>, Rejection> {
    let first_error = match decode_rows(schema, bytes, rows) {
        Ok(decoded) => return Ok(decoded),
        Err(e) => e,
    };
    let ends = crate::scan::row_ends(&schema.plan, bytes, rows);
    let (mut lo, mut hi) = (0usize, ends.len());
    let mut error = first_error;
    let row_start = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match decode_rows(schema, &bytes[row_start(lo)..row_start(mid)], (mid - lo) as u64) {
            Err(e) => {
                error = e;
                hi = mid;
            }
            Ok(_) => lo = mid,
        }
    }
    if hi - lo == 1
        && let Err(e) = decode_rows(schema, &bytes[row_start(lo)..ends[lo]], 1)
    {
        error = e;
    }
    Err(Rejection::Invalid(format!(
        "Avro bytes are invalid in row {} (the row starts at byte {}): {error}",
        first_row + lo as u64,
        start + row_start(lo)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag() {
        assert_eq!(zigzag_varint(0), [0]);
        assert_eq!(zigzag_varint(1), [2]);
        assert_eq!(zigzag_varint(64), [0x80, 0x01]);
        assert_eq!(zigzag_varint(1_000_000), [0x80, 0x89, 0x7a]);
    }
}
