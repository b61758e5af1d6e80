//! The native client's instruments against the real collector: every kind
//! arrives as rows of its collection and reads back equal through the
//! query API, delta and cumulative; the Prometheus text parses with a real
//! parser and says the same values.

mod native_support;

use std::time::Duration;

use edgemetrics::Temporality;
use native_support::*;
use serde::Deserialize;
use serde_json::Value as Json;

#[derive(Debug, Deserialize)]
struct Row {
    name: String,
    labels: Json,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    count: Option<i64>,
    #[serde(default)]
    sum: Option<f64>,
    #[serde(default)]
    bucket_counts: Option<Vec<i64>>,
    #[serde(default)]
    quantiles: Option<Vec<Json>>,
    #[serde(default)]
    temporality: Option<String>,
    overflow: bool,
}

/// The rows of `collection` named `name`, by their labels' JSON.
async fn rows(server: &Collector, collection: &str, name: &str) -> Vec<Row> {
    let mut rows: Vec<Row> =
        server.json_rows::<Row>(collection, CLUSTER).await.into_iter().filter(|r| r.name == name).collect();
    rows.sort_by_key(|r| r.labels.to_string());
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_arrives_as_rows_of_its_collection() {
    let server = Collector::start().await;
    let client = server.client().instrument_interval(Duration::from_secs(3600)).build().unwrap();
    let requests = client.counter("http.requests").unit("1").description("requests served").build().unwrap();
    let depth = client.up_down_counter("queue.depth").build().unwrap();
    let temperature = client.gauge("room.temperature").unit("Cel").build().unwrap();
    let latency = client.histogram("http.latency").unit("ms").bounds(&[10.0, 100.0]).build().unwrap();
    let sizes = client.exponential_histogram("payload.size").unit("By").build().unwrap();
    let rtt = client.summary("rtt").unit("ms").build().unwrap();
    let timer = client.timer("job.duration").build().unwrap();
    for i in 0..100 {
        requests.add(1, &[("route", "/"), ("code", "200")]).unwrap();
        latency.record(f64::from(i), &[("route", "/")]).unwrap();
        sizes.record(f64::from(i + 1) * 10.0, &[]).unwrap();
        rtt.record(f64::from(i + 1), &[]).unwrap();
    }
    requests.add(3u64, &[("code", "500"), ("route", "/a")]).unwrap();
    depth.add(5, &[]).unwrap();
    depth.add(-2, &[]).unwrap();
    temperature.set(21.5, &[("room", "a")]).unwrap();
    timer.time(&[], || std::thread::sleep(Duration::from_millis(5))).unwrap();
    assert_eq!(requests.add(-1, &[]).unwrap_err().to_string(), "value -1 is negative: a counter only adds");
    client.flush().await.unwrap();

    let counters = rows(&server, "counters", "http.requests").await;
    assert_eq!(counters.len(), 2);
    assert_eq!((counters[0].value, counters[1].value), (Some(100.0), Some(3.0)));
    assert_eq!(counters[0].labels, serde_json::json!({"code": "200", "route": "/"}));
    assert_eq!(counters[0].temporality.as_deref(), Some("delta"));
    assert!(!counters[0].overflow);
    assert_eq!(rows(&server, "counters", "queue.depth").await[0].value, Some(3.0));
    assert_eq!(rows(&server, "gauges", "room.temperature").await[0].value, Some(21.5));
    let histogram = &rows(&server, "histograms", "http.latency").await[0];
    assert_eq!((histogram.count, histogram.sum), (Some(100), Some(4950.0)));
    assert_eq!(histogram.bucket_counts.as_deref(), Some(&[11, 89, 0][..]), "0..=10, 11..=99, above 100");
    let exponential = &rows(&server, "exponential_histograms", "payload.size").await[0];
    assert_eq!((exponential.count, exponential.sum), (Some(100), Some(50_500.0)));
    let summary = &rows(&server, "summaries", "rtt").await[0];
    let median =
        summary.quantiles.as_ref().unwrap().iter().find(|q| q["quantile"] == 0.5).unwrap()["value"].as_f64().unwrap();
    assert!((median - 50.0).abs() <= 0.5, "median {median}");
    let timed = &rows(&server, "histograms", "job.duration").await[0];
    assert!(timed.count == Some(1) && timed.sum.unwrap() >= 0.005, "{timed:?}");

    // The next interval carries only what was recorded in it.
    requests.add(2, &[("route", "/"), ("code", "200")]).unwrap();
    client.flush().await.unwrap();
    let counters = rows(&server, "counters", "http.requests").await;
    assert_eq!(counters.iter().map(|r| r.value.unwrap()).sum::<f64>(), 105.0);
    assert_eq!(counters.len(), 3, "one more row, for the series updated");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cumulative_rows_carry_totals_and_the_overflow_series_is_marked() {
    let server = Collector::start().await;
    let client = server
        .client()
        .instrument_interval(Duration::from_secs(3600))
        .temporality(Temporality::Cumulative)
        .cardinality_limit(3)
        .build()
        .unwrap();
    let hits = client.counter("hits").build().unwrap();
    for user in ["a", "b", "c", "d", "e"] {
        hits.add(1, &[("user", user)]).unwrap();
    }
    client.flush().await.unwrap();
    hits.add(1, &[("user", "a")]).unwrap();
    client.flush().await.unwrap();
    let rows = rows(&server, "counters", "hits").await;
    let overflow: Vec<&Row> = rows.iter().filter(|r| r.overflow).collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(
        (overflow[0].value, &overflow[0].labels),
        (Some(2.0), &serde_json::json!({"otel.metric.overflow": "true"}))
    );
    let a: Vec<f64> = rows.iter().filter(|r| r.labels["user"] == "a").map(|r| r.value.unwrap()).collect();
    assert_eq!(a, [1.0, 2.0], "the total, each time");
    assert!(rows.iter().all(|r| r.temporality.as_deref() == Some("cumulative")));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_text_parses_and_says_the_same_values() {
    let server = Collector::start().await;
    let client = server.client().build().unwrap();
    let requests = client.counter("http.requests").description("requests \"served\"\nby route").build().unwrap();
    let latency = client.histogram("http.latency").bounds(&[10.0, 100.0]).build().unwrap();
    let sizes = client.exponential_histogram("payload.size").build().unwrap();
    let rtt = client.summary("rtt").build().unwrap();
    let temperature = client.gauge("temp").build().unwrap();
    requests.add(2, &[("route", "/a\"b\\c\nd")]).unwrap();
    requests.add(1, &[]).unwrap();
    for v in [5.0, 50.0, 500.0] {
        latency.record(v, &[("route", "/")]).unwrap();
        sizes.record(v, &[]).unwrap();
        rtt.record(v, &[]).unwrap();
    }
    temperature.set(-4.25, &[]).unwrap();
    // Collected once: the text is cumulative whatever was sent.
    client.flush().await.unwrap();
    requests.add(1, &[]).unwrap();

    let text = client.render_prometheus();
    let lines: Vec<Result<String, std::io::Error>> = text.lines().map(|l| Ok(l.to_string())).collect();
    let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |name: &str, label: Option<(&str, &str)>| -> prometheus_parse::Value {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("{name} {label:?} in\n{text}"))
            .value
            .clone()
    };
    // prometheus-parse gives label values as escaped in the text.
    assert!(
        matches!(value("http_requests_total", Some(("route", r#"/a\"b\\c\nd"#))), prometheus_parse::Value::Counter(v) if v == 2.0)
    );
    assert_eq!(scrape.docs.get("http_requests_total").map(String::as_str), Some("requests \"served\"\\nby route"));
    assert!(matches!(value("temp", None), prometheus_parse::Value::Gauge(v) if v == -4.25));
    let prometheus_parse::Value::Histogram(buckets) = value("http_latency", Some(("route", "/"))) else {
        panic!("{text}")
    };
    let counts: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
    assert_eq!(counts, [(10.0, 1.0), (100.0, 2.0), (f64::INFINITY, 3.0)]);
    let prometheus_parse::Value::Histogram(exponential) = value("payload_size", None) else { panic!("{text}") };
    assert_eq!(exponential.last().map(|b| b.count), Some(3.0));
    let prometheus_parse::Value::Summary(quantiles) = value("rtt", None) else { panic!("{text}") };
    let median = quantiles.iter().find(|q| q.quantile == 0.5).unwrap().count;
    assert!((median - 50.0).abs() <= 0.5, "{median}");
    assert!(text.contains("http_requests_total 2\n"), "1 collected, 1 since: cumulative\n{text}");
    client.shutdown().await;
}
