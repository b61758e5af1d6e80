//! The demo behind `make demo`: a million rows from several threads to the
//! real collector, which is killed and restarted halfway on purpose, then a
//! report that checks the collector's own counts against the client's.
//!
//! `cargo run --release --features native --example demo -- --collector target/release/edgemetrics-collector`

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use edgemetrics::engine::stats::Event;
use edgemetrics::{MetricClient, MetricConfig};
use edgemetrics_collector::clickhouse::local::LocalClickHouse;

#[path = "support/demo_records.rs"]
mod demo_records;
use demo_records::{CONTAINER_SCHEMA, ContainerMetrics, HttpRequest, Method, REQUEST_SCHEMA};

/// What a page would ship: it may only write.
const WRITE_TOKEN: &str = "demo-write";
/// What the dashboard uses: it may only read.
const READ_TOKEN: &str = "demo-read";

struct Args {
    collector: String,
    rows: u64,
    threads: u64,
    www: Option<String>,
    hold: Duration,
    /// `--sink clickhouse`: the collector stores into a ClickHouse the demo starts.
    clickhouse: bool,
}

fn args() -> Args {
    let mut args = Args {
        collector: "target/release/edgemetrics-collector".into(),
        rows: 1_000_000,
        threads: 4,
        www: None,
        hold: Duration::ZERO,
        clickhouse: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--collector" => args.collector = value(),
            "--rows" => args.rows = value().parse().expect("--rows takes a number"),
            "--threads" => args.threads = value().parse().expect("--threads takes a number"),
            "--www" => args.www = Some(value()),
            "--hold-secs" => args.hold = Duration::from_secs(value().parse().expect("--hold-secs takes a number")),
            "--sink" => match value().as_str() {
                "sqlite" => args.clickhouse = false,
                "clickhouse" => args.clickhouse = true,
                other => panic!("--sink {other:?}: sqlite or clickhouse"),
            },
            other => {
                panic!(
                    "unknown flag {other}; flags: --collector PATH --rows N --threads N --www DIR --hold-secs N \
                     --sink sqlite|clickhouse"
                )
            }
        }
    }
    args
}

/// Starts the collector binary and reads its address from its first line.
fn start_collector(args: &Args, db: &str, clickhouse: Option<&str>, addr: &str) -> (Child, SocketAddr) {
    let mut command = Command::new(&args.collector);
    command
        .args(["--addr", addr, "--db", db, "--write-token", WRITE_TOKEN, "--read-token", READ_TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = clickhouse {
        command.args(["--sink", "clickhouse", "--clickhouse-url", url, "--clickhouse-database", "demo"]);
    }
    if let Some(www) = &args.www {
        command.args(["--www", www]);
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", args.collector));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("collector said {line:?}"));
    (child, addr.parse().unwrap())
}

async fn collector_counts(addr: SocketAddr) -> Vec<(String, u64)> {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{addr}/api/collections"))
        .header("authorization", format!("Token {READ_TOKEN}"))
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .expect("query API answers")
        .json()
        .await
        .unwrap();
    let collections = body["collections"].as_array().cloned().unwrap_or_default();
    collections
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or("?").to_owned(), c["rows"].as_u64().unwrap_or(0)))
        .collect()
}

#[tokio::main]
async fn main() {
    let args = args();
    std::fs::create_dir_all("target/demo").unwrap();
    let db = "target/demo/demo.db";
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
    // With `--sink clickhouse`, a fresh ClickHouse of the demo's own.
    let clickhouse = args.clickhouse.then(|| {
        let dir = std::path::Path::new("target/demo/clickhouse");
        let _ = std::fs::remove_dir_all(dir);
        LocalClickHouse::start(dir).unwrap_or_else(|e| panic!("{e}"))
    });
    let clickhouse_url = clickhouse.as_ref().map(LocalClickHouse::url);
    let (mut collector, addr) = start_collector(&args, db, clickhouse_url.as_deref(), "127.0.0.1:0");
    match &clickhouse_url {
        Some(url) => println!("collector   http://{addr}  (ClickHouse {url}, database demo)"),
        None => println!("collector   http://{addr}  (SQLite {db})"),
    }
    if args.www.is_some() {
        println!("dashboard   http://{addr}/?token={READ_TOKEN}");
    }

    let retries = Arc::new(AtomicU64::new(0));
    let seen = retries.clone();
    let client = MetricClient::builder()
        .api_addr(addr.to_string())
        .api_token(WRITE_TOKEN)
        .cluster_id("demo-cluster")
        .insecure(true)
        .max_retry_interval(Duration::from_secs(2))
        .drain_timeout(Duration::from_secs(60))
        .on_event(move |event| {
            if let Event::RetryScheduled { .. } = event {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .expect("client options are valid");
    // Rows written by the types' derived encoders; the schemas sent are the
    // texts written by hand, which the derive checks against the types'.
    let containers = client.derived_metric::<ContainerMetrics>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    let requests = client.derived_metric::<HttpRequest>(MetricConfig::schema(REQUEST_SCHEMA)).unwrap();

    let started = Instant::now();
    let written = Arc::new(AtomicU64::new(0));
    let per_thread = args.rows / args.threads;
    let writers: Vec<_> = (0..args.threads)
        .map(|thread| {
            let (containers, requests, written) = (containers.clone(), requests.clone(), written.clone());
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let n = (thread * per_thread + i) as i64;
                    let row = ContainerMetrics {
                        container_id: format!("pod-{}-container-{}", n % 500, thread),
                        memory_usage: 200_000_000 + (n * 7919) % 100_000_000,
                        cpu_usage: 100 + (n * 31) % 900,
                        memory_request: 256 << 20,
                        cpu_request: 500,
                    };
                    containers.write(&row).expect("row fits the schema");
                    if i % 100 == 0 {
                        let request = HttpRequest {
                            route: if n % 3 == 0 { "/api/orders" } else { "/api/users" },
                            method: if n % 2 == 0 { Method::Get } else { Method::Post },
                            status: if n % 50 == 0 { 503 } else { 200 },
                            latency_ms: 3.5 + (n % 97) as f64 / 10.0,
                            user_agent: (n % 4 == 0).then(|| "demo/1.0".to_string()),
                        };
                        requests.write(&request).expect("row fits the schema");
                    }
                    written.fetch_add(1, Ordering::Relaxed);
                    // Pace the writers a little so the restart lands mid-run.
                    if i % 20_000 == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            })
        })
        .collect();

    // Halfway: kill the collector and bring it back on the same port.
    while written.load(Ordering::Relaxed) < args.rows / 2 && !writers.iter().all(|w| w.is_finished()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    collector.kill().unwrap();
    collector.wait().unwrap();
    println!("restart     collector killed after {} rows written; restarting in 1 s", written.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (restarted, _) = start_collector(&args, db, clickhouse_url.as_deref(), &addr.to_string());
    collector = restarted;

    for writer in writers {
        writer.join().unwrap();
    }
    let write_time = started.elapsed();
    let flushed = client.flush().await;
    let elapsed = started.elapsed();
    let report = client.shutdown().await;
    let stats = report.stats;
    let counts = collector_counts(addr).await;

    println!();
    println!(
        "rows written        {:>12}   ({:.0} rows/s into the buffers)",
        stats.rows_written,
        stats.rows_written as f64 / write_time.as_secs_f64()
    );
    println!(
        "rows acknowledged   {:>12}   ({:.0} rows/s, {:.1} MB/s end to end)",
        stats.rows_acked,
        stats.rows_acked as f64 / elapsed.as_secs_f64(),
        stats.bytes_acked as f64 / 1e6 / elapsed.as_secs_f64()
    );
    println!("rows dropped        {:>12}", stats.rows_dropped());
    println!(
        "chunks sealed       {:>12}   sent {} (retries included), acked {}",
        stats.chunks_sealed, stats.chunks_sent, stats.chunks_acked
    );
    println!("retries             {:>12}   (collector restart)", stats.retries);
    println!("flush               {:>12}", if flushed.is_ok() { "ok".to_string() } else { format!("{flushed:?}") });
    let mut all_match = stats.rows_dropped() == 0 && flushed.is_ok();
    let expected =
        [("containerMetrics", per_thread * args.threads), ("httpRequests", args.threads * per_thread.div_ceil(100))];
    for (collection, sent) in expected {
        let stored = counts.iter().find(|(name, _)| name == collection).map_or(0, |(_, rows)| *rows);
        let verdict = if stored == sent { "match" } else { "MISMATCH" };
        all_match &= stored == sent;
        println!("collector {collection:<18} {stored:>8} rows stored, {sent} written: {verdict}");
    }
    if !args.hold.is_zero() {
        println!("holding the collector for {:?} (dashboard above)", args.hold);
        tokio::time::sleep(args.hold).await;
    }
    let _ = collector.kill();
    let _ = collector.wait();
    if !all_match {
        eprintln!("demo FAILED: the collector's counts differ from the client's");
        std::process::exit(1);
    }
    println!("demo ok: every row written was stored exactly once, through a collector restart");
}
