//! Instruments: counters, up-down counters, gauges, histograms (explicit
//! and base-2 exponential), summaries and timers, with labels, aggregated
//! in the client and sent as Avro rows of fixed schemas (see [`rows`]) in
//! the same chunks, retries and collector as typed rows.
//!
//! The hot path takes `&self` and allocates nothing for a series that
//! exists: a counter's add is a spin lock on the instrument's table, a
//! lookup by the labels' hash, and an atomic add. A bound handle skips the
//! first two, and a counter's or histogram's writes its own cells with
//! plain stores (see [`own`]). A collection swaps each updated series'
//! values out, so an interval's values are exact whatever writes race with
//! it.

mod bound;
mod exponential;
pub mod labels;
mod own;
#[cfg(feature = "std")]
pub mod prometheus;
mod registry;
pub mod rows;
mod sketch;
mod state;
mod sync;
mod table;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

pub use bound::{Bound, SharedBound};
pub use exponential::{Buckets as ExponentialBuckets, ExponentialHistogram, MAX_BUCKETS, MAX_SCALE, lower_bound};
pub use registry::{Instrument, OVERFLOW_LABEL, Point, Registry, RegistryConfig, RegistryStats, Series, describe};
pub use sketch::{RELATIVE_ACCURACY, Sketch};
pub use state::{Buckets, DEFAULT_BOUNDS, Kind, Value};

/// What an export's values cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// The interval since the previous export (the default).
    Delta,
    /// Everything since the series began.
    Cumulative,
}

impl Temporality {
    /// `"delta"` or `"cumulative"`, as in the rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Temporality::Delta => "delta",
            Temporality::Cumulative => "cumulative",
        }
    }
}

/// The longest instrument name, in bytes (OpenTelemetry's).
pub const MAX_NAME_BYTES: usize = 255;

/// An instrument's description: its kind, name, unit and help text, and a
/// histogram's bucket bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// What kind of instrument.
    pub kind: Kind,
    /// `[A-Za-z][A-Za-z0-9_.-]*`, at most 255 bytes.
    pub name: String,
    /// The unit (UCUM, e.g. `"ms"`, `"By"`, `"1"`), at most 63 ASCII characters; may be empty.
    pub unit: String,
    /// Help text, at most 1023 bytes; may be empty.
    pub description: String,
    /// An explicit histogram's bucket bounds, increasing; empty for other kinds.
    pub bounds: Arc<[f64]>,
}

impl Descriptor {
    /// An instrument of `kind` named `name`, without unit or description,
    /// with the default bounds if it is a histogram.
    pub fn new(kind: Kind, name: &str) -> Self {
        let bounds: Arc<[f64]> = match kind {
            Kind::Histogram => Arc::from(&DEFAULT_BOUNDS[..]),
            _ => Arc::from(&[][..]),
        };
        Descriptor { kind, name: String::from(name), unit: String::new(), description: String::new(), bounds }
    }

    fn validate(&self) -> Result<(), InstrumentError> {
        let name = &self.name;
        let first_ok = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
        let rest_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !first_ok || !rest_ok || name.len() > MAX_NAME_BYTES {
            return Err(InstrumentError::name(
                name,
                "is not an instrument name: 1 to 255 of [A-Za-z0-9_.-], starting with a letter",
            ));
        }
        if self.unit.len() > 63 || !self.unit.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InstrumentError::new(
                "unit",
                &self.unit,
                "is not a unit: at most 63 printable ASCII characters",
            ));
        }
        if self.description.len() > 1023 {
            return Err(InstrumentError::new("description", name, "is longer than 1023 bytes"));
        }
        if self.kind == Kind::Histogram {
            let increasing = self.bounds.windows(2).all(|w| w[0] < w[1]);
            if self.bounds.is_empty()
                || self.bounds.len() > 256
                || !increasing
                || self.bounds.iter().any(|b| !b.is_finite())
            {
                return Err(InstrumentError::new(
                    "bounds",
                    name,
                    "must be 1 to 256 finite numbers, each larger than the one before",
                ));
            }
        }
        Ok(())
    }

    /// Why `other` (the same name) is not this instrument, if it is not.
    fn same_as(&self, other: &Descriptor) -> Result<(), &'static str> {
        match () {
            () if self.kind != other.kind => Err("is already an instrument of another kind"),
            () if self.unit != other.unit => Err("is already an instrument with another unit"),
            () if self.bounds != other.bounds => Err("is already a histogram with other bounds"),
            () => Ok(()),
        }
    }

    fn check(&self) -> ValueCheck {
        ValueCheck { monotonic: self.kind == Kind::Counter }
    }

    #[inline]
    fn check_value(&self, v: f64) -> Result<(), InstrumentError> {
        self.check().check(v)
    }
}

/// What a value must be: finite, and not negative for a counter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueCheck {
    monotonic: bool,
}

impl ValueCheck {
    #[inline]
    fn check(self, v: f64) -> Result<(), InstrumentError> {
        if v.is_finite() && !(self.monotonic && v < 0.0) {
            return Ok(());
        }
        Err(InstrumentError::value(v, self.monotonic))
    }

    #[inline]
    fn check_whole(self, n: i64) -> Result<(), InstrumentError> {
        if self.monotonic && n < 0 {
            return Err(InstrumentError::value(n as f64, true));
        }
        Ok(())
    }
}

/// Why an instrument, a label or a value was refused: what is wrong and
/// with what.
#[derive(Debug, Clone)]
pub struct InstrumentError {
    /// What was refused: `"name"`, `"unit"`, `"description"`, `"bounds"`, `"label"` or `"value"`.
    pub what: &'static str,
    /// The name or label key at fault (for a value, empty: see `value`).
    pub subject: String,
    /// The value at fault, for `what == "value"`.
    pub value: f64,
    /// What is wrong with it.
    pub message: &'static str,
}

/// Equal when every field is, the value bit for bit (so a NaN equals itself).
impl PartialEq for InstrumentError {
    fn eq(&self, other: &Self) -> bool {
        (self.what, &self.subject, self.value.to_bits(), self.message)
            == (other.what, &other.subject, other.value.to_bits(), other.message)
    }
}

impl Eq for InstrumentError {}

impl InstrumentError {
    fn new(what: &'static str, subject: &str, message: &'static str) -> Self {
        InstrumentError { what, subject: String::from(subject), value: 0.0, message }
    }

    fn name(name: &str, message: &'static str) -> Self {
        Self::new("name", name, message)
    }

    fn label(key: &str, message: &'static str) -> Self {
        Self::new("label", key, message)
    }

    fn too_many_labels(n: usize) -> Self {
        let mut count = String::new();
        crate::engine::text::push_u64(&mut count, n as u64);
        Self::new("labels", &count, "labels are too many: at most 16 per value")
    }

    fn value(v: f64, monotonic: bool) -> Self {
        let message = match () {
            () if v.is_nan() => "is not a number",
            () if !v.is_finite() => "is infinite",
            () if monotonic => "is negative: a counter only adds",
            () => "is not a finite number",
        };
        InstrumentError { what: "value", subject: String::new(), value: v, message }
    }
}

/// `value -1 is negative: ...`, `label "k" is given twice`, `17 labels are
/// too many: ...`, `name "9x" is not ...`. (The browser build assembles the
/// same text in JS, from the fields, without `core::fmt`.)
impl fmt::Display for InstrumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.what {
            "value" => write!(f, "value {} {}", crate::engine::float::Text(self.value), self.message),
            "labels" => write!(f, "{} {}", self.subject, self.message),
            what => write!(f, "{what} \"{}\" {}", self.subject, self.message),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for InstrumentError {}

/// Every point of a collection, by the collection its rows go to.
pub fn by_collection(points: Vec<Point>) -> [Vec<Point>; 5] {
    let mut out: [Vec<Point>; 5] = Default::default();
    for point in points {
        out[rows::collection_index(point.series_kind())].push(point);
    }
    out
}

impl Point {
    /// The kind of the series' instrument.
    pub fn series_kind(&self) -> Kind {
        self.instrument.descriptor().kind
    }
}

#[cfg(test)]
mod tests;
