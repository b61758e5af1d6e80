//! Text without `core::fmt` or `core::str`'s fast paths, for the browser
//! build: linking `core::fmt` costs that build some 10 KB, and
//! `core::str::from_utf8`'s word-at-a-time loop 0.6 KB, for strings of a
//! few dozen bytes.

use alloc::string::String;

/// Appends `n` in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// Whether `bytes` are UTF-8: shortest forms, no surrogates, nothing past
/// U+10FFFF (what `core::str::from_utf8` accepts, checked a character at a
/// time).
pub fn is_utf8(bytes: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&lead) = bytes.get(i) {
        let (len, bits, min) = match lead {
            0..=0x7f => (1, lead, 0),
            0xc0..=0xdf => (2, lead & 0x1f, 0x80),
            0xe0..=0xef => (3, lead & 0x0f, 0x800),
            0xf0..=0xf7 => (4, lead & 0x07, 0x1_0000),
            _ => return false,
        };
        let mut code = u32::from(bits);
        for k in 1..len {
            match bytes.get(i + k) {
                Some(&next) if next & 0xc0 == 0x80 => code = code << 6 | u32::from(next & 0x3f),
                _ => return false,
            }
        }
        if code < min || char::from_u32(code).is_none() {
            return false;
        }
        i += len;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn is_utf8_agrees_with_core(bytes in proptest::collection::vec(any::<u8>(), 0..40), text in ".{0,20}") {
            prop_assert_eq!(is_utf8(&bytes), core::str::from_utf8(&bytes).is_ok());
            prop_assert!(is_utf8(text.as_bytes()));
        }
    }

    #[test]
    fn is_utf8_refuses_what_is_not() {
        for bad in [&b"\xc0\x80"[..], b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xff"] {
            assert!(!is_utf8(bad), "{bad:?}");
        }
        assert!(is_utf8("é✓😀".as_bytes()));
    }

    #[test]
    fn decimal() {
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, alloc::format!("{n}"));
        }
    }
}
