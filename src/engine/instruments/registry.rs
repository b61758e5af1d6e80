//! Instruments and their series: the table that finds a label set's series,
//! the cardinality limit and its overflow series, the making of bound
//! handles, and the collection that turns every series updated in an
//! interval into what an export writes.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::bound::{Bound, SharedBound};
use super::labels::{self, LabelSet};
use super::own::{Own, Writer};
use super::state::{Cells, Value, WHOLE_LIMIT};
use super::sync::{SpinLock, Word};
use super::table::Table;
use super::{Descriptor, InstrumentError, Kind, Temporality};

/// The label an overflow series carries (OpenTelemetry's).
pub const OVERFLOW_LABEL: &str = "otel.metric.overflow";

/// Limits and choices that hold for every instrument of a registry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegistryConfig {
    /// Series per instrument; past it values go to one overflow series.
    pub cardinality_limit: usize,
    /// A series not updated for this many collections is dropped (unless a
    /// bound handle holds it).
    pub stale_after: u32,
    /// What an export's values cover: the interval, or everything since the
    /// series began.
    pub temporality: Temporality,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig { cardinality_limit: 2000, stale_after: 10, temporality: Temporality::Delta }
    }
}

/// One series: a label set's values. In C order so that what the
/// exposition reads of every series (the total, whether handles write
/// cells of their own, a counter's or gauge's cells) is on one or two
/// cache lines at the start: with 100,000 series, a field elsewhere is a
/// cache miss each. (Aligned to a cache line, which puts those fields on
/// one, the 100,000-series text took 3.8 ms in `benches/instruments.rs`
/// against 2.8 as allocated, in runs side by side: left as allocated.)
#[derive(Debug)]
#[repr(C)]
pub struct Series {
    /// A sum's total up to the last collection, readable without the lock
    /// (the exposition reads it for every series).
    scalar_total: super::sync::F64,
    /// Whether `writers` may be non-empty, read without its lock.
    has_writers: AtomicBool,
    touched: AtomicBool,
    overflow: bool,
    cells: Cells,
    labels: LabelSet,
    totals: SpinLock<Totals>,
    /// The cells of the bound handles that write their own.
    writers: SpinLock<Vec<Writer>>,
}

#[derive(Debug)]
struct Totals {
    /// Everything up to the last collection.
    value: Value,
    /// When the series began (Unix ms; set at its first collection).
    start_ms: Option<u64>,
    /// Collections in a row without an update.
    idle: u32,
}

impl Series {
    fn new(labels: LabelSet, overflow: bool, descriptor: &Descriptor, buckets: usize) -> Self {
        let cells = Cells::new(descriptor.kind, buckets);
        let totals = SpinLock::new(Totals { value: cells.zero(), start_ms: None, idle: 0 });
        let scalar_total = super::sync::F64::new(0.0);
        Series {
            labels,
            overflow,
            cells,
            touched: AtomicBool::new(false),
            scalar_total,
            totals,
            writers: SpinLock::new(Vec::new()),
            has_writers: AtomicBool::new(false),
        }
    }

    /// The series' labels.
    pub fn labels(&self) -> &LabelSet {
        &self.labels
    }

    /// Asks for the memory of the series' fields the exposition reads, for
    /// a loop that will read them a few rounds later (series are each in
    /// memory of their own): the two cache lines that may hold them.
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(super) fn prefetch(self: &Arc<Self>) {
        let at = Arc::as_ptr(self).cast::<u8>();
        super::sync::prefetch(at);
        super::sync::prefetch(at.wrapping_add(48));
    }

    /// Whether this is the overflow series.
    pub fn is_overflow(&self) -> bool {
        self.overflow
    }

    #[inline]
    pub(super) fn record(&self, v: f64, bounds: &[f64]) {
        self.cells.record(v, bounds);
        self.touched.store(true, Ordering::Release);
    }

    /// Adds `n` to a counter's or up-down counter's series (see
    /// [`Instrument::add_whole`]).
    #[inline]
    fn add_whole(&self, n: i64) {
        if let Cells::Sum(whole, _) = &self.cells {
            whole.add(n as u64);
            self.touched.store(true, Ordering::Release);
        }
    }

    /// What a handle's own write of `v` leaves to the series: a histogram's
    /// min and max. (Nothing marks the series updated: a collection reads
    /// the handles' cells whatever the mark says.)
    #[inline]
    pub(super) fn after_own_record(&self, v: f64) {
        if let Cells::Histogram { min, max, .. } = &self.cells {
            min.min(v);
            max.max(v);
        }
    }

    fn has_writers(&self) -> bool {
        self.has_writers.load(Ordering::Relaxed)
    }

    /// Registers cells for a new handle.
    pub(super) fn register(&self, own: Own) -> Arc<Own> {
        let own = Arc::new(own);
        self.writers.lock().push(Writer::new(own.clone()));
        self.has_writers.store(true, Ordering::Relaxed);
        own
    }

    /// What the handles added to a sum since the last collection.
    #[cold]
    fn pending_sum(&self) -> f64 {
        let mut pending = Value::Sum(0.0);
        self.read_writers(&mut pending, false);
        match pending {
            Value::Sum(v) => v,
            _ => 0.0,
        }
    }

    /// What a counter's, up-down counter's or gauge's series has recorded
    /// so far (totals and the open interval), read without the series'
    /// lock, a clone or a [`Value`] to drop; `None` for the other kinds.
    #[inline]
    pub(super) fn scalar(&self) -> Option<f64> {
        match &self.cells {
            Cells::Sum(whole, rest) => {
                let mut open = whole.get() as i64 as f64 + rest.get();
                if self.has_writers() {
                    open += self.pending_sum();
                }
                Some(self.scalar_total.get() + open)
            }
            Cells::Gauge(last) => Some(last.get()),
            _ => None,
        }
    }

    /// Everything recorded so far (totals and the open interval), for the
    /// kinds that are not a number (any kind's, under the series' lock).
    pub(super) fn value_so_far(&self) -> Value {
        let mut value = self.totals.lock().value.clone();
        value.merge(&self.cells.peek());
        self.read_writers(&mut value, false);
        value
    }

    /// Whether handles wrote anything the last collection did not read.
    fn has_unread_writes(&self) -> bool {
        let mut probe = self.cells.zero();
        self.read_writers(&mut probe, false)
    }

    /// Adds what the handles wrote since the last collection to `value`;
    /// `collect` makes it the next one's base and forgets handles that are
    /// gone. True when they wrote anything.
    fn read_writers(&self, value: &mut Value, collect: bool) -> bool {
        if !self.has_writers() {
            return false;
        }
        let mut writers = self.writers.lock();
        let mut changed = false;
        writers.retain_mut(|writer| {
            // Checked first: a handle gone before the read left all its writes to it.
            let gone = writer.orphaned();
            changed |= writer.read(value, collect);
            !(collect && gone)
        });
        changed
    }
}

/// An instrument: its description, and its series.
#[derive(Debug)]
pub struct Instrument {
    descriptor: Descriptor,
    config: RegistryConfig,
    table: SpinLock<Table>,
    overflowed: Word,
}

impl Instrument {
    /// What the instrument is.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// Records `v` for the series of `labels` (in any order), making the
    /// series if it is new. Allocates nothing when it exists.
    pub fn record(&self, v: f64, labels: &[(&str, &str)]) -> Result<(), InstrumentError> {
        self.descriptor.check_value(v)?;
        let bounds = &self.descriptor.bounds;
        self.update(labels, |series| series.record(v, bounds))
    }

    /// Adds the whole number `n` to the series of `labels` (in any order),
    /// making the series if it is new: a counter's or up-down counter's add
    /// without a float (the native API's integer types come this way;
    /// other kinds record `n` as a float). Allocates nothing when the
    /// series exists.
    pub fn add_whole(&self, n: i64, labels: &[(&str, &str)]) -> Result<(), InstrumentError> {
        // Past 2^53 a float's cell, as `record` does: the whole cell wraps.
        if !matches!(self.descriptor.kind, Kind::Counter | Kind::UpDownCounter) || n.unsigned_abs() >= WHOLE_LIMIT {
            return self.record(n as f64, labels);
        }
        self.descriptor.check().check_whole(n)?;
        self.update(labels, |series| series.add_whole(n))
    }

    /// Gives `update` the series of `labels` (in any order), made if it is
    /// new (refused as [`Self::make`] refuses).
    #[inline(always)]
    fn update<R>(&self, labels: &[(&str, &str)], update: impl FnOnce(&Arc<Series>) -> R) -> Result<R, InstrumentError> {
        let mut table = self.table.lock();
        if let Some(series) = table.find(labels) {
            return Ok(update(series));
        }
        Ok(update(&self.make(&mut table, labels)?))
    }

    /// The series of `labels`, to record into without a lookup (it is
    /// never dropped as stale while a handle holds it). A counter's or
    /// histogram's handle writes cells of its own: see [`Bound`].
    pub fn bind(&self, labels: &[(&str, &str)]) -> Result<Bound, InstrumentError> {
        let shared = self.bind_shared(labels)?;
        Ok(Bound::new(shared, Own::new(self.descriptor.kind, self.descriptor.bounds.len() + 1)))
    }

    /// The series of `labels` for a handle that writes the series' shared
    /// cells (a gauge's, which only stores; a timer's measurement,
    /// short-lived, so not worth cells of its own).
    pub fn bind_shared(&self, labels: &[(&str, &str)]) -> Result<SharedBound, InstrumentError> {
        let series = self.update(labels, Arc::clone)?;
        let (check, bounds) = (self.descriptor.check(), self.descriptor.bounds.clone());
        Ok(SharedBound::new(series, check, bounds))
    }

    /// A new series for `labels`, or the overflow series past the limit.
    fn make(&self, table: &mut Table, labels: &[(&str, &str)]) -> Result<Arc<Series>, InstrumentError> {
        let Some((sorted, n)) = labels::sort(labels) else {
            return Err(InstrumentError::too_many_labels(labels.len()));
        };
        let sorted = &sorted[..n];
        labels::check(sorted)?;
        let (descriptor, buckets) = (&self.descriptor, self.descriptor.bounds.len() + 1);
        if table.series().len() >= self.config.cardinality_limit {
            self.overflowed.add(1);
            let overflow = [(OVERFLOW_LABEL, "true")];
            return Ok(table.overflow_or(descriptor, || {
                Series::new(LabelSet::new(&overflow, &overflow, labels::hash(&overflow)), true, descriptor, buckets)
            }));
        }
        let series =
            Arc::new(Series::new(LabelSet::new(sorted, labels, labels::hash(labels)), false, descriptor, buckets));
        table.insert(series.clone(), descriptor);
        Ok(series)
    }

    /// How many updates went to the overflow series for want of room.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.get()
    }

    /// How many series the instrument has (the overflow series not counted).
    pub fn series_count(&self) -> usize {
        self.table.lock().series().len()
    }

    /// Takes every series updated since the last collection, for an export
    /// ending at `now_ms`; drops series idle for too long.
    fn collect(self: &Arc<Self>, now_ms: u64, since_ms: u64, out: &mut Vec<Point>) {
        let mut table = self.table.lock();
        let mut stale = false;
        for series in table.series().iter().chain(table.overflow()) {
            let mut totals = series.totals.lock();
            let start = *totals.start_ms.get_or_insert(since_ms);
            let touched = series.touched.swap(false, Ordering::Acquire);
            // Handles' own cells are read whether or not the series was
            // marked: their writes do not mark it.
            let mut own = series.has_writers().then(|| series.cells.zero());
            let written = own.as_mut().is_some_and(|own| series.read_writers(own, true));
            if !touched && !written {
                totals.idle += 1;
                // Only the table holds it: no bound handle would miss it.
                stale |= totals.idle >= self.config.stale_after && Arc::strong_count(series) == 1 && !series.overflow;
                continue;
            }
            totals.idle = 0;
            let mut value = series.cells.take();
            if let Some(own) = &own {
                value.merge(own);
            }
            totals.value.merge(&value);
            if let Value::Sum(delta) = value {
                series.scalar_total.add(delta);
            }
            let (value, start_ms) = match self.config.temporality {
                Temporality::Delta => (value, since_ms),
                Temporality::Cumulative => (totals.value.clone(), start),
            };
            out.push(Point { instrument: self.clone(), series: series.clone(), start_ms, end_ms: now_ms, value });
        }
        if stale {
            let after = self.config.stale_after;
            table.retain(&self.descriptor, |s| {
                if Arc::strong_count(s) > 1 || s.totals.lock().idle < after {
                    return true;
                }
                // No handle holds it now and none can be made while the
                // table is locked; but one may have written and gone since
                // the loop above read it. Then it stays, for the next
                // collection to read.
                core::sync::atomic::fence(Ordering::Acquire);
                s.touched.load(Ordering::Acquire) || s.has_unread_writes()
            });
        }
    }

    /// Every series with everything recorded so far (totals and the open
    /// interval), for an exposition that wants cumulative values.
    pub fn snapshot(&self, mut each: impl FnMut(&Series, &Value)) {
        let table = self.table.lock();
        for series in table.series().iter().chain(table.overflow()) {
            match series.scalar() {
                Some(v) if matches!(series.cells, Cells::Gauge(_)) => each(series, &Value::Gauge(v)),
                Some(v) => each(series, &Value::Sum(v)),
                None => each(series, &series.value_so_far()),
            }
        }
    }

    /// Gives `f` the instrument's series table, locked, for an
    /// exposition that reads every series with its text.
    #[cfg(feature = "std")]
    pub(super) fn expose<R>(&self, f: impl FnOnce(&Table) -> R) -> R {
        f(&self.table.lock())
    }
}

/// One series' value for one export.
#[derive(Debug, Clone)]
pub struct Point {
    /// The series' instrument.
    pub instrument: Arc<Instrument>,
    /// The series.
    pub series: Arc<Series>,
    /// Start of what the value covers (Unix ms).
    pub start_ms: u64,
    /// End of it: the collection's time.
    pub end_ms: u64,
    /// The value.
    pub value: Value,
}

/// Every instrument of a client.
#[derive(Debug, Default)]
pub struct Registry {
    config: RegistryConfig,
    instruments: SpinLock<Vec<Arc<Instrument>>>,
    last_collect_ms: SpinLock<Option<u64>>,
}

impl Registry {
    /// A registry whose instruments follow `config`.
    pub fn new(config: RegistryConfig) -> Self {
        Registry { config, instruments: SpinLock::new(Vec::new()), last_collect_ms: SpinLock::new(None) }
    }

    /// The registry's configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The instrument described, after checking the description. The same
    /// name again gives the same instrument when the rest of the
    /// description agrees, and an error naming the difference otherwise.
    pub fn instrument(&self, descriptor: Descriptor) -> Result<Arc<Instrument>, InstrumentError> {
        descriptor.validate()?;
        let mut instruments = self.instruments.lock();
        if let Some(existing) = instruments.iter().find(|i| i.descriptor.name == descriptor.name) {
            return match existing.descriptor.same_as(&descriptor) {
                Ok(()) => Ok(existing.clone()),
                Err(difference) => Err(InstrumentError::name(&descriptor.name, difference)),
            };
        }
        let instrument = Arc::new(Instrument {
            descriptor,
            config: self.config,
            table: SpinLock::new(Table::default()),
            overflowed: Word::new(0),
        });
        instruments.push(instrument.clone());
        Ok(instrument)
    }

    /// The instruments, in the order they were made.
    pub fn instruments(&self) -> Vec<Arc<Instrument>> {
        self.instruments.lock().clone()
    }

    /// Every series updated since the last collection, as of `now_ms`
    /// (Unix ms). The first collection's interval starts at `now_ms` minus
    /// nothing known: at the time the registry first collected.
    pub fn collect(&self, now_ms: u64) -> Vec<Point> {
        let since = self.last_collect_ms.lock().replace(now_ms).unwrap_or(now_ms);
        let mut points = Vec::new();
        for instrument in self.instruments() {
            instrument.collect(now_ms, since, &mut points);
        }
        points
    }

    /// The registry's counters: series made, updates that overflowed.
    pub fn stats(&self) -> RegistryStats {
        let instruments = self.instruments();
        RegistryStats {
            instruments: instruments.len(),
            series: instruments.iter().map(|i| i.series_count()).sum(),
            overflowed: instruments.iter().map(|i| i.overflowed()).sum(),
        }
    }
}

/// What [`Registry::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryStats {
    /// Instruments made.
    pub instruments: usize,
    /// Their series (overflow series not counted).
    pub series: usize,
    /// Updates sent to an overflow series because the instrument was at its cardinality limit.
    pub overflowed: u64,
}

/// The name of a label set for messages and tests: `{a="1",b="2"}`.
pub fn describe(labels: &LabelSet) -> String {
    let mut text = String::from("{");
    for (i, (k, v)) in labels.pairs().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(k);
        text.push_str("=\"");
        text.push_str(v);
        text.push('"');
    }
    text.push('}');
    text
}
