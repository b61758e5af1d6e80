//! Decimal text of `f64`: the JSON reader's numbers, and the values in
//! error messages.
//!
//! Natively this is core's `str::parse::<f64>` and `Display`. In the wasm
//! build the JavaScript engine does both: core's correctly rounded parser
//! (with its 10 KB table of powers of five) and its shortest-digits printer
//! (Grisu with the Dragon fallback and their tables) cost the default build
//! 22 KB gzip, a fifth of it (measured: 14.9 KB for parsing, 7.2 KB for
//! printing). The results are the same: `Number(text)` is correctly
//! rounded as well, and `String(x)` writes the same shortest round-trip
//! digits as `Display`, which [`relayout`] puts into `Display`'s form (no
//! exponent, `inf`, `-0`). One difference, in messages only: when two
//! 17-digit texts are equally near the value, JavaScript picks the even
//! last digit and core the higher one (1939813370072955.25 is written
//! `…955.2` here, `…955.3` natively; both read back as the same double).
//! Checked on 200,000 random doubles in Node: 46 such ties, no other
//! difference.

use core::fmt;

/// `text` (what the JSON reader took for a number: ASCII digits, `-`, `+`,
/// `.`, `e`, `E`) as an `f64`, or `None` if it is not a number.
pub(crate) fn parse(text: &str) -> Option<f64> {
    #[cfg(all(feature = "wasm", target_arch = "wasm32"))]
    {
        // Of that alphabet, Number() and Rust accept the same texts (both
        // take "1.", ".5", "00.5" and "1.e5"; neither "-", "1e" nor "1e+"),
        // except "", which Number() reads as 0 and the reader never passes.
        let x = js::number(text);
        (!x.is_nan() && !text.is_empty()).then_some(x)
    }
    #[cfg(not(all(feature = "wasm", target_arch = "wasm32")))]
    {
        text.parse().ok()
    }
}

/// Writes the `f64` as `Display` does.
pub(crate) struct Text(pub f64);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(all(feature = "wasm", target_arch = "wasm32"))]
        {
            relayout(&js::string(self.0), self.0, f)
        }
        #[cfg(not(all(feature = "wasm", target_arch = "wasm32")))]
        {
            fmt::Display::fmt(&self.0, f)
        }
    }
}

#[cfg(all(feature = "wasm", target_arch = "wasm32"))]
mod js {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// `Number(text)`.
        #[wasm_bindgen(js_name = Number)]
        pub(super) fn number(text: &str) -> f64;
        /// `String(x)`.
        #[wasm_bindgen(js_name = String)]
        pub(super) fn string(x: f64) -> String;
    }
}

/// Writes `js`, JavaScript's text of `x` (`1.5`, `1e+21`, `1.5e-7`,
/// `Infinity`, `NaN`; `0` for -0), in `Display`'s form: the same digits,
/// never an exponent.
#[cfg_attr(not(all(feature = "wasm", target_arch = "wasm32")), allow(dead_code))]
fn relayout(js: &str, x: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (sign, rest) = match js.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None if x == 0.0 && x.is_sign_negative() => ("-", js),
        None => ("", js),
    };
    f.write_str(sign)?;
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return f.write_str(if rest == "Infinity" { "inf" } else { rest });
    }
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.trim_start_matches('+').parse::<i32>().unwrap_or(0)),
        None => (rest, 0),
    };
    // Byte searches here and in the schema's names: core's memchr is 0.6 KB of wasm code.
    let (int, frac) = match mantissa.bytes().position(|b| b == b'.') {
        Some(dot) => (mantissa.get(..dot).unwrap_or_default(), mantissa.get(dot + 1..).unwrap_or_default()),
        None => (mantissa, ""),
    };
    // The value is 0.`digits` times 10^`point`.
    let mut point = int.len() as i32 + exponent;
    let mut digits = [0u8; 40];
    let mut len = 0;
    for &b in int.as_bytes().iter().chain(frac.as_bytes()) {
        if len == 0 && b == b'0' {
            point -= 1;
        } else if len < digits.len() {
            digits[len] = b;
            len += 1;
        }
    }
    while len > 0 && digits[len - 1] == b'0' {
        len -= 1;
    }
    let digits = core::str::from_utf8(&digits[..len]).unwrap_or_default();
    let zeros = |f: &mut fmt::Formatter<'_>, n: i32| (0..n).try_for_each(|_| f.write_str("0"));
    if digits.is_empty() {
        f.write_str("0")
    } else if point <= 0 {
        f.write_str("0.")?;
        zeros(f, -point)?;
        f.write_str(digits)
    } else if point as usize >= digits.len() {
        f.write_str(digits)?;
        zeros(f, point - digits.len() as i32)
    } else {
        let (a, b) = digits.split_at_checked(point as usize).unwrap_or((digits, ""));
        f.write_str(a)?;
        f.write_str(".")?;
        f.write_str(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;

    struct Js<'a>(&'a str, f64);
    impl fmt::Display for Js<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            relayout(self.0, self.1, f)
        }
    }

    /// JavaScript's `String(x)`: Rust's shortest digits, with an exponent
    /// from 1e21 up and below 1e-6.
    fn js_string(x: f64) -> String {
        if x.is_nan() {
            return "NaN".into();
        }
        if x.is_infinite() {
            return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
        }
        if x == 0.0 {
            return "0".into();
        }
        if x.abs() >= 1e21 || x.abs() < 1e-6 {
            let e = format!("{x:e}");
            let (m, exp) = e.split_once('e').unwrap();
            if exp.starts_with('-') { format!("{m}e{exp}") } else { format!("{m}e+{exp}") }
        } else {
            format!("{x}")
        }
    }

    #[test]
    fn javascript_text_is_laid_out_as_display() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            0.30000000000000004,
            123.456,
            1e-6,
            1e-7,
            -1.5e-7,
            9.223372036854776e18,
            1e20,
            1e21,
            -1.2345e22,
            1.7976931348623157e308,
            5e-324,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            2f64.powi(70),
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(f64::from_bits(state));
        }
        for x in values {
            let js = js_string(x);
            assert_eq!(format!("{}", Js(&js, x)), format!("{x}"), "{js}");
            assert_eq!(format!("{}", Text(x)), format!("{x}"));
        }
        // Other spellings of the exponent.
        assert_eq!(format!("{}", Js("1.25E3", 1250.0)), "1250");
        assert_eq!(format!("{}", Js("1.25e-3", 0.00125)), "0.00125");
    }

    #[test]
    fn parses_what_rust_parses() {
        for text in ["1", "-1.5", "1.", "-.5", "00.5", "1.e5", "1e400", "-", "1e", "1e+", "1.5.5", "--1", "1e-400"] {
            assert_eq!(parse(text).map(f64::to_bits), text.parse::<f64>().ok().map(f64::to_bits), "{text}");
        }
    }
}
