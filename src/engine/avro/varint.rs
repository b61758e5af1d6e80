//! Avro's zig-zag variable-length integers.

use alloc::vec::Vec;

/// Appends `value` as a zig-zag varint (Avro `int` and `long`).
#[inline(always)]
pub fn put_long(out: &mut Vec<u8>, value: i64) {
    put_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends a non-negative length or count.
#[inline(always)]
pub fn put_len(out: &mut Vec<u8>, len: usize) {
    put_long(out, len as i64);
}

#[inline(always)]
fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    if v < 1 << 56 {
        // Up to 8 bytes: assemble them in a word, append the whole word (one
        // fixed-size store) and cut it back. Byte pushes paid a capacity
        // check each, and copying a variable-length slice called `memmove`.
        // (A branchless spread of the 7-bit groups measured slower.)
        let mut word = 0u64;
        let mut shift = 0;
        while v >= 0x80 {
            word |= ((v & 0x7f) | 0x80) << shift;
            v >>= 7;
            shift += 8;
        }
        word |= v << shift;
        let len = out.len() + shift / 8 + 1;
        out.extend_from_slice(&word.to_le_bytes());
        out.truncate(len);
        return;
    }
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

    /// The word-at-a-time writer against the plain byte loop, at every length.
    #[test]
    fn every_length_matches_the_byte_loop() {
        let mut values = vec![0u64, 1, 0x7f, 0x80, 0x3fff, 0x4000, u64::MAX >> 8, (1 << 56) - 1, 1 << 56, u64::MAX];
        for bits in 0..64 {
            values.extend([1u64 << bits, (1u64 << bits) - 1, (1u64 << bits) + 1]);
        }
        for v in values {
            let (mut fast, mut slow) = (vec![9], vec![9]);
            put_unsigned(&mut fast, v);
            let mut x = v;
            while x >= 0x80 {
                slow.push((x as u8) | 0x80);
                x >>= 7;
            }
            slow.push(x as u8);
            assert_eq!(fast, slow, "{v:#x}");
        }
    }
}
