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

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};

use super::{Kind, Point, Temporality, Value};

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
const SPAN: &str = r#"{"name":"start_ms","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"end_ms","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"temporality","type":{"type":"enum","name":"Temporality","symbols":["delta","cumulative"]}}"#;
const STATS: &str = r#"{"name":"count","type":"long"},{"name":"sum","type":"double"},{"name":"min","type":"double"},{"name":"max","type":"double"}"#;

/// The schema JSON of the collection at `index` of [`COLLECTIONS`].
pub fn schema(index: usize) -> alloc::string::String {
    let fields = match index {
        0 => alloc::format!(
            r#"{HEAD},{SPAN},{{"name":"monotonic","type":"boolean"}},{{"name":"value","type":"double"}}"#
        ),
        1 => alloc::format!(
            r#"{HEAD},{{"name":"time_ms","type":{{"type":"long","logicalType":"timestamp-millis"}}}},{{"name":"value","type":"double"}}"#
        ),
        2 => alloc::format!(
            r#"{HEAD},{SPAN},{STATS},{{"name":"bounds","type":{{"type":"array","items":"double"}}}},{{"name":"bucket_counts","type":{{"type":"array","items":"long"}}}}"#
        ),
        3 => alloc::format!(
            r#"{HEAD},{SPAN},{STATS},{{"name":"scale","type":"int"}},{{"name":"zero_count","type":"long"}},{{"name":"positive_offset","type":"int"}},{{"name":"positive_counts","type":{{"type":"array","items":"long"}}}},{{"name":"negative_offset","type":"int"}},{{"name":"negative_counts","type":{{"type":"array","items":"long"}}}}"#
        ),
        _ => alloc::format!(
            r#"{HEAD},{SPAN},{STATS},{{"name":"quantiles","type":{{"type":"array","items":{{"type":"record","name":"Quantile","fields":[{{"name":"quantile","type":"double"}},{{"name":"value","type":"double"}}]}}}}}}"#
        ),
    };
    alloc::format!(
        r#"{{"type":"record","name":"{}","namespace":"edgemetrics.instruments","fields":[{fields}]}}"#,
        COLLECTIONS[index.min(4)]
    )
}

/// A point as a row of its collection, for the engine's encoder.
pub struct Row<'a> {
    /// The point.
    pub point: &'a Point,
    /// The registry's temporality.
    pub temporality: Temporality,
}

struct Labels<'a>(&'a Point);

impl Serialize for Labels<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let pairs = self.0.series.labels().pairs();
        let mut map = s.serialize_map(Some(pairs.len()))?;
        for (k, v) in pairs {
            map.serialize_entry(&**k, &**v)?;
        }
        map.end()
    }
}

struct Longs<'a>(&'a [u64]);

impl Serialize for Longs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for n in self.0 {
            seq.serialize_element(&(*n as i64))?;
        }
        seq.end()
    }
}

struct Quantiles<'a>(&'a super::Sketch);

impl Serialize for Quantiles<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(QUANTILES.len()))?;
        for q in QUANTILES {
            seq.serialize_element(&Quantile { quantile: q, value: self.0.quantile(q) })?;
        }
        seq.end()
    }
}

struct Quantile {
    quantile: f64,
    value: f64,
}

impl Serialize for Quantile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut row = s.serialize_struct("Quantile", 2)?;
        row.serialize_field("quantile", &self.quantile)?;
        row.serialize_field("value", &self.value)?;
        row.end()
    }
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let point = self.point;
        let descriptor = point.instrument.descriptor();
        let kind = descriptor.kind;
        let mut row = s.serialize_struct(COLLECTIONS[collection_index(kind)], 16)?;
        row.serialize_field("name", descriptor.name.as_str())?;
        row.serialize_field("unit", descriptor.unit.as_str())?;
        row.serialize_field("description", descriptor.description.as_str())?;
        row.serialize_field("labels", &Labels(point))?;
        row.serialize_field("overflow", &point.series.is_overflow())?;
        if kind == Kind::Gauge {
            row.serialize_field("time_ms", &(point.end_ms as i64))?;
        } else {
            row.serialize_field("start_ms", &(point.start_ms as i64))?;
            row.serialize_field("end_ms", &(point.end_ms as i64))?;
            // A gauge's value is the last one whatever the temporality; the
            // others say which they are.
            row.serialize_field("temporality", self.temporality.as_str())?;
        }
        let stats = |row: &mut S::SerializeStruct, count: u64, sum: f64, min: f64, max: f64| -> Result<(), S::Error> {
            row.serialize_field("count", &(count as i64))?;
            row.serialize_field("sum", &sum)?;
            row.serialize_field("min", &min)?;
            row.serialize_field("max", &max)
        };
        match &point.value {
            Value::Sum(v) => {
                row.serialize_field("monotonic", &(kind == Kind::Counter))?;
                row.serialize_field("value", v)?;
            }
            Value::Gauge(v) => row.serialize_field("value", v)?,
            Value::Histogram(h) => {
                stats(&mut row, h.count, h.sum, h.min, h.max)?;
                row.serialize_field("bounds", &*descriptor.bounds)?;
                row.serialize_field("bucket_counts", &Longs(&h.counts))?;
            }
            Value::Exponential(h) => {
                stats(&mut row, h.count, h.sum, h.min, h.max)?;
                row.serialize_field("scale", &h.scale)?;
                row.serialize_field("zero_count", &(h.zero_count as i64))?;
                row.serialize_field("positive_offset", &h.positive.offset)?;
                row.serialize_field("positive_counts", &Longs(&h.positive.counts))?;
                row.serialize_field("negative_offset", &h.negative.offset)?;
                row.serialize_field("negative_counts", &Longs(&h.negative.counts))?;
            }
            Value::Summary(sketch) => {
                stats(&mut row, sketch.count, sketch.sum, sketch.min, sketch.max)?;
                row.serialize_field("quantiles", &Quantiles(sketch))?;
            }
        }
        row.end()
    }
}
