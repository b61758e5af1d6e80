//! What a series holds for each kind of instrument: the values of the
//! current interval, updated with atomics (or under a spin lock for the
//! kinds that are not a few words), and what an export reads from them.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::exponential::ExponentialHistogram;
use super::sketch::Sketch;
use super::sync::{F64, SpinLock, Word};

/// The kinds of instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Adds non-negative amounts; the total only grows.
    Counter,
    /// Adds amounts of either sign.
    UpDownCounter,
    /// Keeps the last value set.
    Gauge,
    /// Counts values into explicit buckets.
    Histogram,
    /// OpenTelemetry's base-2 exponential histogram.
    ExponentialHistogram,
    /// Quantiles from a sketch.
    Summary,
}

impl Kind {
    /// The name used in messages and in the Prometheus `# TYPE` line's source.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::UpDownCounter => "up-down counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::ExponentialHistogram => "exponential histogram",
            Kind::Summary => "summary",
        }
    }
}

/// Whole amounts from here on go to a sum's float cell rather than its
/// whole cell: the whole cell wraps, a float keeps the magnitude.
pub(crate) const WHOLE_LIMIT: u64 = 1 << 53;

/// `v` as a whole number, if it is one under [`WHOLE_LIMIT`] in magnitude
/// (what a sum's whole cell counts).
#[inline(always)]
pub(crate) fn small_whole(v: f64) -> Option<i64> {
    (v.abs() < WHOLE_LIMIT as f64 && (v as i64) as f64 == v).then_some(v as i64)
}

/// The bucket of `v`: the first bound at or above it (upper-inclusive),
/// or the last bucket past them all. Up to 32 bounds a scan that stops at
/// the bucket: its branches follow the data, where the binary search's
/// conditional moves make a chain of dependent loads (19 ns against about
/// 7 for a bound histogram's record in `benches/instruments.rs`). It steps
/// four bounds at a time, by the last of each four, and counts the bounds
/// below `v` in the four it stops at: fewer branches than a scan bound by
/// bound, whose loop's speed moved with where the code was placed (a bound
/// histogram's record took 5.5 to 6.9 ns in one build and 12.5 in the
/// next, the machine code the same but for its addresses; 5.8 to 6.7 this
/// way).
#[inline]
pub(crate) fn bucket_of(bounds: &[f64], v: f64) -> usize {
    if bounds.len() <= 32 {
        let mut at = 0;
        while let Some(&[a, b, c, d]) = bounds.get(at..at + 4) {
            if v <= d {
                return at + usize::from(a < v) + usize::from(b < v) + usize::from(c < v);
            }
            at += 4;
        }
        let rest = bounds.get(at..).unwrap_or_default();
        at + rest.iter().position(|bound| v <= *bound).unwrap_or(rest.len())
    } else {
        bounds.partition_point(|bound| *bound < v)
    }
}

/// The OpenTelemetry default bounds of an explicit histogram.
pub const DEFAULT_BOUNDS: [f64; 15] =
    [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0];

/// An explicit histogram's values: `counts[i]` counts values in
/// `(bounds[i-1], bounds[i]]`, the last one those above every bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// How many values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest (`+inf` when empty).
    pub min: f64,
    /// The largest (`-inf` when empty).
    pub max: f64,
    /// Per bucket, one more than there are bounds.
    pub counts: Vec<u64>,
}

impl Buckets {
    fn empty(buckets: usize) -> Self {
        Buckets { count: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, counts: alloc::vec![0; buckets] }
    }

    fn merge(&mut self, other: &Buckets) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a += b);
    }
}

/// A value an export reads from one series for one interval.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's or up-down counter's sum.
    Sum(f64),
    /// A gauge's last value.
    Gauge(f64),
    /// An explicit histogram.
    Histogram(Buckets),
    /// An exponential histogram.
    Exponential(ExponentialHistogram),
    /// A summary's sketch.
    Summary(Sketch),
}

impl Value {
    /// Adds a later interval's value (a gauge takes the later value).
    pub fn merge(&mut self, later: &Value) {
        match (self, later) {
            (Value::Sum(a), Value::Sum(b)) => *a += b,
            (Value::Gauge(a), Value::Gauge(b)) => *a = *b,
            (Value::Histogram(a), Value::Histogram(b)) => a.merge(b),
            (Value::Exponential(a), Value::Exponential(b)) => a.merge(b),
            (Value::Summary(a), Value::Summary(b)) => a.merge(b),
            _ => {}
        }
    }
}

/// The current interval's values of one series.
#[derive(Debug)]
pub enum Cells {
    /// Counters and up-down counters: the sum of what was added, the whole
    /// numbers in an integer (one atomic add, and exact past 2^53) and the
    /// rest in a float.
    Sum(Word, F64),
    /// The last value set.
    Gauge(F64),
    /// An explicit histogram, bucket by bucket (the count is their sum:
    /// one atomic add less per value).
    Histogram {
        /// Their sum.
        sum: F64,
        /// The smallest.
        min: F64,
        /// The largest.
        max: F64,
        /// Per bucket.
        counts: Box<[Word]>,
    },
    /// An exponential histogram (boxed, as the summary: their state is
    /// large, and inline it would push what an exposition reads of every
    /// series of the other kinds onto cache lines of their own).
    Exponential(Box<SpinLock<ExponentialHistogram>>),
    /// A summary.
    Summary(Box<SpinLock<Sketch>>),
}

impl Cells {
    /// Empty cells of `kind`, with `buckets` buckets for a histogram.
    pub fn new(kind: Kind, buckets: usize) -> Self {
        match kind {
            Kind::Counter | Kind::UpDownCounter => Cells::Sum(Word::new(0), F64::new(0.0)),
            Kind::Gauge => Cells::Gauge(F64::new(0.0)),
            Kind::Histogram => Cells::Histogram {
                sum: F64::new(0.0),
                min: F64::new(f64::INFINITY),
                max: F64::new(f64::NEG_INFINITY),
                counts: (0..buckets).map(|_| Word::new(0)).collect(),
            },
            Kind::ExponentialHistogram => Cells::Exponential(Box::new(SpinLock::new(ExponentialHistogram::default()))),
            Kind::Summary => Cells::Summary(Box::new(SpinLock::new(Sketch::default()))),
        }
    }

    /// Records `v` (checked by the caller: finite, and of the right sign
    /// for a counter). `bounds` are the histogram's.
    #[inline]
    pub fn record(&self, v: f64, bounds: &[f64]) {
        match self {
            Cells::Sum(whole, rest) => match small_whole(v) {
                Some(n) => whole.add(n as u64),
                None => rest.add(v),
            },
            Cells::Gauge(last) => last.set(v),
            Cells::Histogram { sum, min, max, counts } => {
                let bucket = bucket_of(bounds, v);
                counts[bucket].add(1);
                sum.add(v);
                min.min(v);
                max.max(v);
            }
            Cells::Exponential(h) => h.lock().record(v),
            Cells::Summary(s) => s.lock().record(v),
        }
    }

    /// Takes the interval's values, leaving the cells empty.
    pub fn take(&self) -> Value {
        match self {
            Cells::Sum(whole, rest) => Value::Sum(whole.swap(0) as i64 as f64 + rest.swap(0.0)),
            Cells::Gauge(last) => Value::Gauge(last.get()),
            Cells::Histogram { sum, min, max, counts } => {
                let counts: Vec<u64> = counts.iter().map(|c| c.swap(0)).collect();
                Value::Histogram(Buckets {
                    count: counts.iter().sum(),
                    sum: sum.swap(0.0),
                    min: min.swap(f64::INFINITY),
                    max: max.swap(f64::NEG_INFINITY),
                    counts,
                })
            }
            Cells::Exponential(h) => Value::Exponential(core::mem::take(&mut *h.lock())),
            Cells::Summary(s) => Value::Summary(core::mem::take(&mut *s.lock())),
        }
    }

    /// The interval's values so far, the cells untouched.
    pub fn peek(&self) -> Value {
        match self {
            Cells::Sum(whole, rest) => Value::Sum(whole.get() as i64 as f64 + rest.get()),
            Cells::Gauge(last) => Value::Gauge(last.get()),
            Cells::Histogram { sum, min, max, counts } => {
                let counts: Vec<u64> = counts.iter().map(Word::get).collect();
                Value::Histogram(Buckets {
                    count: counts.iter().sum(),
                    sum: sum.get(),
                    min: min.get(),
                    max: max.get(),
                    counts,
                })
            }
            Cells::Exponential(h) => Value::Exponential(h.lock().clone()),
            Cells::Summary(s) => Value::Summary(s.lock().clone()),
        }
    }

    /// An empty value of the cells' kind (what a series starts its totals with).
    pub fn zero(&self) -> Value {
        match self {
            Cells::Sum(..) => Value::Sum(0.0),
            Cells::Gauge(_) => Value::Gauge(0.0),
            Cells::Histogram { counts, .. } => Value::Histogram(Buckets::empty(counts.len())),
            Cells::Exponential(_) => Value::Exponential(ExponentialHistogram::default()),
            Cells::Summary(_) => Value::Summary(Sketch::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::bucket_of;

    #[test]
    fn a_value_s_bucket_is_that_of_the_first_bound_at_or_above_it() {
        for n in 0..=40 {
            let bounds: Vec<f64> = (0..n).map(|i| f64::from(i) * 10.0).collect();
            let mut values: Vec<f64> = bounds.iter().flat_map(|b| [b - 0.5, *b, b + 0.5]).collect();
            values.extend([f64::NEG_INFINITY, -1e300, 1e300, f64::INFINITY]);
            for v in values {
                let expected = bounds.iter().position(|bound| v <= *bound).unwrap_or(bounds.len());
                assert_eq!(bucket_of(&bounds, v), expected, "{v} in {n} bounds");
            }
        }
    }
}
