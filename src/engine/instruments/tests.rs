//! The instruments aggregated over intervals with a fake clock: exact sums,
//! counts, buckets, extremes, scales and quantiles; labels in any order are
//! one series; the cardinality limit, stale series and bound handles.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::*;

fn registry(temporality: Temporality) -> Registry {
    Registry::new(RegistryConfig { temporality, cardinality_limit: 4, stale_after: 2 })
}

fn make(r: &Registry, kind: Kind, name: &str) -> Arc<Instrument> {
    r.instrument(Descriptor::new(kind, name)).unwrap()
}

/// The points of a collection as `(labels, value)`, sorted by labels.
fn points(r: &Registry, now: u64) -> Vec<(String, Value, u64, u64)> {
    let mut out: Vec<_> =
        r.collect(now).into_iter().map(|p| (describe(p.series.labels()), p.value, p.start_ms, p.end_ms)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn counters_sum_each_interval_and_labels_in_any_order_are_one_series() {
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "http.requests");
    c.record(1.0, &[("route", "/"), ("code", "200")]).unwrap();
    c.record(2.0, &[("code", "200"), ("route", "/")]).unwrap();
    c.record(5.0, &[("route", "/a"), ("code", "500")]).unwrap();
    assert_eq!(
        points(&r, 1000),
        [
            (String::from(r#"{code="200",route="/"}"#), Value::Sum(3.0), 1000, 1000),
            (String::from(r#"{code="500",route="/a"}"#), Value::Sum(5.0), 1000, 1000),
        ]
    );
    c.record(0.5, &[("route", "/"), ("code", "200")]).unwrap();
    // Only the series updated in the interval, covering it.
    assert_eq!(points(&r, 2000), [(String::from(r#"{code="200",route="/"}"#), Value::Sum(0.5), 1000, 2000)]);
    assert_eq!(points(&r, 3000), [], "nothing is sent for an interval without updates");
    assert_eq!(c.series_count(), 1, "the series idle for two collections is gone");
}

#[test]
fn whole_adds_are_counted_as_float_adds_are() {
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "c");
    c.add_whole(2, &[("route", "/"), ("code", "200")]).unwrap();
    c.record(1.5, &[("code", "200"), ("route", "/")]).unwrap();
    // Past 2^53 as a float, as `record` takes them: a whole cell wraps.
    c.add_whole(i64::MAX, &[("route", "/big")]).unwrap();
    c.add_whole(i64::MAX, &[("route", "/big")]).unwrap();
    let bound = c.bind(&[("route", "/bound")]).unwrap();
    bound.add_whole(i64::MAX).unwrap();
    bound.add_whole(i64::MAX).unwrap();
    assert_eq!(
        c.add_whole(-1, &[("route", "/new")]).unwrap_err().to_string(),
        "value -1 is negative: a counter only adds"
    );
    assert_eq!(c.series_count(), 3, "nothing made of the refused value");
    let u = make(&r, Kind::UpDownCounter, "u");
    u.add_whole(4, &[]).unwrap();
    u.add_whole(-6, &[]).unwrap();
    // The other kinds take a whole number as any other.
    let g = make(&r, Kind::Gauge, "g");
    g.add_whole(7, &[]).unwrap();
    let h = make(&r, Kind::Histogram, "h");
    h.add_whole(7, &[]).unwrap();
    let values: Vec<(String, Value)> = points(&r, 1000).into_iter().map(|(name, value, ..)| (name, value)).collect();
    let sum = |v: f64| Value::Sum(v);
    let twice_max = 2.0 * i64::MAX as f64;
    assert_eq!(
        values[..5],
        [
            (String::from(r#"{code="200",route="/"}"#), sum(3.5)),
            (String::from(r#"{route="/big"}"#), sum(twice_max)),
            (String::from(r#"{route="/bound"}"#), sum(twice_max)),
            (String::from("{}"), sum(-2.0)),
            (String::from("{}"), Value::Gauge(7.0)),
        ]
    );
    let Value::Histogram(buckets) = &values[5].1 else { panic!("{values:?}") };
    assert_eq!((buckets.count, buckets.sum, buckets.counts[2]), (1, 7.0, 1), "(5, 10]");
}

#[test]
fn cumulative_temporality_reports_totals_from_the_series_start() {
    let r = registry(Temporality::Cumulative);
    let c = make(&r, Kind::UpDownCounter, "queue.depth");
    c.record(4.0, &[]).unwrap();
    assert_eq!(points(&r, 10), [(String::from("{}"), Value::Sum(4.0), 10, 10)]);
    c.record(-6.0, &[]).unwrap();
    assert_eq!(points(&r, 20), [(String::from("{}"), Value::Sum(-2.0), 10, 20)]);
}

#[test]
fn bad_values_names_and_labels_are_refused_naming_them() {
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "c");
    assert_eq!(c.record(-1.0, &[]).unwrap_err().to_string(), "value -1 is negative: a counter only adds");
    assert_eq!(c.record(f64::NAN, &[]).unwrap_err().to_string(), "value NaN is not a number");
    assert_eq!(c.record(f64::INFINITY, &[]).unwrap_err().to_string(), "value inf is infinite");
    assert_eq!(
        c.record(1.0, &[("bad-key", "v")]).unwrap_err().to_string(),
        "label \"bad-key\" is not a label name: 1 to 128 of [A-Za-z0-9_.], not starting with a digit, a dot or __"
    );
    assert_eq!(c.record(1.0, &[("a", "1"), ("a", "2")]).unwrap_err().to_string(), "label \"a\" is given twice");
    let many: Vec<(&str, &str)> = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q"]
        .iter()
        .map(|k| (*k, ""))
        .collect();
    assert_eq!(c.record(1.0, &many).unwrap_err().to_string(), "17 labels are too many: at most 16 per value");
    assert_eq!(c.series_count(), 0, "nothing made of the refused values");
    let name = r.instrument(Descriptor::new(Kind::Counter, "9lives")).unwrap_err();
    assert_eq!(
        name.to_string(),
        "name \"9lives\" is not an instrument name: 1 to 255 of [A-Za-z0-9_.-], starting with a letter"
    );
    assert!(make(&r, Kind::UpDownCounter, "u").record(-5.0, &[]).is_ok(), "an up-down counter takes negative values");
    let again = r.instrument(Descriptor::new(Kind::Gauge, "c")).unwrap_err();
    assert_eq!(again.to_string(), "name \"c\" is already an instrument of another kind");
    assert!(Arc::ptr_eq(&make(&r, Kind::Counter, "c"), &c), "the same description gives the same instrument");
    let mut bounds = Descriptor::new(Kind::Histogram, "h");
    bounds.bounds = Arc::from(&[1.0, 1.0][..]);
    assert_eq!(r.instrument(bounds).unwrap_err().what, "bounds");
}

#[test]
fn gauges_keep_the_last_value_of_the_interval() {
    let r = registry(Temporality::Delta);
    let g = make(&r, Kind::Gauge, "temperature");
    g.record(20.5, &[("room", "a")]).unwrap();
    g.record(21.0, &[("room", "a")]).unwrap();
    assert_eq!(points(&r, 1), [(String::from(r#"{room="a"}"#), Value::Gauge(21.0), 1, 1)]);
}

#[test]
fn histograms_count_into_upper_inclusive_buckets_with_exact_stats() {
    let r = registry(Temporality::Delta);
    let mut d = Descriptor::new(Kind::Histogram, "latency");
    d.bounds = Arc::from(&[1.0, 5.0, 10.0][..]);
    let h = r.instrument(d).unwrap();
    for v in [0.5, 1.0, 1.5, 5.0, 9.0, 10.0, 11.0, 100.0] {
        h.record(v, &[]).unwrap();
    }
    let [(_, Value::Histogram(b), _, _)] = &points(&r, 5)[..] else { panic!("one histogram point") };
    assert_eq!(b.counts, [2, 2, 2, 2]);
    assert_eq!((b.count, b.sum, b.min, b.max), (8, 138.0, 0.5, 100.0));
    h.record(-3.0, &[]).unwrap();
    let [(_, Value::Histogram(b), _, _)] = &points(&r, 6)[..] else { panic!("one histogram point") };
    assert_eq!((b.counts.as_slice(), b.count, b.min, b.max), (&[1, 0, 0, 0][..], 1, -3.0, -3.0), "the interval alone");
}

#[test]
fn exponential_histograms_and_summaries_aggregate_per_interval() {
    let r = registry(Temporality::Delta);
    let e = make(&r, Kind::ExponentialHistogram, "size");
    let s = make(&r, Kind::Summary, "rtt");
    for i in 1..=1000 {
        e.record(f64::from(i), &[]).unwrap();
        s.record(f64::from(i), &[]).unwrap();
    }
    let got = points(&r, 9);
    let exponential = got
        .iter()
        .find_map(|p| match &p.1 {
            Value::Exponential(h) => Some(h.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((exponential.count, exponential.sum, exponential.min, exponential.max), (1000, 500_500.0, 1.0, 1000.0));
    assert_eq!(exponential.positive.counts.iter().sum::<u64>(), 1000);
    assert!(exponential.scale < MAX_SCALE && exponential.positive.counts.len() <= MAX_BUCKETS);
    let sketch = got
        .iter()
        .find_map(|p| match &p.1 {
            Value::Summary(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    let median = sketch.quantile(0.5);
    assert!((median - 500.0).abs() <= 500.0 * RELATIVE_ACCURACY, "{median}");
    assert!(points(&r, 10).is_empty());
}

#[test]
fn past_the_cardinality_limit_values_go_to_one_overflow_series_and_are_counted() {
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "c");
    let values: Vec<String> = (0..10).map(|i| alloc::format!("{i}")).collect();
    for v in &values {
        c.record(1.0, &[("k", v)]).unwrap();
    }
    assert_eq!(c.series_count(), 4);
    assert_eq!(c.overflowed(), 6);
    assert_eq!(r.stats(), RegistryStats { instruments: 1, series: 4, overflowed: 6 });
    let got = points(&r, 1);
    assert_eq!(got.len(), 5);
    assert_eq!(got[4], (String::from(r#"{otel.metric.overflow="true"}"#), Value::Sum(6.0), 1, 1));
    // A series that exists still takes its values, at the limit.
    c.record(1.0, &[("k", "0")]).unwrap();
    assert_eq!(points(&r, 2)[0].1, Value::Sum(1.0));
}

#[test]
fn idle_series_are_dropped_unless_a_bound_handle_holds_them() {
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "c");
    let bound = c.bind(&[("held", "yes")]).unwrap();
    bound.record(1.0).unwrap();
    c.record(1.0, &[("held", "no")]).unwrap();
    r.collect(1);
    r.collect(2);
    r.collect(3);
    assert_eq!(c.series_count(), 1, "the idle series without a handle is gone");
    bound.record(2.0).unwrap();
    assert_eq!(points(&r, 4), [(String::from(r#"{held="yes"}"#), Value::Sum(2.0), 3, 4)]);
    assert_eq!(bound.record(-1.0).unwrap_err().what, "value");
    c.record(3.0, &[("held", "no")]).unwrap();
    assert_eq!(points(&r, 5), [(String::from(r#"{held="no"}"#), Value::Sum(3.0), 4, 5)], "made again, from zero");
}

#[test]
fn concurrent_updates_are_all_counted() {
    let r = Arc::new(registry(Temporality::Delta));
    let c = make(&r, Kind::Counter, "c");
    let h = make(&r, Kind::Histogram, "h");
    std::thread::scope(|s| {
        for t in 0..4 {
            let (c, h) = (c.clone(), h.clone());
            s.spawn(move || {
                let label = alloc::format!("{}", t % 2);
                for _ in 0..5000 {
                    c.record(1.0, &[("t", &label)]).unwrap();
                    h.record(3.0, &[]).unwrap();
                }
            });
        }
    });
    let got = points(&r, 1);
    let sums: Vec<&Value> = got.iter().map(|p| &p.1).collect();
    assert!(sums.contains(&&Value::Sum(10_000.0)));
    let hist = got
        .iter()
        .find_map(|p| match &p.1 {
            Value::Histogram(b) => Some(b.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((hist.count, hist.sum), (20_000, 60_000.0));
}

#[test]
fn rows_encode_with_their_collection_schemas() {
    use crate::engine::avro::{Value as Avro, decode_all};
    use crate::engine::schema::Schema;
    let r = registry(Temporality::Cumulative);
    make(&r, Kind::Counter, "c").record(2.0, &[("a", "b")]).unwrap();
    make(&r, Kind::Gauge, "g").record(-1.5, &[]).unwrap();
    make(&r, Kind::Histogram, "h").record(7.0, &[]).unwrap();
    make(&r, Kind::ExponentialHistogram, "e").record(7.0, &[]).unwrap();
    make(&r, Kind::Summary, "s").record(7.0, &[]).unwrap();
    let points = r.collect(42);
    assert_eq!(points.len(), 5);
    for point in &points {
        let index = rows::collection_index(point.series_kind());
        let schema = Schema::parse(&rows::schema(index)).unwrap();
        assert_eq!(schema.collection(), rows::COLLECTIONS[index]);
        assert_eq!(schema.wire_form(), rows::schema(index), "the browser build sends the native build's text");
        let mut bytes = Vec::new();
        rows::Row { point, temporality: Temporality::Cumulative }.write(&mut bytes);
        let [Avro::Record(fields)] = &decode_all(&schema, &bytes, 1).unwrap()[..] else { panic!("one record") };
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(field("name"), Avro::String(point.instrument.descriptor().name.clone()));
        assert_eq!(field("overflow"), Avro::Boolean(false));
        if index != 1 {
            assert_eq!(field("end_ms"), Avro::Long(42));
            assert_eq!(field("temporality"), Avro::Enum(1, String::from("cumulative")));
        }
        assert_eq!(
            field("labels"),
            Avro::Map(
                point.series.labels().pairs().map(|(k, v)| (String::from(k), Avro::String(String::from(v)))).collect()
            )
        );
    }
}

/// The sum of every `Sum` point and the merged histogram of every
/// `Histogram` point of a collection, added to `into`.
fn gather(r: &Registry, now: u64, sum: &mut f64, hist: &mut Option<Value>) {
    for point in r.collect(now) {
        match (&point.value, hist.as_mut()) {
            (Value::Sum(v), _) => *sum += v,
            (Value::Histogram(_), Some(h)) => h.merge(&point.value),
            (Value::Histogram(_), None) => *hist = Some(point.value.clone()),
            _ => {}
        }
    }
}

/// Collects over and over until `done`: the sums and histogram gathered,
/// and the next collection's time.
fn gather_until(r: &Registry, done: &core::sync::atomic::AtomicBool) -> (f64, Option<Value>, u64) {
    let (mut sum, mut hist, mut now) = (0.0, None, 1);
    while !done.load(core::sync::atomic::Ordering::Relaxed) {
        gather(r, now, &mut sum, &mut hist);
        now += 1;
    }
    (sum, hist, now)
}

#[test]
fn bound_handles_lose_nothing_to_collections_racing_them() {
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "c");
    let h = r
        .instrument(Descriptor { bounds: Arc::from(&[1.0, 10.0][..]), ..Descriptor::new(Kind::Histogram, "h") })
        .unwrap();
    let (counter, histogram) = (c.bind(&[("k", "v")]).unwrap(), h.bind(&[]).unwrap());
    let done = core::sync::atomic::AtomicBool::new(false);
    let (sum, hist) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..3)
            .map(|t| {
                // A clone per thread: each writes cells of its own.
                let (counter, histogram, c) = (counter.clone(), histogram.clone(), c.clone());
                s.spawn(move || {
                    for i in 0..20_000u32 {
                        counter.record(1.0).unwrap();
                        if i % 4 == 0 {
                            counter.record(0.25).unwrap();
                            c.record(2.0, &[("k", "v")]).unwrap();
                        }
                        histogram.record(f64::from(t * 20_000 + i % 20)).unwrap();
                    }
                })
            })
            .collect();
        let (r, done) = (&r, &done);
        let collector = s.spawn(move || gather_until(r, done));
        writers.into_iter().for_each(|w| w.join().unwrap());
        done.store(true, core::sync::atomic::Ordering::Relaxed);
        let (mut sum, mut hist, now) = collector.join().unwrap();
        // The handles are still held: what they wrote after the last read.
        gather(r, now, &mut sum, &mut hist);
        (sum, hist)
    });
    assert_eq!(sum, 3.0 * 20_000.0 * (1.0 + 0.25 / 4.0 + 2.0 / 4.0));
    let Some(Value::Histogram(hist)) = hist else { panic!("no histogram") };
    // Thread 0 records 0..=19 a thousand times each; threads 1 and 2 above 20,000.
    assert_eq!(hist.counts, [2_000, 9_000, 49_000]);
    assert_eq!(hist.count, 60_000);
    let sum: u64 = (0..3u64).map(|t| (0..20_000).map(|i| t * 20_000 + i % 20).sum::<u64>()).sum();
    assert_eq!(hist.sum, sum as f64);
    assert_eq!((hist.min, hist.max), (0.0, 40_019.0));
}

#[test]
fn a_dropped_handle_is_read_one_last_time_and_forgotten() {
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "c");
    let bound = c.bind(&[]).unwrap();
    bound.record(3.0).unwrap();
    let mut exposed = Vec::new();
    c.snapshot(|_, value| exposed.push(value.clone()));
    assert_eq!(exposed, [Value::Sum(3.0)], "the exposition sees writes not yet collected");
    drop(bound);
    assert_eq!(points(&r, 1), [(String::from("{}"), Value::Sum(3.0), 1, 1)]);
    r.collect(2);
    r.collect(3);
    assert_eq!(c.series_count(), 0, "idle, and no handle holds it");
}

#[test]
fn series_dropped_as_stale_keep_what_a_handle_wrote_just_before_it_went() {
    // Handles made, written now and then, and dropped while collections
    // mark the series idle and drop it: every write is still collected.
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "c");
    let done = core::sync::atomic::AtomicBool::new(false);
    let writes = 200_000u32;
    let sum = std::thread::scope(|s| {
        let (r, done) = (&r, &done);
        let collector = s.spawn(move || gather_until(r, done));
        for i in 0..writes {
            let bound = c.bind(&[("k", "v")]).unwrap();
            if i % 16 == 0 {
                bound.record(1.0).unwrap();
            }
            drop(bound);
        }
        done.store(true, core::sync::atomic::Ordering::Relaxed);
        let (mut sum, mut hist, now) = collector.join().unwrap();
        // What was written after the last collection.
        gather(r, now, &mut sum, &mut hist);
        sum
    });
    assert_eq!(sum, f64::from(writes / 16));
}

#[test]
fn the_exposition_text_follows_series_dropped_and_the_overflow_series() {
    // cardinality_limit 4, stale_after 2: series made, some dropped as
    // stale (the texts are written again), the overflow series after them.
    let r = registry(Temporality::Delta);
    let c = make(&r, Kind::Counter, "c");
    let g = make(&r, Kind::Gauge, "g");
    let long = "a value longer than sixteen bytes";
    for (i, route) in ["/a", "/b", long].into_iter().enumerate() {
        c.record(i as f64 + 1.0, &[("route", route), ("code", "200")]).unwrap();
    }
    r.collect(1);
    c.record(10.0, &[("code", "200"), ("route", long)]).unwrap();
    r.collect(2);
    r.collect(3);
    assert_eq!(c.series_count(), 1, "/a and /b went stale");
    // Each line's text is copied with what follows it, here characters
    // of two and three bytes, and cut back.
    for route in ["/c", "/dé€", "/e", "/f"] {
        c.record(100.0, &[("route", route), ("code", "200")]).unwrap();
    }
    g.record(-2.5, &[("k", "v")]).unwrap();
    let mut text = String::new();
    prometheus::render(&r, &mut text);
    let long_line = alloc::format!("c_total{{code=\"200\",route=\"{long}\"}} 13");
    let expected = [
        "# TYPE c_total counter",
        &long_line,
        "c_total{code=\"200\",route=\"/c\"} 100",
        "c_total{code=\"200\",route=\"/dé€\"} 100",
        "c_total{code=\"200\",route=\"/e\"} 100",
        "c_total{otel_metric_overflow=\"true\"} 100",
        "# TYPE g gauge",
        "g{k=\"v\"} -2.5",
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
    // A histogram's overflow series, written after its series.
    let h = make(&r, Kind::Histogram, "h");
    for route in ["/a", "/b", "/c", "/d", "/e"] {
        h.record(7.0, &[("route", route)]).unwrap();
    }
    text.clear();
    prometheus::render(&r, &mut text);
    let overflow = "h_bucket{otel_metric_overflow=\"true\",le=\"+Inf\"} 1\n\
                    h_sum{otel_metric_overflow=\"true\"} 7\n\
                    h_count{otel_metric_overflow=\"true\"} 1\n";
    assert!(text.ends_with(overflow), "{text}");
    assert!(text.contains("h_count{route=\"/d\"} 1\n"), "{text}");
    // A long value that differs only in its middle is another series.
    let other = "a value LONGER than sixteen bytes";
    assert_eq!(long.len(), other.len());
    let ends = |s: &'static str| (&s[..8], &s[s.len() - 8..]);
    assert_eq!(ends(long), ends(other), "the same first and last eight bytes");
    let h = make(&Registry::new(RegistryConfig::default()), Kind::Counter, "h");
    h.record(1.0, &[("route", long)]).unwrap();
    h.record(1.0, &[("route", other)]).unwrap();
    assert_eq!(h.series_count(), 2);
}

#[test]
fn numbers_are_written_as_prometheus_reads_them() {
    let cases = [
        (0.0, "0"),
        (-0.0, "0"),
        (42.0, "42"),
        (-42.0, "-42"),
        (2.5, "2.5"),
        (1e19, "10000000000000000000"),
        // 2^63 - 1024 and 2^63: either side of where a cast to i64 saturates.
        (9_223_372_036_854_774_784.0, "9223372036854774784"),
        (9_223_372_036_854_775_808.0, "9223372036854775808"),
        // 2^64: past where a cast to an integer saturates.
        (18_446_744_073_709_551_616.0, "1.8446744073709552e19"),
        (-1e300, "-1e300"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (v, text) in cases {
        let mut out = String::new();
        prometheus::push_number(&mut out, v);
        assert_eq!(out, text, "{v:?}");
        assert!(out.parse::<f64>().is_ok_and(|read| read == v || v.is_nan()) || v.is_infinite(), "{out}");
    }
}

mod lookup {
    //! The lookup (halves, long strings, the series last found, the hash) against a
    //! plain map, on label values made to share their first and last bytes.
    use alloc::collections::BTreeMap;
    use alloc::format;

    use proptest::prelude::*;

    use super::*;

    const KEYS: [&str; 5] = ["k", "key", "k_1", "kkkkkkkkkkkk", "kkkkkkkkkkkkkkkkkkkkkkkk"];

    /// A value of 0 to 40 bytes: one of a few ends around a short middle, so
    /// that many values agree on their first and last eight bytes.
    fn value() -> impl Strategy<Value = String> {
        let ends = prop_oneof![Just(""), Just("a"), Just("abcdefgh"), Just("abcdefghijkl")];
        (ends.clone(), "[ab]{0,4}", ends).prop_map(|(head, middle, tail)| format!("{head}{middle}{tail}"))
    }

    /// A label set: up to 5 of the keys, each with a value.
    fn set() -> impl Strategy<Value = BTreeMap<&'static str, String>> {
        proptest::collection::btree_map(proptest::sample::select(&KEYS[..]), value(), 0..=5)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn every_update_goes_to_its_own_series(
            sets in proptest::collection::vec(set(), 1..12),
            updates in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8, 1u32..100), 1..200),
        ) {
            // Each set beside a sibling that differs in one value by a byte
            // at its end ("a" and "aa" have the same halves).
            let sets: Vec<BTreeMap<&str, String>> = sets
                .into_iter()
                .flat_map(|set| {
                    let mut sibling = set.clone();
                    if let Some(value) = sibling.values_mut().next() {
                        value.push(value.chars().last().unwrap_or('a'));
                    }
                    [set, sibling]
                })
                .collect();
            let r = Registry::new(RegistryConfig { cardinality_limit: 100, ..RegistryConfig::default() });
            let c = r.instrument(Descriptor::new(Kind::Counter, "c")).unwrap();
            let mut expected: BTreeMap<String, f64> = BTreeMap::new();
            for (pick, turn, v) in updates {
                let set = pick.get(&sets);
                let mut pairs: Vec<(&str, &str)> = set.iter().map(|(k, v)| (*k, v.as_str())).collect();
                // The same set in another order now and then.
                let len = pairs.len().max(1);
                pairs.rotate_left(turn % len);
                if turn % 3 == 0 {
                    pairs.reverse();
                }
                c.record(f64::from(v), &pairs).unwrap();
                let name = format!("{{{}}}", set.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(","));
                *expected.entry(name).or_default() += f64::from(v);
            }
            let got: BTreeMap<String, f64> = r
                .collect(1)
                .into_iter()
                .map(|p| match p.value {
                    Value::Sum(sum) => (describe(p.series.labels()), sum),
                    other => panic!("{other:?}"),
                })
                .collect();
            prop_assert_eq!(c.series_count(), expected.len());
            prop_assert_eq!(got, expected);
        }
    }
}
