//! The instruments of the native client: builders on `MetricClient`, and
//! handles that record with labels or, bound to a label set, without a
//! lookup. Values are aggregated in the client and sent every
//! `instrument_interval` as rows of the instrument collections (see
//! `engine::instruments::rows`); `render_prometheus` gives the same
//! instruments in the Prometheus text format.
//!
//! ```no_run
//! # async fn demo(client: edgemetrics::native::MetricClient) -> Result<(), edgemetrics::native::Error> {
//! let requests = client.counter("http.requests").unit("1").description("requests served").build()?;
//! requests.add(1, &[("route", "/"), ("code", "200")])?;
//! let latency = client.histogram("http.latency").unit("ms").bounds(&[5.0, 10.0, 50.0]).build()?;
//! let home = latency.bind(&[("route", "/")])?;
//! home.record(12.5)?;
//! # Ok(()) }
//! ```

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use super::{Error, MetricClient};
use crate::engine::instruments::{Bound, Descriptor, Instrument, Kind, SharedBound};

/// A number an instrument takes: any integer or float, recorded as an `f64`
/// (integers are exact up to 2^53).
pub trait Number: Copy {
    /// The value as an `f64`.
    fn to_f64(self) -> f64;

    /// The value as a whole number, for the integer types: a counter adds
    /// it without going through a float.
    #[inline]
    fn whole(self) -> Option<i64> {
        None
    }
}

macro_rules! numbers {
    (whole: $($t:ty),*) => {$(
        impl Number for $t {
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn whole(self) -> Option<i64> {
                i64::try_from(self).ok()
            }
        }
    )*};
    (float: $($t:ty),*) => {$(
        impl Number for $t {
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
numbers!(whole: u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);
numbers!(float: f32, f64);

/// Builds an instrument: its unit, description and (for a histogram) bounds.
#[must_use = "build() makes the instrument"]
pub struct InstrumentBuilder<'c, T> {
    client: &'c MetricClient,
    descriptor: Descriptor,
    handle: PhantomData<T>,
}

impl<T: From<Arc<Instrument>>> InstrumentBuilder<'_, T> {
    /// The unit (UCUM: `"ms"`, `"By"`, `"1"`, ...).
    pub fn unit(mut self, unit: &str) -> Self {
        self.descriptor.unit = unit.into();
        self
    }

    /// What the instrument measures (the Prometheus `# HELP` line).
    pub fn description(mut self, description: &str) -> Self {
        self.descriptor.description = description.into();
        self
    }

    /// Makes the instrument, or gives the one of this name made before
    /// (when it agrees), or an error naming what is wrong.
    pub fn build(self) -> Result<T, Error> {
        let instrument = self.client.inner.core.instruments.registry.instrument(self.descriptor)?;
        Ok(T::from(instrument))
    }
}

impl InstrumentBuilder<'_, Histogram> {
    /// The bucket bounds, increasing (OpenTelemetry's defaults otherwise:
    /// 0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000).
    pub fn bounds(mut self, bounds: &[f64]) -> Self {
        self.descriptor.bounds = Arc::from(bounds);
        self
    }
}

impl MetricClient {
    fn instrument<T>(&self, kind: Kind, name: &str) -> InstrumentBuilder<'_, T> {
        InstrumentBuilder { client: self, descriptor: Descriptor::new(kind, name), handle: PhantomData }
    }

    /// A counter: adds non-negative amounts (requests, bytes).
    pub fn counter(&self, name: &str) -> InstrumentBuilder<'_, Counter> {
        self.instrument(Kind::Counter, name)
    }

    /// An up-down counter: adds amounts of either sign (items in a queue).
    pub fn up_down_counter(&self, name: &str) -> InstrumentBuilder<'_, UpDownCounter> {
        self.instrument(Kind::UpDownCounter, name)
    }

    /// A gauge: the last value set (a temperature, a pool's size).
    pub fn gauge(&self, name: &str) -> InstrumentBuilder<'_, Gauge> {
        self.instrument(Kind::Gauge, name)
    }

    /// A histogram with explicit bucket bounds.
    pub fn histogram(&self, name: &str) -> InstrumentBuilder<'_, Histogram> {
        self.instrument(Kind::Histogram, name)
    }

    /// A base-2 exponential histogram (OpenTelemetry's): buckets that follow
    /// the values' range, at most 160 per sign.
    pub fn exponential_histogram(&self, name: &str) -> InstrumentBuilder<'_, Histogram> {
        self.instrument(Kind::ExponentialHistogram, name)
    }

    /// A summary: quantiles from a sketch (within 1%), no samples kept.
    pub fn summary(&self, name: &str) -> InstrumentBuilder<'_, Histogram> {
        self.instrument(Kind::Summary, name)
    }

    /// A timer: a histogram of durations in seconds (unit `s`), recorded by
    /// [`Timer::start`] or [`Timer::time`].
    pub fn timer(&self, name: &str) -> InstrumentBuilder<'_, Timer> {
        let mut builder = self.instrument(Kind::Histogram, name);
        builder.descriptor.unit = "s".into();
        builder.descriptor.bounds =
            Arc::from(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0][..]);
        builder
    }

    /// Every instrument in the Prometheus text exposition format (version
    /// 0.0.4), with cumulative values: serve it at `/metrics`.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        crate::engine::instruments::prometheus::render(&self.inner.core.instruments.registry, &mut out);
        out
    }

    /// Instruments made, their series, and updates that went to an overflow
    /// series because an instrument was at its cardinality limit.
    pub fn instrument_stats(&self) -> super::InstrumentStats {
        self.inner.core.instruments.registry.stats()
    }
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $bound:ident, $verb:ident) => {
        handle!($(#[$doc])* $name, $bound, $verb, bind);
    };
    ($(#[$doc:meta])* $name:ident, $bound:ident, $verb:ident, $bind:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(Arc<Instrument>);

        impl From<Arc<Instrument>> for $name {
            fn from(instrument: Arc<Instrument>) -> Self {
                $name(instrument)
            }
        }

        impl $name {
            /// Records `value` for the series of `labels` (in any order).
            /// (A counter or up-down counter adds an integer without a
            /// float.)
            #[inline]
            pub fn $verb(&self, value: impl Number, labels: &[(&str, &str)]) -> Result<(), Error> {
                match value.whole() {
                    Some(n) => Ok(self.0.add_whole(n, labels)?),
                    None => Ok(self.0.record(value.to_f64(), labels)?),
                }
            }

            /// The series of `labels`, to record into without a lookup.
            pub fn bind(&self, labels: &[(&str, &str)]) -> Result<$bound, Error> {
                Ok($bound(self.0.$bind(labels)?))
            }

            /// The instrument's name.
            pub fn name(&self) -> &str {
                &self.0.descriptor().name
            }
        }
    };
}

handle!(
    /// A counter (see [`MetricClient::counter`]).
    Counter, BoundCounter, add
);
handle!(
    /// An up-down counter (see [`MetricClient::up_down_counter`]).
    UpDownCounter, BoundCounter, add
);
handle!(
    /// A gauge (see [`MetricClient::gauge`]).
    Gauge, BoundGauge, set, bind_shared
);
handle!(
    /// A histogram, an exponential histogram or a summary.
    Histogram, BoundHistogram, record
);

macro_rules! bound {
    ($(#[$doc:meta])* $name:ident, $verb:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(Bound);

        impl $name {
            /// Records `value` for the bound series.
            #[inline]
            pub fn $verb(&self, value: impl Number) -> Result<(), Error> {
                match value.whole() {
                    Some(n) => Ok(self.0.add_whole(n)?),
                    None => Ok(self.0.record(value.to_f64())?),
                }
            }
        }
    };
}

bound!(
    /// A counter's series, bound to its labels: `Send`, not `Sync`, since
    /// it writes cells of its own with plain stores (about 1 ns an add);
    /// clone it for each thread that writes.
    BoundCounter, add
);
/// A gauge's series, bound to its labels: `Send` and `Sync` (a gauge's set
/// stores into the series' shared cells); share it freely.
#[derive(Debug, Clone)]
pub struct BoundGauge(SharedBound);

impl BoundGauge {
    /// Sets the bound series' value.
    #[inline]
    pub fn set(&self, value: impl Number) -> Result<(), Error> {
        Ok(self.0.record(value.to_f64())?)
    }
}

bound!(
    /// A histogram's series, bound to its labels: `Send`, not `Sync`, as a
    /// [`BoundCounter`] is; clone it for each thread that writes.
    BoundHistogram, record
);

/// A timer (see [`MetricClient::timer`]).
#[derive(Debug, Clone)]
pub struct Timer(Arc<Instrument>);

impl From<Arc<Instrument>> for Timer {
    fn from(instrument: Arc<Instrument>) -> Self {
        Timer(instrument)
    }
}

impl Timer {
    /// Starts timing; the duration is recorded for `labels` when the guard
    /// is dropped or stopped.
    pub fn start(&self, labels: &[(&str, &str)]) -> Result<TimerGuard, Error> {
        Ok(TimerGuard { series: Some(self.0.bind_shared(labels)?), started: Instant::now() })
    }

    /// Runs `f` and records how long it took.
    pub fn time<R>(&self, labels: &[(&str, &str)], f: impl FnOnce() -> R) -> Result<R, Error> {
        let started = Instant::now();
        let result = f();
        self.0.record(started.elapsed().as_secs_f64(), labels)?;
        Ok(result)
    }

    /// Records a duration measured elsewhere, in seconds.
    pub fn record(&self, seconds: impl Number, labels: &[(&str, &str)]) -> Result<(), Error> {
        Ok(self.0.record(seconds.to_f64(), labels)?)
    }
}

/// A running measurement of a [`Timer`].
#[derive(Debug)]
pub struct TimerGuard {
    series: Option<SharedBound>,
    started: Instant,
}

impl TimerGuard {
    /// Stops and records; returns the duration in seconds.
    pub fn stop(mut self) -> f64 {
        self.finish()
    }

    fn finish(&mut self) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64();
        if let Some(series) = self.series.take() {
            // A duration is finite and not negative: nothing to refuse.
            let _ = series.record(seconds);
        }
        seconds
    }
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_gauge_is_shared_by_threads() {
        fn shareable<T: Send + Sync>(_: &T) {}
        let registry = crate::engine::instruments::Registry::new(Default::default());
        let gauge = Gauge(registry.instrument(Descriptor::new(Kind::Gauge, "g")).unwrap());
        let bound = gauge.bind(&[("k", "v")]).unwrap();
        shareable(&bound);
        std::thread::scope(|s| {
            s.spawn(|| bound.set(1.5).unwrap());
            s.spawn(|| bound.set(2.5).unwrap());
        });
        assert_eq!(bound.set(f64::NAN).unwrap_err().to_string(), gauge.set(f64::NAN, &[]).unwrap_err().to_string());
    }
}
