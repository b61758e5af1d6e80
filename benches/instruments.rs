//! Instruments beside the libraries people use for them, on the same work
//! in one run: an update of an existing series with 4 labels, an update
//! through a handle bound to its labels, and the Prometheus text of
//! 100,000 series.
//!
//!   cargo bench --bench instruments
//!
//! Peers: `prometheus` (tikv's; `with_label_values`, and the handle it
//! returns), `metrics` with `metrics-exporter-prometheus` as the recorder
//! (`counter!` with labels, and the `Counter` it returns), and
//! `opentelemetry_sdk` (`add` with attributes, and its experimental bound
//! instruments).
//! Single-threaded, uncontended: what one update costs.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use edgemetrics::engine::instruments::{Descriptor, Instrument, Kind, Registry, RegistryConfig, prometheus as text};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;

const LABELS: [(&str, &str); 4] = [("service", "api"), ("route", "/users"), ("method", "GET"), ("code", "200")];
const NAMES: [&str; 4] = ["service", "route", "method", "code"];
const VALUES: [&str; 4] = ["api", "/users", "GET", "200"];

fn ours(kind: Kind, series: usize) -> (Registry, Arc<Instrument>) {
    let registry = Registry::new(RegistryConfig { cardinality_limit: series.max(2000), ..RegistryConfig::default() });
    let instrument = registry.instrument(Descriptor::new(kind, "requests")).unwrap();
    (registry, instrument)
}

fn updates(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter add, 4 labels");
    let (_registry, counter) = ours(Kind::Counter, 0);
    // What the native API's `Counter::add` does with an integer.
    group
        .bench_function("edgemetrics add", |b| b.iter(|| counter.add_whole(black_box(1), black_box(&LABELS)).unwrap()));
    group.bench_function("edgemetrics add, f64", |b| {
        b.iter(|| counter.record(black_box(1.0), black_box(&LABELS)).unwrap())
    });
    let bound = counter.bind(&LABELS).unwrap();
    // What the native API's `BoundCounter::add` does with an integer.
    group.bench_function("edgemetrics bound", |b| b.iter(|| bound.add_whole(black_box(1)).unwrap()));
    group.bench_function("edgemetrics bound, f64", |b| b.iter(|| bound.record(black_box(1.0)).unwrap()));

    let tikv = prometheus::IntCounterVec::new(prometheus::Opts::new("requests", "requests"), &NAMES).unwrap();
    group.bench_function("prometheus with_label_values", |b| {
        b.iter(|| tikv.with_label_values(black_box(&VALUES)).inc())
    });
    let tikv_bound = tikv.with_label_values(&VALUES);
    group.bench_function("prometheus bound", |b| b.iter(|| black_box(&tikv_bound).inc()));

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        group.bench_function("metrics counter!", |b| {
            b.iter(|| {
                metrics::counter!("requests", "service" => "api", "route" => "/users", "method" => "GET", "code" => "200")
                    .increment(black_box(1))
            })
        });
        let handle =
            metrics::counter!("requests", "service" => "api", "route" => "/users", "method" => "GET", "code" => "200");
        group.bench_function("metrics bound", |b| b.iter(|| handle.increment(black_box(1))));
    });

    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
        .build();
    let meter = provider.meter("bench");
    let otel = meter.u64_counter("requests").build();
    let attributes: Vec<KeyValue> = LABELS.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
    group.bench_function("opentelemetry_sdk add", |b| b.iter(|| otel.add(black_box(1), black_box(&attributes))));
    let otel_bound = otel.bind(&attributes);
    group.bench_function("opentelemetry_sdk bound (experimental)", |b| b.iter(|| otel_bound.add(black_box(1))));
    group.finish();

    // The same update over 64 series in turn (`route=/users/0` to `/63`):
    // what an update costs when the series is not the one updated last.
    let mut group = c.benchmark_group("counter add, 4 labels, 64 series in turn");
    let routes: Vec<String> = (0..64).map(|i| format!("/users/{i}")).collect();
    let sets: Vec<[(&str, &str); 4]> = routes
        .iter()
        .map(|r| [("service", "api"), ("route", r.as_str()), ("method", "GET"), ("code", "200")])
        .collect();
    let values: Vec<[&str; 4]> = routes.iter().map(|r| ["api", r.as_str(), "GET", "200"]).collect();
    let mut turn = 0;
    group.bench_function("edgemetrics add", |b| {
        b.iter(|| {
            turn = (turn + 1) & 63;
            counter.record(black_box(1.0), black_box(&sets[turn])).unwrap()
        })
    });
    group.bench_function("prometheus with_label_values", |b| {
        b.iter(|| {
            turn = (turn + 1) & 63;
            tikv.with_label_values(black_box(&values[turn])).inc()
        })
    });
    let otel_sets: Vec<Vec<KeyValue>> =
        sets.iter().map(|set| set.iter().map(|(k, v)| KeyValue::new(*k, v.to_string())).collect()).collect();
    group.bench_function("opentelemetry_sdk add", |b| {
        b.iter(|| {
            turn = (turn + 1) & 63;
            otel.add(black_box(1), black_box(&otel_sets[turn]))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("histogram record, 4 labels");
    let (_registry, histogram) = ours(Kind::Histogram, 0);
    group.bench_function("edgemetrics record", |b| {
        b.iter(|| histogram.record(black_box(42.0), black_box(&LABELS)).unwrap())
    });
    let bound = histogram.bind(&LABELS).unwrap();
    group.bench_function("edgemetrics bound", |b| b.iter(|| bound.record(black_box(42.0)).unwrap()));
    let tikv = prometheus::HistogramVec::new(prometheus::HistogramOpts::new("latency", "latency"), &NAMES).unwrap();
    group.bench_function("prometheus with_label_values", |b| {
        b.iter(|| tikv.with_label_values(black_box(&VALUES)).observe(black_box(42.0)))
    });
    let tikv_bound = tikv.with_label_values(&VALUES);
    group.bench_function("prometheus bound", |b| b.iter(|| tikv_bound.observe(black_box(42.0))));
    let otel = meter.f64_histogram("latency").build();
    group.bench_function("opentelemetry_sdk record", |b| {
        b.iter(|| otel.record(black_box(42.0), black_box(&attributes)))
    });
    let otel_bound = otel.bind(&attributes);
    group.bench_function("opentelemetry_sdk bound (experimental)", |b| b.iter(|| otel_bound.record(black_box(42.0))));
    group.finish();
}

/// 100,000 series of one counter: values `service=s{i % 100}, route=/r{i}`.
fn exposition(c: &mut Criterion) {
    const SERIES: usize = 100_000;
    let mut group = c.benchmark_group("Prometheus text, 100,000 series");
    group.sample_size(20);
    let (registry, counter) = ours(Kind::Counter, SERIES);
    let tikv =
        prometheus::IntCounterVec::new(prometheus::Opts::new("requests", "requests"), &["service", "route"]).unwrap();
    let tikv_registry = prometheus::Registry::new();
    tikv_registry.register(Box::new(tikv.clone())).unwrap();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    for i in 0..SERIES {
        let (service, route) = (format!("s{}", i % 100), format!("/r{i}"));
        counter.record(i as f64, &[("service", &service), ("route", &route)]).unwrap();
        tikv.with_label_values(&[service.as_str(), route.as_str()]).inc_by(i as u64);
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("requests", "service" => service.clone(), "route" => route.clone()).increment(i as u64)
        });
    }
    group.bench_with_input(BenchmarkId::new("edgemetrics", SERIES), &registry, |b, registry| {
        b.iter(|| {
            let mut out = String::new();
            text::render(registry, &mut out);
            out
        })
    });
    // A server that keeps its buffer between scrapes writes into memory
    // it has touched before: no page faults for the 5 MB.
    let mut kept = String::new();
    group.bench_with_input(BenchmarkId::new("edgemetrics, buffer kept", SERIES), &registry, |b, registry| {
        b.iter(|| {
            kept.clear();
            text::render(registry, &mut kept);
            kept.len()
        })
    });
    let encoder = prometheus::TextEncoder::new();
    group.bench_with_input(BenchmarkId::new("prometheus", SERIES), &tikv_registry, |b, registry| {
        b.iter(|| encoder.encode_to_string(&registry.gather()).unwrap())
    });
    group.bench_with_input(BenchmarkId::new("metrics-exporter-prometheus", SERIES), &handle, |b, handle| {
        b.iter(|| handle.render())
    });
    group.finish();
}

criterion_group!(benches, updates, exposition);
criterion_main!(benches);
