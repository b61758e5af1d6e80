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
use super::registry::{Registry, Total};
use super::table::SeriesText;
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

/// A number as Prometheus reads it: integers in digits, others shortest.
pub fn push_number(out: &mut String, v: f64) {
    // A counter's value, the usual number: whole, not negative, under
    // 2^63 (where the cast saturates), and exact when it converts back
    // (NaN, infinities and fractions do not). Through i64: x86_64 converts
    // between f64 and i64 in one instruction each, and between f64 and u64
    // in a dozen (28 of the 236 instructions of a line, by callgrind).
    let whole = v as i64;
    if whole as f64 == v && whole >= 0 && v < 9_223_372_036_854_775_808.0 {
        out.push_str(itoa::Buffer::new().format(whole as u64));
    } else if (9_223_372_036_854_775_808.0..18_446_744_073_709_551_616.0).contains(&v) && (v as u64) as f64 == v {
        out.push_str(itoa::Buffer::new().format(v as u64));
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.abs() < 9.007_199_254_740_992e15 && (v as i64) as f64 == v {
        // A negative whole number (the others took the first branch).
        out.push_str(itoa::Buffer::new().format(v as i64));
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

/// Appends a counter's or gauge's sample line: its text up to the
/// value, the value, and a newline. A whole number's digits are written
/// in place, in room of a fixed size cut back after: through `itoa`, its
/// digits and the newline were appended with a copy of a length known only
/// at run time (a call to `memcpy`), 58 of the 225 instructions of a line.
#[inline(always)]
fn push_line(out: &mut String, line: &str, v: f64) {
    out.push_str(line);
    let whole = v as i64;
    if !(whole as f64 == v && whole >= 0 && v < 9_223_372_036_854_775_808.0) {
        return push_number_line(out, v);
    }
    let len = decimal_len(whole as u64);
    #[allow(unsafe_code)]
    // SAFETY: only ASCII (digits and newlines) is written into what is
    // appended, and the string is cut back to a length at one of its bytes.
    let bytes = unsafe { out.as_mut_vec() };
    let at = bytes.len();
    bytes.extend_from_slice(&[b'\n'; 24]);
    write_digits(&mut bytes[at..at + len], whole as u64);
    bytes.truncate(at + len + 1);
}

/// The value and newline of a line whose value is not a whole number
/// under 2^63: out of line, to keep [`push_line`] small enough to inline.
#[cold]
#[inline(never)]
fn push_number_line(out: &mut String, v: f64) {
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

/// Appends what the exposition writes of a series of `descriptor`'s
/// instrument: a counter's or gauge's sample line up to its value,
/// `name{k="v",k2="v2"} ` (`name ` without labels), or only the labels,
/// `k="v",k2="v2"`, for the other kinds (whose lines vary). Returns the
/// length of the line's name for the kinds with a line.
pub(super) fn push_series_text(out: &mut String, descriptor: &super::Descriptor, labels: &LabelSet) -> Option<usize> {
    let line = matches!(descriptor.kind, Kind::Counter | Kind::UpDownCounter | Kind::Gauge);
    let name_len = line.then(|| {
        let (name, suffix) = names(descriptor);
        out.push_str(&name);
        out.push_str(suffix);
        if !labels.is_empty() {
            out.push('{');
        }
        name.len() + suffix.len()
    });
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
    name_len
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
        // A closure small enough to inline for the scalar kinds' lines,
        // most of a large exposition; the other kinds' samples out of line.
        instrument.expose(|text, total| match total {
            Total::Scalar(v) => push_line(out, text.line(), v),
            Total::Value(value) => push_samples(out, d, &name, text, value),
        });
    }
}

/// Appends the samples of one series of `descriptor`'s instrument.
#[inline(never)]
fn push_samples(out: &mut String, d: &super::Descriptor, name: &str, text: SeriesText<'_>, value: &Value) {
    let labels = text.labels();
    match value {
        Value::Sum(v) | Value::Gauge(v) => push_line(out, text.line(), *v),
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
    fn whole_numbers_are_written_in_place_as_core_writes_them() {
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
        for n in numbers {
            let v = n as f64;
            if v >= 9_223_372_036_854_775_808.0 {
                continue;
            }
            let mut out = String::from("line ");
            push_line(&mut out, "", v);
            assert_eq!(out, format!("line {}\n", v as u64), "{n}");
        }
        let mut out = String::new();
        for (v, text) in
            [(-0.0, "0\n"), (2.5, "2.5\n"), (-3.0, "-3\n"), (9_223_372_036_854_775_808.0, "9223372036854775808\n")]
        {
            out.clear();
            push_line(&mut out, "", v);
            assert_eq!(out, text);
        }
    }
}
