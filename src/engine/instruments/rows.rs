//! The rows an export writes: one collection per kind, with fixed,
//! documented schemas, so that the collector stores instruments like any
//! other rows and its query API, dashboard and Prometheus endpoint read
//! them back.
//!
//! Every row has the instrument's `name`, `unit` and `description`, its
//! `labels` (an Avro map of strings), and `overflow` (true for the series
//! that took values past the cardinality limit). Then, by collection:
//!
//! | collection | kinds | values |
//! |---|---|---|
//! | `counters` | counter, up-down counter | `start_ms`, `end_ms`, `temporality`, `monotonic`, `value` |
//! | `gauges` | gauge | `time_ms`, `value` |
//! | `histograms` | histogram, timer | `start_ms`, `end_ms`, `temporality`, `count`, `sum`, `min`, `max`, `bounds`, `bucket_counts` |
//! | `exponential_histograms` | exponential histogram | as histograms, with `scale`, `zero_count`, `positive_offset`, `positive_counts`, `negative_offset`, `negative_counts` instead of the bounds |
//! | `summaries` | summary | `start_ms`, `end_ms`, `temporality`, `count`, `sum`, `min`, `max`, `quantiles` (records of `quantile` and `value`) |
//!
//! Times are Unix milliseconds (`timestamp-millis`); `temporality` is the
//! enum `delta` or `cumulative`.

use alloc::string::String;
use alloc::vec::Vec;

use super::{Kind, Point, Temporality, Value};
use crate::engine::avro::varint::{put_len, put_long};

/// The collections instruments go to, in the order of [`collection_index`].
pub const COLLECTIONS: [&str; 5] = ["counters", "gauges", "histograms", "exponential_histograms", "summaries"];

/// The quantiles a summary row reports.
pub const QUANTILES: [f64; 6] = [0.5, 0.75, 0.9, 0.95, 0.99, 0.999];

/// Where rows of `kind` go, as an index of [`COLLECTIONS`].
pub fn collection_index(kind: Kind) -> usize {
    match kind {
        Kind::Counter | Kind::UpDownCounter => 0,
        Kind::Gauge => 1,
        Kind::Histogram => 2,
        Kind::ExponentialHistogram => 3,
        Kind::Summary => 4,
    }
}

const HEAD: &str = r#"{"name":"name","type":"string"},{"name":"unit","type":"string"},{"name":"description","type":"string"},{"name":"labels","type":{"type":"map","values":"string"}},{"name":"overflow","type":"boolean"}"#;
const SPAN: &str = r#",{"name":"start_ms","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"end_ms","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"temporality","type":{"name":"edgemetrics.instruments.Temporality","type":"enum","symbols":["delta","cumulative"]}}"#;
const STATS: &str = r#",{"name":"count","type":"long"},{"name":"sum","type":"double"},{"name":"min","type":"double"},{"name":"max","type":"double"}"#;
const LONGS: &str = r#"{"type":"array","items":"long"}"#;

/// The schema JSON of the collection at `index` of [`COLLECTIONS`], in its
/// wire form (`Schema::wire_form`), which the browser build sends as it is
/// and the native one writes again from the parsed schema: the same text
/// (concatenated, not formatted: the browser build links no `core::fmt`).
pub fn schema(index: usize) -> String {
    let index = index.min(4);
    let fields: &[&str] = match index {
        0 => &[HEAD, SPAN, r#",{"name":"monotonic","type":"boolean"},{"name":"value","type":"double"}"#],
        1 => &[
            HEAD,
            r#",{"name":"time_ms","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"value","type":"double"}"#,
        ],
        2 => &[
            HEAD,
            SPAN,
            STATS,
            r#",{"name":"bounds","type":{"type":"array","items":"double"}},{"name":"bucket_counts","type":"#,
            LONGS,
            "}",
        ],
        3 => &[
            HEAD,
            SPAN,
            STATS,
            r#",{"name":"scale","type":"int"},{"name":"zero_count","type":"long"},{"name":"positive_offset","type":"int"},{"name":"positive_counts","type":"#,
            LONGS,
            r#"},{"name":"negative_offset","type":"int"},{"name":"negative_counts","type":"#,
            LONGS,
            "}",
        ],
        _ => &[
            HEAD,
            SPAN,
            STATS,
            r#",{"name":"quantiles","type":{"type":"array","items":{"name":"edgemetrics.instruments.Quantile","type":"record","fields":[{"name":"quantile","type":"double"},{"name":"value","type":"double"}]}}}"#,
        ],
    };
    let mut text = String::from(r#"{"name":"edgemetrics.instruments."#);
    text.push_str(COLLECTIONS[index]);
    text.push_str(r#"","type":"record","fields":["#);
    fields.iter().for_each(|part| text.push_str(part));
    text.push_str("]}");
    text
}

/// A point as a row of its collection.
pub struct Row<'a> {
    /// The point.
    pub point: &'a Point,
    /// The registry's temporality.
    pub temporality: Temporality,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// An Avro array or map of `items`, written by `each`: one block, then 0.
fn put_block<T>(out: &mut Vec<u8>, items: &[T], each: impl Fn(&mut Vec<u8>, &T)) {
    if !items.is_empty() {
        put_len(out, items.len());
        items.iter().for_each(|item| each(out, item));
    }
    out.push(0);
}

impl Row<'_> {
    /// Appends the row's Avro binary, field by field in the order of its
    /// collection's [`schema`]: written by hand rather than through the
    /// engine's serde encoder, which would need the schema parsed (and in
    /// the browser build the JSON reader, the parser and the encoder: 40 KB
    /// of its wasm). `rows_encode_with_their_collection_schemas` reads the
    /// bytes back with the parsed schemas.
    pub fn write(&self, out: &mut Vec<u8>) {
        let point = self.point;
        let descriptor = point.instrument.descriptor();
        let kind = descriptor.kind;
        put_str(out, &descriptor.name);
        put_str(out, &descriptor.unit);
        put_str(out, &descriptor.description);
        let labels = point.series.labels();
        if !labels.is_empty() {
            put_len(out, labels.len());
            for (k, v) in labels.pairs() {
                put_str(out, k);
                put_str(out, v);
            }
        }
        out.push(0);
        out.push(u8::from(point.series.is_overflow()));
        if kind == Kind::Gauge {
            put_long(out, point.end_ms as i64);
        } else {
            put_long(out, point.start_ms as i64);
            put_long(out, point.end_ms as i64);
            put_len(out, usize::from(self.temporality == Temporality::Cumulative));
        }
        let stats = |out: &mut Vec<u8>, count: u64, sum: f64, min: f64, max: f64| {
            put_long(out, count as i64);
            [sum, min, max].into_iter().for_each(|v| put_double(out, v));
        };
        let longs = |out: &mut Vec<u8>, values: &[u64]| put_block(out, values, |out, n| put_long(out, *n as i64));
        match &point.value {
            Value::Sum(v) => {
                out.push(u8::from(kind == Kind::Counter));
                put_double(out, *v);
            }
            Value::Gauge(v) => put_double(out, *v),
            Value::Histogram(h) => {
                stats(out, h.count, h.sum, h.min, h.max);
                put_block(out, &descriptor.bounds, |out, b| put_double(out, *b));
                longs(out, &h.counts);
            }
            Value::Exponential(h) => {
                stats(out, h.count, h.sum, h.min, h.max);
                put_long(out, i64::from(h.scale));
                put_long(out, h.zero_count as i64);
                put_long(out, i64::from(h.positive.offset));
                longs(out, &h.positive.counts);
                put_long(out, i64::from(h.negative.offset));
                longs(out, &h.negative.counts);
            }
            Value::Summary(sketch) => {
                stats(out, sketch.count, sketch.sum, sketch.min, sketch.max);
                put_block(out, &QUANTILES, |out, q| {
                    put_double(out, *q);
                    put_double(out, sketch.quantile(*q));
                });
            }
        }
    }
}
