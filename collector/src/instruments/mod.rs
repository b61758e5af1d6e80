//! What the collector reads back from the collections the SDK's instruments
//! write (`counters`, `gauges`, `histograms`, `exponential_histograms`,
//! `summaries`, documented in the SDK's `engine::instruments::rows`):
//! the Prometheus exposition of their latest values
//! ([`exposition`], `GET /metrics/instruments`) and their charts over time
//! ([`chart`], `GET /api/instruments`).
//!
//! These collections are written like any other, so their rows are hostile
//! input too: a collection of one of these names with other columns is
//! left out, and a row that breaks the rules of its kind (bucket counts
//! that do not match their bounds, negative counts, unknown temporality) is
//! skipped and counted rather than trusted.

pub mod buckets;
pub mod chart;
pub mod exposition;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::schema_map::{ColumnKind, quote};
use crate::store::CollectionMeta;
use buckets::{Distribution, Exponential, Signed};

/// The collections of instruments, in the SDK's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// Counters and up-down counters.
    Counters,
    /// Gauges.
    Gauges,
    /// Explicit-bucket histograms and timers.
    Histograms,
    /// Base-2 exponential histograms.
    Exponential,
    /// Summaries (quantiles from a sketch).
    Summaries,
}

/// Columns every instrument row has.
const HEAD: [(&str, ColumnKind); 5] = [
    ("name", ColumnKind::Text),
    ("unit", ColumnKind::Text),
    ("description", ColumnKind::Text),
    ("labels", ColumnKind::Json),
    ("overflow", ColumnKind::Bool),
];
const SPAN: [(&str, ColumnKind); 3] =
    [("start_ms", ColumnKind::Int), ("end_ms", ColumnKind::Int), ("temporality", ColumnKind::Text)];
const STATS: [(&str, ColumnKind); 4] =
    [("count", ColumnKind::Int), ("sum", ColumnKind::Real), ("min", ColumnKind::Real), ("max", ColumnKind::Real)];

impl Collection {
    /// All of them.
    pub const ALL: [Self; 5] = [Self::Counters, Self::Gauges, Self::Histograms, Self::Exponential, Self::Summaries];

    /// The collection's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Counters => "counters",
            Self::Gauges => "gauges",
            Self::Histograms => "histograms",
            Self::Exponential => "exponential_histograms",
            Self::Summaries => "summaries",
        }
    }

    /// The collection called `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The columns read, in order, after [`HEAD`].
    pub(crate) fn columns(self) -> Vec<(&'static str, ColumnKind)> {
        let mut columns = HEAD.to_vec();
        match self {
            Self::Counters => {
                columns.extend(SPAN);
                columns.extend([("monotonic", ColumnKind::Bool), ("value", ColumnKind::Real)]);
            }
            Self::Gauges => columns.extend([("time_ms", ColumnKind::Int), ("value", ColumnKind::Real)]),
            Self::Histograms => {
                columns.extend(SPAN);
                columns.extend(STATS);
                columns.extend([("bounds", ColumnKind::Json), ("bucket_counts", ColumnKind::Json)]);
            }
            Self::Exponential => {
                columns.extend(SPAN);
                columns.extend(STATS);
                columns.extend([
                    ("scale", ColumnKind::Int),
                    ("zero_count", ColumnKind::Int),
                    ("positive_offset", ColumnKind::Int),
                    ("positive_counts", ColumnKind::Json),
                    ("negative_offset", ColumnKind::Int),
                    ("negative_counts", ColumnKind::Json),
                ]);
            }
            Self::Summaries => {
                columns.extend(SPAN);
                columns.extend(STATS);
                columns.push(("quantiles", ColumnKind::Json));
            }
        }
        columns
    }

    /// Why the stored collection is not one of instruments (a user's
    /// collection of the same name), or None when it has every column.
    pub fn mismatch(self, meta: &CollectionMeta) -> Option<String> {
        self.columns().into_iter().find_map(|(name, kind)| match meta.columns.iter().find(|c| c.name == name) {
            Some(c) if c.kind == kind => None,
            Some(c) => Some(format!("its column {name:?} holds {:?}, not {kind:?}", c.kind)),
            None => Some(format!("it has no column {name:?}")),
        })
    }

    /// `SELECT rowid, <columns>, _cluster_id FROM <collection>`, to which
    /// callers add their conditions.
    fn select(self) -> String {
        let columns: Vec<String> = self.columns().iter().map(|(name, _)| quote(name)).collect();
        format!("SELECT rowid, {}, \"_cluster_id\" FROM {}", columns.join(", "), quote(self.name()))
    }

    /// The column that orders rows in time (`end_ms`, or `time_ms` for
    /// gauges).
    pub(crate) fn time_column(self) -> &'static str {
        if self == Self::Gauges { "time_ms" } else { "end_ms" }
    }
}

/// Count, sum, min and max of a distribution's values in a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Values recorded.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The least (NaN when unknown).
    pub min: f64,
    /// The greatest (NaN when unknown).
    pub max: f64,
}

/// What a row carries besides its head.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// A counter's or up-down counter's value over the row's span.
    Sum {
        /// True for counters (only add).
        monotonic: bool,
        /// The value.
        value: f64,
    },
    /// A gauge's last value (its span is one instant).
    Gauge(f64),
    /// A histogram with explicit bounds.
    Histogram(Stats, Distribution),
    /// An exponential histogram.
    Exponential(Stats, Exponential),
    /// A summary's quantiles as `(quantile, value)`.
    Summary(Stats, Vec<(f64, f64)>),
}

/// One stored instrument row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Its rowid: rows are only ever appended, so this orders them.
    pub rowid: i64,
    /// The instrument's name.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// Its description.
    pub description: String,
    /// The labels as stored: a JSON object with its keys sorted, so equal
    /// label sets have equal text.
    pub labels: String,
    /// The cluster that sent it.
    pub cluster: String,
    /// Start of the span the values cover, Unix ms.
    pub start_ms: i64,
    /// Its end (a gauge's time).
    pub end_ms: i64,
    /// True when the values are totals since `start_ms`, false for the
    /// span alone.
    pub cumulative: bool,
    /// The values.
    pub body: Body,
}

impl Row {
    /// The labels as pairs, in key order.
    pub fn label_pairs(&self) -> Vec<(String, String)> {
        labels_of(&self.labels)
    }
}

/// The pairs of a stored labels object; values that are not strings (never
/// written by the SDK) as their JSON text.
pub fn labels_of(text: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        _ => None,
    }
}

fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        _ => None,
    }
}

/// A REAL column: SQLite stores NaN as NULL.
fn real(v: ValueRef<'_>) -> f64 {
    match v {
        ValueRef::Real(f) => f,
        ValueRef::Integer(i) => i as f64,
        _ => f64::NAN,
    }
}

fn json<T: serde::de::DeserializeOwned>(v: ValueRef<'_>) -> Option<T> {
    match v {
        ValueRef::Text(t) => serde_json::from_slice(t).ok(),
        _ => None,
    }
}

fn unsigned(v: ValueRef<'_>) -> Option<u64> {
    int(v).and_then(|i| u64::try_from(i).ok())
}

/// Reads the row at the cursor, or None when it breaks its kind's rules.
fn parse(collection: Collection, r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Row>> {
    parse_with(collection, |i| r.get_ref(i))
}

/// The same for a row read from another store: `values` in the order of
/// [`Collection::select`] (a place standing for the rowid, the columns, the
/// cluster).
pub(crate) fn parse_values(collection: Collection, values: &[ValueRef<'_>]) -> Option<Row> {
    parse_with(collection, |i| values.get(i).copied().ok_or(rusqlite::Error::InvalidColumnIndex(i))).ok().flatten()
}

fn parse_with<'a>(
    collection: Collection,
    at: impl Fn(usize) -> rusqlite::Result<ValueRef<'a>>,
) -> rusqlite::Result<Option<Row>> {
    let Some(rowid) = int(at(0)?) else { return Ok(None) };
    let (Some(name), Some(unit), Some(description), Some(labels)) =
        (text(at(1)?), text(at(2)?), text(at(3)?), text(at(4)?))
    else {
        return Ok(None);
    };
    let last = collection.columns().len() + 1;
    let Some(cluster) = text(at(last)?) else { return Ok(None) };
    let mut row = Row {
        rowid,
        name,
        unit,
        description,
        labels,
        cluster,
        start_ms: 0,
        end_ms: 0,
        cumulative: false,
        body: Body::Gauge(0.0),
    };
    if collection == Collection::Gauges {
        let Some(time) = int(at(6)?) else { return Ok(None) };
        (row.start_ms, row.end_ms, row.body) = (time, time, Body::Gauge(real(at(7)?)));
        return Ok(Some(row));
    }
    let (Some(start), Some(end)) = (int(at(6)?), int(at(7)?)) else { return Ok(None) };
    row.cumulative = match text(at(8)?).as_deref() {
        Some("delta") => false,
        Some("cumulative") => true,
        _ => return Ok(None),
    };
    (row.start_ms, row.end_ms) = (start, end);
    if collection == Collection::Counters {
        let Some(monotonic) = int(at(9)?) else { return Ok(None) };
        row.body = Body::Sum { monotonic: monotonic != 0, value: real(at(10)?) };
        return Ok(Some(row));
    }
    let Some(count) = unsigned(at(9)?) else { return Ok(None) };
    let stats = Stats { count, sum: real(at(10)?), min: real(at(11)?), max: real(at(12)?) };
    row.body = match collection {
        Collection::Histograms => {
            let (Some(bounds), Some(counts)) = (json::<Vec<f64>>(at(13)?), json::<Vec<u64>>(at(14)?)) else {
                return Ok(None);
            };
            match Distribution::explicit(bounds, counts) {
                Some(d) if d.total() == count => Body::Histogram(stats, d),
                _ => return Ok(None),
            }
        }
        Collection::Exponential => {
            let (Some(scale), Some(zero), Some(p_offset), Some(p_counts), Some(n_offset), Some(n_counts)) = (
                int(at(13)?),
                unsigned(at(14)?),
                int(at(15)?),
                json::<Vec<u64>>(at(16)?),
                int(at(17)?),
                json::<Vec<u64>>(at(18)?),
            ) else {
                return Ok(None);
            };
            let signed = |offset: i64, counts| Signed::new(offset, counts);
            match Exponential::new(scale, zero, signed(p_offset, p_counts), signed(n_offset, n_counts)) {
                Some(e) if e.total() == Some(count) => Body::Exponential(stats, e),
                _ => return Ok(None),
            }
        }
        _ => {
            let Some(quantiles) = json::<Vec<serde_json::Value>>(at(13)?) else { return Ok(None) };
            let pairs: Option<Vec<(f64, f64)>> = quantiles
                .iter()
                .map(|q| {
                    Some((q.get("quantile")?.as_f64()?, q.get("value").and_then(|v| v.as_f64()).unwrap_or(f64::NAN)))
                })
                .collect();
            match pairs {
                Some(pairs) if pairs.iter().all(|(q, _)| (0.0..=1.0).contains(q)) => Body::Summary(stats, pairs),
                _ => return Ok(None),
            }
        }
    };
    Ok(Some(row))
}

/// How a scan went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Rows read and handed on.
    pub rows: u64,
    /// Rows skipped for breaking their kind's rules.
    pub skipped: u64,
    /// The last rowid read (0 when none).
    pub last_rowid: i64,
}

/// Reads rows of `collection` matching `condition` (SQL on the
/// collection's columns with parameters `params`), in `order`, at most
/// `limit`, handing each valid one to `each`.
fn scan(
    conn: &Connection,
    collection: Collection,
    condition: &str,
    order: &str,
    limit: i64,
    params: &[&dyn rusqlite::ToSql],
    mut each: impl FnMut(Row),
) -> rusqlite::Result<Scanned> {
    let sql = format!("{} WHERE {condition} ORDER BY {order} LIMIT {limit}", collection.select());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    let mut scanned = Scanned::default();
    while let Some(r) = rows.next()? {
        scanned.last_rowid = r.get(0)?;
        match parse(collection, r)? {
            Some(row) => {
                scanned.rows += 1;
                each(row);
            }
            None => scanned.skipped += 1,
        }
    }
    Ok(scanned)
}

#[cfg(test)]
mod tests;
