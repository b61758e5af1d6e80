//! Avro's zig-zag variable-length integers.

use alloc::vec::Vec;

// How the writers below were chosen, on `benches/encode.rs` (ns per
// containerMetrics row, against the same run's byte loop):
// - All of them assemble the bytes in a word and append the whole word (one
//   fixed-size store), then cut it back. Byte pushes paid a capacity check
//   each, and copying a variable-length slice called `memmove`.
// - They check for room for a word first, so that the common path makes no
//   call and saves no registers; `Vec` grows on the cold path (27.1 -> 23.1).
// - An `int` has at most 5 groups of 7 bits: spreading them with fixed
//   shifts beats a loop whose shifts depend on each other (23.1 -> 21.6).
//   For a `long` and a length the loop stays: spreading 8 groups measured
//   slower (17.6 against 14.6 ns for three longs), and lengths are mostly
//   one byte.

/// Appends `value` as a zig-zag varint (Avro `int` and `long`).
#[inline(always)]
pub fn put_long(out: &mut Vec<u8>, value: i64) {
    put_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends a 32-bit `value` as a zig-zag varint: the same bytes as
/// [`put_long`], in fewer steps.
#[inline(always)]
pub fn put_int(out: &mut Vec<u8>, value: i32) {
    let v = ((value << 1) ^ (value >> 31)) as u32 as u64;
    let len = out.len();
    if out.capacity() - len < 8 {
        return put_unsigned_slow(out, v);
    }
    let spread =
        (v & 0x7f) | (v << 1 & 0x7f00) | (v << 2 & 0x7f_0000) | (v << 3 & 0x7f00_0000) | (v << 4 & 0xf_0000_0000);
    let extra = (v | 1).ilog2() as usize / 7;
    let continued = 0x8080_8080u64 & ((1u64 << (8 * extra)) - 1);
    out.extend_from_slice(&(spread | continued).to_le_bytes());
    out.truncate(len + extra + 1);
}

/// Appends a non-negative length or count.
#[inline(always)]
pub fn put_len(out: &mut Vec<u8>, len: usize) {
    // The zig-zag form of a non-negative number is twice it.
    put_unsigned(out, (len as u64) << 1);
}

#[inline(always)]
fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    let start = out.len();
    if v >= 1 << 56 || out.capacity() - start < 8 {
        return put_unsigned_slow(out, v);
    }
    let mut word = 0u64;
    let mut shift = 0;
    while v >= 0x80 {
        word |= ((v & 0x7f) | 0x80) << shift;
        v >>= 7;
        shift += 8;
    }
    word |= v << shift;
    out.extend_from_slice(&word.to_le_bytes());
    out.truncate(start + shift / 8 + 1);
}

#[cold]
#[inline(never)]
fn put_unsigned_slow(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a zig-zag varint of at most 10 bytes; `None` when the input ends
/// first or the value overflows 64 bits.
#[inline]
pub fn get_long(input: &mut &[u8]) -> Option<i64> {
    let mut value: u64 = 0;
    for (i, &b) in input.iter().enumerate().take(10) {
        if i == 9 && b > 1 {
            return None;
        }
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            *input = &input[i + 1..];
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges() {
        for v in [0i64, -1, 1, 63, -64, 64, i32::MAX as i64, i32::MIN as i64, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put_long(&mut out, v);
            let mut input = out.as_slice();
            assert_eq!(get_long(&mut input), Some(v));
            assert!(input.is_empty());
        }
        let mut out = Vec::new();
        put_long(&mut out, -3);
        put_long(&mut out, 300);
        assert_eq!(out, [0x05, 0xd8, 0x04]);
    }

    #[test]
    fn refuses_truncated_and_overlong() {
        assert_eq!(get_long(&mut &[0x80u8][..]), None);
        assert_eq!(get_long(&mut &[0xffu8; 10][..]), None);
        assert_eq!(get_long(&mut &[0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..]), None);
    }
}

#[cfg(test)]
mod word_tests {
    use super::*;

    fn byte_loop(mut v: u64) -> Vec<u8> {
        let mut out = vec![9];
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    }

    /// The word-at-a-time writers against the plain byte loop, at every
    /// length, into a buffer with room for a word and into one without.
    #[test]
    fn every_length_matches_the_byte_loop() {
        let mut values = vec![0u64, 1, 0x7f, 0x80, 0x3fff, 0x4000, u64::MAX >> 8, (1 << 56) - 1, 1 << 56, u64::MAX];
        for bits in 0..64 {
            values.extend([1u64 << bits, (1u64 << bits) - 1, (1u64 << bits) + 1]);
        }
        for v in values {
            let expected = byte_loop(v);
            let zigzag_decoded = ((v >> 1) as i64) ^ -((v & 1) as i64);
            for room in [0, 64] {
                let mut out = Vec::with_capacity(1 + room);
                out.push(9);
                put_long(&mut out, zigzag_decoded);
                assert_eq!(out, expected, "put_long {zigzag_decoded}");
                if v & 1 == 0 {
                    out.truncate(1);
                    put_len(&mut out, (v >> 1) as usize);
                    assert_eq!(out, expected, "put_len {}", v >> 1);
                }
                if let Ok(int) = i32::try_from(zigzag_decoded) {
                    out.truncate(1);
                    put_int(&mut out, int);
                    assert_eq!(out, expected, "put_int {int}");
                }
            }
        }
    }
}
