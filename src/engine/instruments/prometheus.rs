//! The Prometheus text exposition format (version 0.0.4) of a registry's
//! instruments, with cumulative values as Prometheus expects whatever the
//! registry exports: counters as `<name>_total`, up-down counters and
//! gauges as gauges, histograms as `_bucket`/`_sum`/`_count` (an
//! exponential histogram's buckets become `le` bounds at its bucket
//! bounds), summaries with their quantiles.
//!
//! Written for speed: each series' text is made when the series is (and
//! kept with the other series' texts of its instrument, read in order),
//! numbers go through `ryu` and `itoa` rather than `core::fmt`, and a
//! line's whole number is written in place.

use alloc::string::String;

use super::labels::LabelSet;
use super::registry::Registry;
use super::table::Table;
use super::{Kind, Value, lower_bound, rows};

/// `name` with what Prometheus does not take in a metric name (`.`, `-`) as `_`.
fn push_name(out: &mut String, name: &str) {
    out.extend(name.chars().map(|c| if c == '.' || c == '-' { '_' } else { c }));
}

fn push_escaped(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// `v` as a whole number, if it is one that is not negative and under
/// 2^63: a counter's value, the usual number. (Not NaN, an infinity or a
/// fraction, which do not convert back exactly; 2^63 and up saturate the
/// cast.) Through i64: x86_64 converts between f64 and i64 in one
/// instruction each, and between f64 and u64 in a dozen (28 of the 236
/// instructions of a line, by callgrind).
#[inline(always)]
fn whole_under_2_63(v: f64) -> Option<u64> {
    let whole = v as i64;
    (whole as f64 == v && whole >= 0 && v < 9_223_372_036_854_775_808.0).then_some(whole as u64)
}

/// A number as Prometheus reads it: integers in digits, others shortest.
pub fn push_number(out: &mut String, v: f64) {
    if let Some(whole) = whole_under_2_63(v) {
        out.push_str(itoa::Buffer::new().format(whole));
    } else if (9_223_372_036_854_775_808.0..18_446_744_073_709_551_616.0).contains(&v) && (v as u64) as f64 == v {
        out.push_str(itoa::Buffer::new().format(v as u64));
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if let Some(whole) = super::state::small_whole(v) {
        // A negative whole number (the others took the first branch).
        out.push_str(itoa::Buffer::new().format(whole));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

/// Two decimal digits of every number under 100.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Powers of ten from 10^0 to 10^19.
const POWERS_OF_TEN: [u64; 20] = {
    let mut powers = [1; 20];
    let mut i = 1;
    while i < 20 {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

/// How many decimal digits `n` has: its bit length times log10(2) (as
/// 1233 / 4096, rounded down), which is that or one less, and one more
/// where `n` reaches the next power of ten. (`ilog10` took 21
/// instructions for a 5-digit number, by callgrind; this takes 7.)
#[inline]
fn decimal_len(n: u64) -> usize {
    let bits = 64 - (n | 1).leading_zeros() as usize;
    let guess = (bits * 1233) >> 12;
    guess + usize::from((n | 1) >= POWERS_OF_TEN[guess])
}

/// Writes the decimal digits of `n` into the end of `out`, which is as
/// long as they are: four at a time from the last, as `itoa` does.
#[inline(always)]
fn write_digits(out: &mut [u8], mut n: u64) {
    let pair = |n: u64| {
        let at = n as usize * 2;
        [DIGIT_PAIRS[at], DIGIT_PAIRS[at + 1]]
    };
    let mut rest = out;
    while n >= 10_000 {
        let four = n % 10_000;
        n /= 10_000;
        let Some((head, last)) = rest.split_last_chunk_mut::<4>() else { return };
        let ([a, b], [c, d]) = (pair(four / 100), pair(four % 100));
        *last = [a, b, c, d];
        rest = head;
    }
    if n >= 100 {
        let Some((head, last)) = rest.split_last_chunk_mut::<2>() else { return };
        *last = pair(n % 100);
        n /= 100;
        rest = head;
    }
    if n >= 10 {
        if let Some(last) = rest.last_chunk_mut::<2>() {
            *last = pair(n);
        }
    } else if let Some(last) = rest.last_mut() {
        *last = b'0' + n as u8;
    }
}

/// How many bytes of a series' text and what follows it
/// [`push_line`] copies at once (see [`super::table::Texts`]).
pub(super) const WINDOW: usize = 96;

/// Appends a counter's or gauge's sample line: its text up to the value,
/// the value, and a newline.
///
/// Written for the usual line, a whole number after a text of up to 76
/// bytes: `window`, the text's bytes and those after them, is copied
/// whole (a copy of a length known when compiling, inlined: the text's own
/// length made it a call to `memcpy`), and the number's digits and the
/// newline are written over what followed the text, then the rest cut
/// off. By callgrind, a line of the bench's 100,000 (46 bytes of text, a
/// number of 5 digits) took 193 instructions with the text and the
/// number's room appended apart, and takes 140 this way (with the loop of
/// its own, [`push_lines`]). Other lines append the text, then the number
/// through [`push_number`].
#[inline(always)]
fn push_line(out: &mut String, line: &str, window: Option<&[u8; WINDOW]>, v: f64) {
    let (Some(window), Some(whole)) = (window, whole_under_2_63(v)) else {
        return push_line_otherwise(out, line, v);
    };
    // The longest number here, 19 digits (under 2^63), and the newline
    // fit after the text.
    if window.as_ptr() != line.as_ptr() || line.len() > WINDOW - 20 {
        return push_line_otherwise(out, line, v);
    }
    let len = decimal_len(whole);
    #[allow(unsafe_code)]
    // SAFETY: `window` starts where `line` does (checked above), so what
    // is appended starts with the line's bytes, valid UTF-8. The bytes
    // after them are overwritten with ASCII digits and a newline, and what
    // follows those is cut off, before the string is used again:
    // - the room is there (the text is at most 76 bytes, the number at
    //   most 19 digits), and if it were not, the append is cut off whole;
    // - `len` is the number's exact count of digits (tested at every
    //   power of ten and of two), and `write_digits` writes every byte of
    //   the slice it is given.
    // Nothing in between panics: the append reserves before it writes, and
    // `write_digits` reads its table only at twice a number under 100.
    let bytes = unsafe { out.as_mut_vec() };
    let start = bytes.len();
    let at = start + line.len();
    bytes.extend_from_slice(window);
    let Some((newline, digits)) = bytes.get_mut(at..at + len + 1).and_then(|room| room.split_last_mut()) else {
        bytes.truncate(start);
        return push_line_otherwise(out, line, v);
    };
    write_digits(digits, whole);
    *newline = b'\n';
    bytes.truncate(at + len + 1);
}

/// A line that [`push_line`] does not copy whole: out of line, to keep
/// that small enough to inline.
#[cold]
#[inline(never)]
fn push_line_otherwise(out: &mut String, line: &str, v: f64) {
    out.push_str(line);
    push_number(out, v);
    out.push('\n');
}

/// The exposition's name of an instrument (`.` and `-` as `_`), and the
/// suffix of a counter's samples.
fn names(descriptor: &super::Descriptor) -> (String, &'static str) {
    let mut name = String::new();
    push_name(&mut name, &descriptor.name);
    let suffix = if descriptor.kind == Kind::Counter && !name.ends_with("_total") { "_total" } else { "" };
    (name, suffix)
}

/// Whether each series of `kind` makes one sample line (counters,
/// up-down counters, gauges) rather than several.
fn one_line(kind: Kind) -> bool {
    matches!(kind, Kind::Counter | Kind::UpDownCounter | Kind::Gauge)
}

/// Appends what the exposition writes of a series of `descriptor`'s
/// instrument, made once: a counter's or gauge's sample line up to its
/// value, `name{k="v",k2="v2"} ` (`name ` without labels), or only the
/// labels, `k="v",k2="v2"`, for the other kinds (whose lines vary).
pub(super) fn push_series_text(out: &mut String, descriptor: &super::Descriptor, labels: &LabelSet) {
    let line = one_line(descriptor.kind);
    if line {
        let (name, suffix) = names(descriptor);
        out.push_str(&name);
        out.push_str(suffix);
        if !labels.is_empty() {
            out.push('{');
        }
    }
    for (i, (key, value)) in labels.pairs().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_name(out, key);
        out.push_str("=\"");
        push_escaped(out, value, true);
        out.push('"');
    }
    if line {
        if !labels.is_empty() {
            out.push('}');
        }
        out.push(' ');
    }
}

/// One sample line: `name{labels,extra} value`.
fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, extra: Option<(&str, f64)>, v: f64) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some((key, bound)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str(key);
            out.push_str("=\"");
            push_number(out, bound);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    push_number(out, v);
    out.push('\n');
}

/// Appends the exposition of every instrument of `registry` to `out`.
pub fn render(registry: &Registry, out: &mut String) {
    for instrument in registry.instruments() {
        let d = instrument.descriptor();
        let (name, suffix) = names(d);
        let kind = match d.kind {
            Kind::Counter => "counter",
            Kind::UpDownCounter | Kind::Gauge => "gauge",
            Kind::Histogram | Kind::ExponentialHistogram => "histogram",
            Kind::Summary => "summary",
        };
        if !d.description.is_empty() {
            out.push_str("# HELP ");
            out.push_str(&name);
            out.push_str(suffix);
            out.push(' ');
            push_escaped(out, &d.description, false);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        out.push_str(&name);
        out.push_str(suffix);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
        instrument.expose(|table| {
            if one_line(d.kind) {
                push_lines(out, table);
            } else {
                table.each_text(|series, labels, _| {
                    push_samples(out, d, &name, labels, &series.value_so_far());
                });
                if let Some(overflow) = table.overflow() {
                    push_samples(out, d, &name, table.overflow_text(), &overflow.value_so_far());
                }
            }
        });
    }
}

/// Appends the sample line of every series of a counter, up-down counter
/// or gauge: its text, made once, and its value. The most of a large
/// exposition, hence a loop of its own, with [`push_line`] inlined.
fn push_lines(out: &mut String, table: &Table) {
    table.each_text(|series, line, window| {
        if let Some(v) = series.scalar() {
            push_line(out, line, window, v);
        }
    });
    if let Some(v) = table.overflow().and_then(|overflow| overflow.scalar()) {
        push_line(out, table.overflow_text(), None, v);
    }
}

/// Appends the samples of one series of `descriptor`'s instrument.
#[inline(never)]
fn push_samples(out: &mut String, d: &super::Descriptor, name: &str, labels: &str, value: &Value) {
    match value {
        // Not reached: the kinds with one line go through `push_lines`
        // (and `labels` would be their whole line's text).
        Value::Sum(_) | Value::Gauge(_) => debug_assert!(false, "a one-line kind's value in push_samples"),
        Value::Histogram(h) => {
            let mut cumulative = 0;
            for (bound, n) in d.bounds.iter().zip(&h.counts) {
                cumulative += n;
                sample(out, name, "_bucket", labels, Some(("le", *bound)), cumulative as f64);
            }
            sample(out, name, "_bucket", labels, Some(("le", f64::INFINITY)), h.count as f64);
            sample(out, name, "_sum", labels, None, h.sum);
            sample(out, name, "_count", labels, None, h.count as f64);
        }
        Value::Exponential(h) => {
            // Negative buckets from the most negative, then zero, then positive.
            let mut cumulative = 0;
            for (k, n) in h.negative.counts.iter().enumerate().rev() {
                cumulative += n;
                let bound = -lower_bound(h.negative.offset + k as i32, h.scale);
                sample(out, name, "_bucket", labels, Some(("le", bound)), cumulative as f64);
            }
            cumulative += h.zero_count;
            sample(out, name, "_bucket", labels, Some(("le", 0.0)), cumulative as f64);
            for (k, n) in h.positive.counts.iter().enumerate() {
                cumulative += n;
                let bound = lower_bound(h.positive.offset + k as i32 + 1, h.scale);
                sample(out, name, "_bucket", labels, Some(("le", bound)), cumulative as f64);
            }
            sample(out, name, "_bucket", labels, Some(("le", f64::INFINITY)), h.count as f64);
            sample(out, name, "_sum", labels, None, h.sum);
            sample(out, name, "_count", labels, None, h.count as f64);
        }
        Value::Summary(s) => {
            for q in rows::QUANTILES {
                sample(out, name, "", labels, Some(("quantile", q)), s.quantile(q));
            }
            sample(out, name, "_sum", labels, None, s.sum);
            sample(out, name, "_count", labels, None, s.count as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn lines_are_written_as_core_writes_their_numbers() {
        // Every length and every bit length, either side of each change.
        let mut numbers: Vec<u64> = (0..=10_000).collect();
        for power in POWERS_OF_TEN {
            numbers.extend([power - 1, power, power + 1]);
        }
        for bits in 1..64 {
            numbers.extend([(1 << bits) - 1, 1 << bits, (1 << bits) + 1]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            numbers.push(x >> (x % 64));
        }
        // A line's window runs into what follows it: here two-byte
        // characters, which the digits cut.
        let texts = format!("line {}{}", "é".repeat(60), " ".repeat(WINDOW));
        let (line, window) = (&texts[..5], texts.as_bytes().first_chunk());
        let elsewhere = [b'!'; WINDOW];
        // The longest line with room for 19 digits and a newline, and one
        // byte longer.
        let longest = format!("{}{}", "x".repeat(WINDOW - 20), " ".repeat(WINDOW));
        let (longest, longest_window) = (&longest[..WINDOW - 20], longest.as_bytes().first_chunk());
        let long = format!("{}{}", "y".repeat(WINDOW - 19), " ".repeat(WINDOW));
        let (long, long_window) = (&long[..WINDOW - 19], long.as_bytes().first_chunk());
        for n in numbers {
            let v = n as f64;
            if v >= 9_223_372_036_854_775_808.0 {
                continue;
            }
            let mut out = String::from("before ");
            push_line(&mut out, line, window, v);
            assert_eq!(out, format!("before line {}\n", v as u64), "{n}");
            // Copied whole or not: without a window, with one that is not
            // the line's, and lines at and past the window's room.
            out.clear();
            push_line(&mut out, line, None, v);
            push_line(&mut out, line, Some(&elsewhere), v);
            push_line(&mut out, longest, longest_window, v);
            push_line(&mut out, long, long_window, v);
            assert_eq!(out, format!("line {v}\nline {v}\n{longest}{v}\n{long}{v}\n", v = v as u64), "{n}");
        }
        let mut out = String::new();
        for (v, text) in [
            (-0.0, "line 0\n"),
            (2.5, "line 2.5\n"),
            (-3.0, "line -3\n"),
            (9_223_372_036_854_775_808.0, "line 9223372036854775808\n"),
        ] {
            out.clear();
            push_line(&mut out, line, window, v);
            assert_eq!(out, text);
        }
    }
}
