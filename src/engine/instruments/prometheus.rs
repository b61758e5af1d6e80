//! The Prometheus text exposition format (version 0.0.4) of a registry's
//! instruments, with cumulative values as Prometheus expects whatever the
//! registry exports: counters as `<name>_total`, up-down counters and
//! gauges as gauges, histograms as `_bucket`/`_sum`/`_count` (an
//! exponential histogram's buckets become `le` bounds at its bucket
//! bounds), summaries with their quantiles.
//!
//! Written for speed: each series' text is made when the series is (and
//! kept with the other series' texts of its instrument, read in order),
//! numbers go through `ryu` and a digit loop rather than `core::fmt`.

use alloc::string::String;

use super::labels::LabelSet;
use super::registry::{Registry, Total};
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
/// `name{k="v",k2="v2"} `, or only the labels, `k="v",k2="v2"`, for the
/// other kinds (whose lines vary). Returns where the labels are in what
/// it wrote, and whether it wrote a line.
pub(super) fn push_series_text(
    out: &mut String,
    descriptor: &super::Descriptor,
    labels: &LabelSet,
) -> ((usize, usize), bool) {
    let start = out.len();
    let line = matches!(descriptor.kind, Kind::Counter | Kind::UpDownCounter | Kind::Gauge);
    if line {
        let (name, suffix) = names(descriptor);
        out.push_str(&name);
        out.push_str(suffix);
        if !labels.is_empty() {
            out.push('{');
        }
    }
    let labels_start = out.len() - start;
    for (i, (key, value)) in labels.pairs().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_name(out, key);
        out.push_str("=\"");
        push_escaped(out, value, true);
        out.push('"');
    }
    let labels_end = out.len() - start;
    if line {
        if !labels.is_empty() {
            out.push('}');
        }
        out.push(' ');
    }
    ((labels_start, labels_end), line)
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
        instrument.expose(|text, total| {
            let value = match total {
                Total::Scalar(v) => {
                    out.push_str(text.line());
                    push_number(out, v);
                    out.push('\n');
                    return;
                }
                Total::Value(value) => value,
            };
            match value {
                Value::Sum(v) | Value::Gauge(v) => {
                    out.push_str(text.line());
                    push_number(out, *v);
                    out.push('\n');
                }
                Value::Histogram(h) => {
                    let labels = text.labels();
                    let mut cumulative = 0;
                    for (bound, n) in d.bounds.iter().zip(&h.counts) {
                        cumulative += n;
                        sample(out, &name, "_bucket", labels, Some(("le", *bound)), cumulative as f64);
                    }
                    sample(out, &name, "_bucket", labels, Some(("le", f64::INFINITY)), h.count as f64);
                    sample(out, &name, "_sum", labels, None, h.sum);
                    sample(out, &name, "_count", labels, None, h.count as f64);
                }
                Value::Exponential(h) => {
                    let labels = text.labels();
                    // Negative buckets from the most negative, then zero, then positive.
                    let mut cumulative = 0;
                    for (k, n) in h.negative.counts.iter().enumerate().rev() {
                        cumulative += n;
                        let bound = -lower_bound(h.negative.offset + k as i32, h.scale);
                        sample(out, &name, "_bucket", labels, Some(("le", bound)), cumulative as f64);
                    }
                    cumulative += h.zero_count;
                    sample(out, &name, "_bucket", labels, Some(("le", 0.0)), cumulative as f64);
                    for (k, n) in h.positive.counts.iter().enumerate() {
                        cumulative += n;
                        let bound = lower_bound(h.positive.offset + k as i32 + 1, h.scale);
                        sample(out, &name, "_bucket", labels, Some(("le", bound)), cumulative as f64);
                    }
                    sample(out, &name, "_bucket", labels, Some(("le", f64::INFINITY)), h.count as f64);
                    sample(out, &name, "_sum", labels, None, h.sum);
                    sample(out, &name, "_count", labels, None, h.count as f64);
                }
                Value::Summary(s) => {
                    let labels = text.labels();
                    for q in rows::QUANTILES {
                        sample(out, &name, "", labels, Some(("quantile", q)), s.quantile(q));
                    }
                    sample(out, &name, "_sum", labels, None, s.sum);
                    sample(out, &name, "_count", labels, None, s.count as f64);
                }
            }
        });
    }
}
