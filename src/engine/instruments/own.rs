//! A bound handle's own cells, for the counters and histograms that a hot
//! loop updates: one thread writes them with a plain load and store (no
//! atomic read-modify-write, the ~6 ns floor of a shared cell: a bound
//! counter's add is ~1 ns), so a handle is `Send` but not `Sync` and each
//! clone gets cells of its own.
//!
//! The cells hold running totals that are never reset; a collection reads
//! them and counts what changed since it last read them. Integers wrap as
//! the shared cells do; a float total (a fractional counter's, a
//! histogram's sum) keeps `f64` precision of the running total, as a
//! cumulative counter would. Min and max stay in the series' shared cells:
//! they only take an atomic when a value is a new extreme, and are written
//! before the count (on a weakly ordered CPU a collection racing the write
//! may still see the count first and report the extreme an interval late).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::state::{Kind, Value};
use super::sync::{F64, Word};

/// The running totals one handle writes.
#[derive(Debug)]
pub(super) enum Own {
    /// A counter's or up-down counter's: whole amounts and the rest.
    Sum {
        /// Whole amounts, wrapping.
        whole: Word,
        /// Fractional amounts (and whole ones past 2^53).
        rest: F64,
    },
    /// An explicit histogram's.
    Histogram {
        /// Per bucket.
        counts: Box<[Word]>,
        /// The values' sum.
        sum: F64,
    },
}

impl Own {
    /// Cells for a handle of `kind`, or None for the kinds that keep the
    /// shared path (a gauge's set is a store already; exponential
    /// histograms and summaries do not fit a few words).
    pub fn new(kind: Kind, buckets: usize) -> Option<Self> {
        match kind {
            Kind::Counter | Kind::UpDownCounter => Some(Own::Sum { whole: Word::new(0), rest: F64::new(0.0) }),
            Kind::Histogram => {
                Some(Own::Histogram { counts: (0..buckets).map(|_| Word::new(0)).collect(), sum: F64::new(0.0) })
            }
            _ => None,
        }
    }

    /// Empty cells of the same shape, for a clone of the handle.
    pub fn empty_like(&self) -> Self {
        match self {
            Own::Sum { .. } => Own::Sum { whole: Word::new(0), rest: F64::new(0.0) },
            Own::Histogram { counts, .. } => {
                Own::Histogram { counts: (0..counts.len()).map(|_| Word::new(0)).collect(), sum: F64::new(0.0) }
            }
        }
    }

    /// Adds `v` (checked by the caller). Only the handle's thread calls
    /// this, hence plain loads and stores; a histogram's min and max are
    /// the caller's. (Inlined by force: where the compiler chose a call, a
    /// bound histogram's record took 8.1 ns against 5.8 to 6.7.)
    #[inline(always)]
    pub fn record(&self, v: f64, bounds: &[f64]) {
        match self {
            Own::Sum { whole, rest } => match super::state::small_whole(v) {
                Some(n) => whole.set(whole.get().wrapping_add(n as u64)),
                None => rest.set(rest.get() + v),
            },
            Own::Histogram { counts, sum } => {
                let count = &counts[super::state::bucket_of(bounds, v)];
                count.set(count.get() + 1);
                sum.set(sum.get() + v);
            }
        }
    }
}

/// What a collection last read of one handle's cells.
#[derive(Debug)]
pub(super) struct Writer {
    own: Arc<Own>,
    seen_whole: u64,
    seen_float: f64,
    seen_counts: Vec<u64>,
}

impl Writer {
    /// A writer for `own`, nothing read yet.
    pub fn new(own: Arc<Own>) -> Self {
        let buckets = match &*own {
            Own::Histogram { counts, .. } => counts.len(),
            Own::Sum { .. } => 0,
        };
        Writer { own, seen_whole: 0, seen_float: 0.0, seen_counts: alloc::vec![0; buckets] }
    }

    /// Whether the handle is gone: its writes are all visible then (the
    /// check synchronises with the handle's drop).
    pub fn orphaned(&mut self) -> bool {
        Arc::get_mut(&mut self.own).is_some()
    }

    /// Adds what the handle recorded since the last read to `value`;
    /// `mark` makes this read the next one's base. True when there was
    /// anything.
    pub fn read(&mut self, value: &mut Value, mark: bool) -> bool {
        match (&*self.own, value) {
            (Own::Sum { whole, rest }, Value::Sum(total)) => {
                let (w, f) = (whole.get(), rest.get());
                let changed = w != self.seen_whole || f != self.seen_float;
                *total += w.wrapping_sub(self.seen_whole) as i64 as f64 + gained(f, self.seen_float);
                if mark {
                    (self.seen_whole, self.seen_float) = (w, f);
                }
                changed
            }
            (Own::Histogram { counts, sum }, Value::Histogram(buckets)) => {
                let mut changed = false;
                for ((cell, seen), into) in counts.iter().zip(&mut self.seen_counts).zip(&mut buckets.counts) {
                    let now = cell.get();
                    let gained = now.wrapping_sub(*seen);
                    changed |= gained != 0;
                    *into += gained;
                    buckets.count += gained;
                    if mark {
                        *seen = now;
                    }
                }
                // A sum may be read a collection after its count.
                let s = sum.get();
                changed |= s != self.seen_float;
                buckets.sum += gained(s, self.seen_float);
                if mark {
                    self.seen_float = s;
                }
                changed
            }
            _ => false,
        }
    }
}

/// What a float running total gained since `seen`: nothing when it has not
/// moved, also once it overflowed to an infinity (where `inf - inf` would
/// report NaN every interval after).
fn gained(now: f64, seen: f64) -> f64 {
    if now == seen { 0.0 } else { now - seen }
}
