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
    let stats = client.instrument_stats();
    assert_eq!((stats.instruments, stats.series, stats.overflowed), (1, 3, 2));
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

fn parse_text(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A sample's labels as sorted pairs.
fn label_set(labels: &prometheus_parse::Labels) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    pairs.sort();
    pairs
}

/// A sample's value, with summaries' quantiles left out: the client's
/// sketch covers all time, the collector has each interval's quantiles.
fn comparable(value: &prometheus_parse::Value) -> String {
    match value {
        prometheus_parse::Value::Summary(_) => "summary".into(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_serves_what_clients_sent_as_prometheus_text() {
    serves_prometheus_text(Collector::start().await).await;
}

/// The same text from a collector storing in ClickHouse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_serves_prometheus_text_on_clickhouse() {
    let (server, _clickhouse, _dir) = collector_on_clickhouse("exposition").await;
    serves_prometheus_text(server).await;
}

async fn serves_prometheus_text(server: Collector) {
    let client = server.client().instrument_interval(Duration::from_secs(3600)).build().unwrap();
    let requests = client.counter("http.requests").description("requests served").build().unwrap();
    let depth = client.up_down_counter("queue.depth").build().unwrap();
    let temperature = client.gauge("temp").build().unwrap();
    let latency = client.histogram("http.latency").bounds(&[10.0, 100.0]).build().unwrap();
    let sizes = client.exponential_histogram("payload.size").build().unwrap();
    let rtt = client.summary("rtt").build().unwrap();
    // Two intervals, so the collector adds deltas up.
    for round in 0..2 {
        requests.add(2 + round, &[("route", "/"), ("cluster_id", "theirs")]).unwrap();
        requests.add(1, &[("route", "/b")]).unwrap();
        depth.add(3 - 4 * round, &[]).unwrap();
        temperature.set(20.0 + round as f64, &[("room", "a")]).unwrap();
        // The same values each time keep one exponential scale.
        for v in [5.0, 50.0, 500.0] {
            latency.record(v * (round + 1) as f64, &[("route", "/")]).unwrap();
            sizes.record(v, &[]).unwrap();
            rtt.record(v, &[]).unwrap();
        }
        client.flush().await.unwrap();
    }
    let ours = parse_text(&client.render_prometheus());
    let (status, text) = server.get("/metrics/instruments").await;
    assert_eq!(status, 200, "{text}");
    let theirs = parse_text(&text);
    assert_eq!(ours.samples.len(), theirs.samples.len(), "{text}");
    for sample in &ours.samples {
        let mut want = label_set(&sample.labels);
        // A user's cluster_id label is renamed beside the writer's.
        for (key, _) in want.iter_mut().filter(|(k, _)| k == "cluster_id") {
            *key = "exported_cluster_id".into();
        }
        want.push(("cluster_id".into(), CLUSTER.into()));
        want.sort();
        let found = theirs
            .samples
            .iter()
            .find(|s| s.metric == sample.metric && label_set(&s.labels) == want)
            .unwrap_or_else(|| panic!("{} {want:?} not in\n{text}", sample.metric));
        assert_eq!(comparable(&found.value), comparable(&sample.value), "{}", sample.metric);
    }
    assert!(
        text.contains("http_requests_total{exported_cluster_id=\"theirs\",route=\"/\",cluster_id=\"cluster-1\"} 5\n")
    );
    assert_eq!(theirs.docs.get("http_requests_total").map(String::as_str), Some("requests served"));

    // Another cluster's rows and a read of one cluster.
    let other = server.client().cluster_id("cluster-2").instrument_interval(Duration::from_secs(3600)).build().unwrap();
    other.counter("http.requests").build().unwrap().add(7, &[("route", "/b")]).unwrap();
    other.flush().await.unwrap();
    let (_, text) = server.get("/metrics/instruments").await;
    assert!(text.contains("http_requests_total{route=\"/b\",cluster_id=\"cluster-2\"} 7\n"), "{text}");
    assert!(text.contains("http_requests_total{route=\"/b\",cluster_id=\"cluster-1\"} 2\n"), "{text}");
    let (_, text) = server.get("/metrics/instruments?cluster_id=cluster-2").await;
    assert_eq!(parse_text(&text).samples.len(), 1, "{text}");
    let (status, _) = server.get("/metrics/instruments?cluster_id=bad%20id").await;
    assert_eq!(status, 400);
    let anonymous = reqwest::get(format!("http://{}/metrics/instruments", server.addr())).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    client.shutdown().await;
    other.shutdown().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The chart API's answer, asserting a 200.
async fn chart(server: &Collector, path: &str) -> Json {
    let (status, body) = server.get(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_charts_rates_and_quantiles() {
    charts_rates_and_quantiles(Collector::start().await).await;
}

/// The same charts from a collector storing in ClickHouse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_charts_rates_and_quantiles_on_clickhouse() {
    let (server, _clickhouse, _dir) = collector_on_clickhouse("charts").await;
    charts_rates_and_quantiles(server).await;
}

async fn charts_rates_and_quantiles(server: Collector) {
    // One step of the chart covers all the test writes: steps start at
    // multiples of their length, so start in a fresh one.
    let step = 100_000;
    if now_ms() % step > step - 10_000 {
        tokio::time::sleep(Duration::from_millis((step - now_ms() % step) as u64 + 10)).await;
    }
    let since = now_ms() / step * step;
    let until = since + step;
    let client = server.client().instrument_interval(Duration::from_secs(3600)).build().unwrap();
    let requests = client.counter("http.requests").unit("1").build().unwrap();
    let latency = client.histogram("http.latency").unit("ms").bounds(&[100.0, 250.0, 500.0, 1000.0]).build().unwrap();
    let sizes = client.exponential_histogram("payload.size").build().unwrap();
    let rtt = client.summary("rtt").build().unwrap();
    let temperature = client.gauge("temp").build().unwrap();
    for round in 0..2 {
        requests.add(60 - 20 * round, &[("route", "/")]).unwrap();
        requests.add(5, &[("route", "/b")]).unwrap();
        temperature.set(10.0 * (round + 1) as f64, &[("room", "a")]).unwrap();
        temperature.set(1.0, &[("room", "b")]).unwrap();
        for v in 1..=500 {
            let v = f64::from(v + 500 * round);
            latency.record(v, &[]).unwrap();
            sizes.record(v, &[]).unwrap();
            rtt.record(v, &[]).unwrap();
        }
        client.flush().await.unwrap();
    }
    let one_step = |path: &str| format!("/api/instruments/{path}?since_ms={since}&until_ms={until}&step_ms={step}");

    let list = chart(&server, "/api/instruments").await;
    let listed: Vec<(&str, &str, i64)> = list["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i["kind"].as_str().unwrap(), i["series"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("http.requests", "counter", 2),
            ("temp", "gauge", 2),
            ("http.latency", "histogram", 1),
            ("payload.size", "exponential_histogram", 1),
            ("rtt", "summary", 1)
        ]
    );

    let counter = chart(&server, &one_step("counters/http.requests")).await;
    assert_eq!((counter["kind"].as_str(), counter["series"].as_i64()), (Some("counter"), Some(2)));
    let increase = counter["increase"][0].as_f64().unwrap();
    assert!((increase - 110.0).abs() < 1e-9, "{counter}");
    let seconds = step as f64 / 1000.0;
    assert!((counter["rate"][0].as_f64().unwrap() - 110.0 / seconds).abs() < 1e-9);
    let route =
        chart(&server, &format!("{}&labels=%7B%22route%22%3A%22%2Fb%22%7D", one_step("counters/http.requests"))).await;
    assert_eq!((route["increase"][0].as_f64(), route["series"].as_i64()), (Some(10.0), Some(1)), "{route}");

    let gauge = chart(&server, &one_step("gauges/temp")).await;
    assert_eq!(gauge["value"][0].as_f64(), Some(21.0), "each series' last value, summed: {gauge}");

    // 1..=1000 uniformly: the median is 500, p90 900. Explicit buckets of
    // uniform values interpolate exactly; exponential ones are merged at
    // the coarser interval's scale, 4 (160 buckets over 1..=500), whose
    // buckets are 4.4% wide; the summary has its latest interval's
    // quantiles (501..=1000) within the sketch's 1%.
    for (path, tolerance, want) in [
        ("histograms/http.latency", 0.001, [500.0, 900.0]),
        ("exponential_histograms/payload.size", 0.045, [500.0, 900.0]),
        ("summaries/rtt", 0.011, [750.0, 950.0]),
    ] {
        let answer = chart(&server, &format!("{}&quantiles=0.5,0.9", one_step(path))).await;
        assert_eq!(answer["count"][0].as_f64(), Some(1000.0), "{answer}");
        assert_eq!(answer["mean"][0].as_f64(), Some(500.5), "{answer}");
        for (column, want) in answer["values"].as_array().unwrap().iter().zip(want) {
            let got = column[0].as_f64().unwrap_or_else(|| panic!("{path}: {answer}"));
            assert!((got - want).abs() <= want * tolerance, "{path}: {got} vs {want}: {answer}");
        }
    }

    // Many steps: what each interval counted stays within the range.
    let steps = chart(
        &server,
        &format!("/api/instruments/counters/http.requests?since_ms={since}&until_ms={until}&step_ms=100"),
    )
    .await;
    let total: f64 = steps["increase"].as_array().unwrap().iter().filter_map(Json::as_f64).sum();
    assert!((total - 110.0).abs() < 1e-6, "{steps}");
    assert_eq!(steps["t"].as_array().unwrap().len(), steps["increase"].as_array().unwrap().len());

    for (path, status) in [
        ("/api/instruments/users/x", 404),
        ("/api/instruments/counters/x?step_ms=0", 400),
        ("/api/instruments/counters/x?since_ms=10&until_ms=5", 400),
        ("/api/instruments/counters/x?since_ms=0&until_ms=100000000&step_ms=1", 400),
        // Steps that would overflow the times' arithmetic.
        ("/api/instruments/counters/x?since_ms=0&until_ms=10&step_ms=9223372036854775807", 400),
        ("/api/instruments/counters/x?since_ms=-9223372036854775808&until_ms=0", 400),
        ("/api/instruments/histograms/http.latency?quantiles=2", 400),
        ("/api/instruments/histograms/http.latency?labels=%5B%5D", 400),
        // Longer than any instrument's name: refused before a query is made.
        (&format!("/api/instruments/counters/{}", "n".repeat(10_000)), 400),
    ] {
        let (got, body) = server.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains("\"error\""), "{path}: {body}");
    }
    client.shutdown().await;
}

/// examples/prometheus.rs, as `cargo test` builds it beside the tests.
fn example_binary() -> std::path::PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile = test.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile.join("examples").join("prometheus");
    assert!(binary.exists(), "{} is missing: cargo build --features native --example prometheus", binary.display());
    binary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_example_serves_its_instruments_and_sends_them() {
    let server = Collector::start().await;
    let output = tokio::process::Command::new(example_binary())
        .args(["--addr", &format!("http://{}", server.addr()), "--token", TOKEN])
        .args(["--listen", "127.0.0.1:0", "--self-test", "7"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{text}\n{}", String::from_utf8_lossy(&output.stderr));
    let scrape = parse_text(&text);
    let requests =
        scrape.samples.iter().find(|s| s.metric == "http_requests_total").unwrap_or_else(|| panic!("{text}"));
    assert!(matches!(requests.value, prometheus_parse::Value::Counter(v) if v == 7.0), "{text}");
    assert_eq!(requests.labels.get("route"), Some("/hello"));
    let duration =
        scrape.samples.iter().find(|s| s.metric == "http_request_duration").unwrap_or_else(|| panic!("{text}"));
    let prometheus_parse::Value::Histogram(buckets) = &duration.value else { panic!("{text}") };
    assert_eq!(buckets.last().map(|b| b.count), Some(7.0));
    assert_eq!(buckets.iter().find(|b| b.less_than == 0.001).map(|b| b.count), Some(0.0), "each took 2 ms at least");
    // What it sent to the collector says the same.
    let (_, collected) = server.get("/metrics/instruments").await;
    assert!(
        collected.contains("http_requests_total{code=\"200\",route=\"/hello\",cluster_id=\"prometheus-example\"} 7\n"),
        "{collected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_handles_cloned_per_thread_lose_nothing() {
    let server = Collector::start().await;
    let client = server.client().instrument_interval(Duration::from_millis(5)).build().unwrap();
    let jobs = client.counter("jobs").build().unwrap().bind(&[("queue", "a")]).unwrap();
    let sizes = client.histogram("job.size").bounds(&[10.0]).build().unwrap().bind(&[]).unwrap();
    // Collections every 5 ms race the writes.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (jobs, sizes) = (jobs.clone(), sizes.clone());
            std::thread::spawn(move || {
                for i in 0..10_000u32 {
                    jobs.add(1u32).unwrap();
                    sizes.record(i % 20).unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(jobs.add(-1).unwrap_err().to_string(), "value -1 is negative: a counter only adds");
    client.flush().await.unwrap();
    let counted: f64 = rows(&server, "counters", "jobs").await.iter().map(|r| r.value.unwrap()).sum();
    assert_eq!(counted, 40_000.0);
    let histograms = rows(&server, "histograms", "job.size").await;
    let count: i64 = histograms.iter().map(|r| r.count.unwrap()).sum();
    let below: i64 = histograms.iter().map(|r| r.bucket_counts.as_ref().unwrap()[0]).sum();
    assert_eq!((count, below), (40_000, 4 * 5_500), "0..=10 is 11 of every 20");
    client.shutdown().await;
}
