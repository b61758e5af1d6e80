//! A native client writing `containerMetrics` rows at a steady rate to a
//! running collector, for the dashboard (and its test) to watch live.
//!
//! `cargo run --features native --example writer -- --addr http://127.0.0.1:7070 --token dev-token --rows 20000 --rate 2000`
//!
//! `--rate 0` writes all rows at once; `--chunk-bytes` seals smaller chunks
//! (the SDK's default is 1 MiB); `--collection` names the record (the same
//! fields); `--flush-ms` is the flush interval (default 100). Exits non-zero when a row was dropped or the final flush failed.
//!
//! Beside the rows it keeps two instruments, collected every flush
//! interval, for the dashboard's instruments panel: the counter
//! `writer.rows` (labelled by collection) and the histogram
//! `writer.memory_usage` of the rows' memory in MB.

use std::time::{Duration, Instant};

use edgemetrics::{MetricClient, MetricConfig};
use serde::Serialize;

const SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},{"name":"memory_usage","type":"long"},
    {"name":"cpu_usage","type":"long"},{"name":"memory_request","type":"long"},
    {"name":"cpu_request","type":"long"}]}"#;

#[derive(Serialize)]
struct ContainerMetrics {
    container_id: String,
    memory_usage: i64,
    cpu_usage: i64,
    memory_request: i64,
    cpu_request: i64,
}

struct Args {
    addr: String,
    token: String,
    rows: u64,
    rate: u64,
    chunk_bytes: Option<usize>,
    collection: String,
    flush_ms: u64,
}

fn args() -> Args {
    let mut args = Args {
        addr: "http://127.0.0.1:7070".into(),
        token: String::new(),
        rows: 20_000,
        rate: 2000,
        chunk_bytes: None,
        collection: "containerMetrics".into(),
        flush_ms: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value(),
            "--token" => args.token = value(),
            "--rows" => args.rows = value().parse().expect("--rows takes a number"),
            "--rate" => args.rate = value().parse().expect("--rate takes rows per second"),
            "--chunk-bytes" => args.chunk_bytes = Some(value().parse().expect("--chunk-bytes takes a number")),
            "--collection" => args.collection = value(),
            "--flush-ms" => args.flush_ms = value().parse().expect("--flush-ms takes milliseconds"),
            other => panic!(
                "unknown flag {other}; flags: --addr URL --token T --rows N --rate ROWS_PER_SEC --chunk-bytes N --collection NAME --flush-ms MS"
            ),
        }
    }
    assert!(!args.token.is_empty(), "--token is required");
    args
}

/// Row `n`: memory follows a slow wave with noise, so a chart of it moves.
fn row(n: u64) -> ContainerMetrics {
    let t = n as f64 / 500.0;
    let noise = ((n * 7919) % 1000) as f64 / 1000.0;
    ContainerMetrics {
        container_id: format!("pod-{}", n % 8),
        memory_usage: (300e6 + 100e6 * t.sin() + 20e6 * noise) as i64,
        cpu_usage: (400.0 + 300.0 * (t / 3.0).cos() + 50.0 * noise) as i64,
        memory_request: 512 << 20,
        cpu_request: 500,
    }
}

#[tokio::main]
async fn main() {
    let args = args();
    let client = MetricClient::builder()
        .api_addr(&args.addr)
        .api_token(&args.token)
        .cluster_id("writer")
        .insecure(args.addr.starts_with("http://"))
        .flush_interval(Duration::from_millis(args.flush_ms))
        .max_retry_interval(Duration::from_secs(2))
        .build()
        .expect("client options are valid");
    let mut config = MetricConfig::schema(SCHEMA.replace("containerMetrics", &args.collection));
    if let Some(bytes) = args.chunk_bytes {
        config = config.max_chunk_size(bytes);
    }
    let metric = client.metric::<ContainerMetrics>(config).expect("the schema is valid");
    let rows = client.counter("writer.rows").description("rows written").build().expect("a valid name");
    let rows = rows.bind(&[("collection", args.collection.as_str())]).expect("valid labels");
    let memory = client
        .histogram("writer.memory_usage")
        .unit("MB")
        .description("memory_usage of the rows written")
        .bounds(&[200.0, 250.0, 300.0, 350.0, 400.0, 450.0])
        .build()
        .expect("a valid histogram");

    let started = Instant::now();
    let total = args.rows;
    let tick = Duration::from_millis(50);
    let mut written = 0;
    while written < total {
        let due = match args.rate {
            0 => total,
            rate => ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(total),
        };
        for n in written..due {
            let row = row(n);
            metric.write(&row).expect("the row fits the schema");
            rows.add(1).expect("a positive count");
            memory.record(row.memory_usage as f64 / 1e6, &[]).expect("a finite value");
        }
        written = due.max(written);
        tokio::time::sleep(tick).await;
    }
    let flushed = client.flush().await;
    let stats = client.shutdown().await.stats;
    println!(
        "writer: {} rows written, {} acknowledged, {} dropped, {} retries in {:.1} s",
        stats.rows_written,
        stats.rows_acked,
        stats.rows_dropped(),
        stats.retries,
        started.elapsed().as_secs_f64()
    );
    if let Err(error) = flushed {
        eprintln!("writer: flush failed: {error}");
        std::process::exit(1);
    }
    if stats.rows_dropped() > 0 {
        std::process::exit(1);
    }
}
