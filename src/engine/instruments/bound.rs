//! Handles bound to one series, to record without a lookup: through the
//! series' shared cells, or (a counter's, a histogram's) through cells of
//! the handle's own.

use alloc::sync::Arc;
use core::cell::Cell;
use core::marker::PhantomData;

use super::labels::LabelSet;
use super::own::Own;
use super::registry::Series;
use super::state::WHOLE_LIMIT;
use super::{InstrumentError, ValueCheck};

/// A series held for recording through its shared cells, without a
/// lookup: `Send` and `Sync`.
#[derive(Debug, Clone)]
pub struct SharedBound {
    series: Arc<Series>,
    check: ValueCheck,
    bounds: Arc<[f64]>,
}

impl SharedBound {
    /// A handle on `series`, whose values `check` checks.
    pub(super) fn new(series: Arc<Series>, check: ValueCheck, bounds: Arc<[f64]>) -> Self {
        SharedBound { series, check, bounds }
    }

    /// Records `v`.
    #[inline]
    pub fn record(&self, v: f64) -> Result<(), InstrumentError> {
        self.check.check(v)?;
        self.series.record(v, &self.bounds);
        Ok(())
    }

    /// The series' labels.
    pub fn labels(&self) -> &LabelSet {
        self.series.labels()
    }
}

/// A series held for recording without a lookup. `Send` but not `Sync`:
/// a counter's or histogram's handle writes cells of its own with plain
/// stores, so one thread writes through it; a clone (for another thread)
/// gets cells of its own.
#[derive(Debug)]
pub struct Bound {
    shared: SharedBound,
    own: Option<Arc<Own>>,
    one_writer: PhantomData<Cell<()>>,
}

impl Clone for Bound {
    fn clone(&self) -> Self {
        Bound {
            shared: self.shared.clone(),
            own: self.own.as_ref().map(|own| self.shared.series.register(own.empty_like())),
            one_writer: PhantomData,
        }
    }
}

impl Bound {
    /// A handle on `shared`'s series, with cells of its own if given.
    pub(super) fn new(shared: SharedBound, own: Option<Own>) -> Self {
        let own = own.map(|own| shared.series.register(own));
        Bound { shared, own, one_writer: PhantomData }
    }

    /// Records `v`. (Inlined by force, with the shared cells' path out of
    /// line: called, a bound histogram's record reloaded everything it
    /// reads on every call, 11.9 ns against 6.7 in `benches/instruments.rs`.)
    #[inline(always)]
    pub fn record(&self, v: f64) -> Result<(), InstrumentError> {
        match &self.own {
            Some(own) => {
                self.shared.check.check(v)?;
                // Extremes first: a collection that reads the count finds them.
                self.shared.series.after_own_record(v);
                own.record(v, &self.shared.bounds);
                Ok(())
            }
            None => self.record_shared(v),
        }
    }

    /// Records `v` through the series' shared cells (the kinds without
    /// cells of their own): every kind's update, out of line so that
    /// [`Self::record`] stays small where it is inlined.
    #[inline(never)]
    fn record_shared(&self, v: f64) -> Result<(), InstrumentError> {
        self.shared.record(v)
    }

    /// Adds the whole number `n`: a counter's bound handle does it without
    /// a float (the native API's integer types come this way).
    #[inline]
    pub fn add_whole(&self, n: i64) -> Result<(), InstrumentError> {
        match self.own.as_deref() {
            // Past 2^53 a float's cell, as `record` does: the whole cell wraps.
            Some(Own::Sum { whole, .. }) if n.unsigned_abs() < WHOLE_LIMIT => {
                self.shared.check.check_whole(n)?;
                whole.set(whole.get().wrapping_add(n as u64));
                Ok(())
            }
            _ => self.record_as_float(n),
        }
    }

    /// Records a whole number as a float (a handle of another kind than a
    /// counter's, or a number past 2^53), out of line: with
    /// [`Self::record`] inlined here, `add_whole` was no longer inlined
    /// itself, and a bound counter's add took 2.2 ns against 1.0.
    #[inline(never)]
    fn record_as_float(&self, n: i64) -> Result<(), InstrumentError> {
        self.record(n as f64)
    }

    /// The series' labels.
    pub fn labels(&self) -> &LabelSet {
        self.shared.labels()
    }
}
