//! Many clients against one collector process at once, for a while:
//! gRPC clients (each a stream per batch of chunks, as the SDK sends),
//! HTTP clients (a `POST /v1/metrics` each time), and WebSocket
//! subscribers to the same collection, a few of which stall for 10 s or
//! never read. Checks that every acknowledged row was stored (nothing
//! acknowledged is lost), that the fast subscribers received every row,
//! that the stalling ones were told how many rows they missed and the ones
//! that never read were dropped (past `--subscriber-send-timeout`); reports
//! rows/s, the acknowledge latency (p50, p99, max) and the collector's
//! resident memory over time and at its peak.
//!
//! Run: `cargo bench -p edgemetrics-collector --bench load -- [--seconds 60]
//! [--grpc 600] [--http 400] [--subscribers 200] [--slow 10] [--rows 100]
//! [--every-ms 2000]`
//!
//! At a chunk per client every second (1,000 chunks/s, each sent to 200
//! subscribers) some fast subscribers missed a few chunks on a 2-core
//! machine while the stalled ones caught up: a queue of 64 chunks
//! (`--subscriber-queue-chunks`) is 64 ms at that rate, and this process
//! shares the cores with the collector.
//!
//! All clients come from 127.0.0.1, so the per-address caps and rates are
//! raised for the run (they bound one address, and this is one address
//! playing a thousand); the collector's other limits are its defaults.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use edgemetrics_collector::pb::edgemetrics::v1::subscribe_event::Event;
use edgemetrics_collector::pb::edgemetrics::v1::{SubscribeEvent, SubscribeRequest};
use edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest;
use edgemetrics_collector::pb::metrics::v1beta::ingestion_api_client::IngestionApiClient;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use support::{chunk, vm_hwm_mib, vm_rss_mib};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message as Ws;

const TOKEN: &str = "load";
const COLLECTION: &str = "containerMetrics";

struct Args {
    seconds: u64,
    grpc: usize,
    http: usize,
    subscribers: usize,
    slow: usize,
    rows: usize,
    every: Duration,
}

fn args() -> Args {
    let mut args = Args {
        seconds: 60,
        grpc: 600,
        http: 400,
        subscribers: 200,
        slow: 10,
        rows: 100,
        every: Duration::from_millis(2000),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number =
            || it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| panic!("{flag} takes a number"));
        match flag.as_str() {
            "--seconds" => args.seconds = number(),
            "--grpc" => args.grpc = number() as usize,
            "--http" => args.http = number() as usize,
            "--subscribers" => args.subscribers = number() as usize,
            "--slow" => args.slow = number() as usize,
            "--rows" => args.rows = number() as usize,
            "--every-ms" => args.every = Duration::from_millis(number()),
            // What cargo bench passes.
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// What the writers did.
#[derive(Default)]
struct Writes {
    rows_acked: AtomicU64,
    requests: AtomicU64,
    failures: AtomicU64,
    /// Acknowledge latency of each request, µs.
    latencies: Mutex<Vec<u32>>,
    first_failure: Mutex<Option<String>>,
}

impl Writes {
    async fn record(&self, started: Instant, rows: u64, outcome: Result<(), String>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(()) => {
                self.rows_acked.fetch_add(rows, Ordering::Relaxed);
                self.latencies.lock().await.push(started.elapsed().as_micros() as u32);
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.first_failure.lock().await.get_or_insert(e);
            }
        }
    }
}

/// Rows a subscriber received and rows it was told it missed.
#[derive(Default, Clone, Copy, Debug)]
struct Received {
    rows: u64,
    missed: u64,
    dropped: bool,
}

/// How a subscriber reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// As fast as frames come.
    Fast,
    /// Stops reading for 10 s once, 10 s into the run (a tab in the
    /// background, a long pause): it falls behind, then catches up.
    Stalling,
    /// Nothing until the writers are done.
    Never,
}

/// How long a writer waits for an answer before counting a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn subscriber(url: String, pace: Pace, start: Arc<tokio::sync::Barrier>, stop: Arc<AtomicBool>) -> Received {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/v1/subscribe", url.replacen("http", "ws", 1)))
        .await
        .expect("subscriber connects");
    let request = SubscribeRequest {
        token: TOKEN.into(),
        cluster_id: "load".into(),
        collections: vec![COLLECTION.into()],
        ..Default::default()
    };
    ws.send(Ws::Binary(request.encode_to_vec().into())).await.expect("subscribe");
    let mut got = Received::default();
    // Subscribed first.
    match ws.next().await {
        Some(Ok(Ws::Binary(b))) => {
            let event = SubscribeEvent::decode(&b[..]).expect("a SubscribeEvent");
            assert!(matches!(event.event, Some(Event::Subscribed(_))), "{event:?}");
        }
        other => panic!("subscription refused: {other:?}"),
    }
    start.wait().await;
    let (started, mut stalled) = (Instant::now(), false);
    if pace == Pace::Never {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    loop {
        let next = if stop.load(Ordering::Relaxed) {
            // Drain what is queued, then stop.
            match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
                Ok(next) => next,
                Err(_) => break,
            }
        } else {
            if pace == Pace::Stalling && !stalled && started.elapsed() >= Duration::from_secs(10) {
                stalled = true;
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Ok(next) => next,
                Err(_) => continue,
            }
        };
        match next {
            Some(Ok(Ws::Binary(b))) => match SubscribeEvent::decode(&b[..]).map(|e| e.event) {
                Ok(Some(Event::Rows(rows))) => got.rows += rows.rows,
                Ok(Some(Event::Missed(missed))) => got.missed += missed.rows,
                _ => {}
            },
            Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => {
                got.dropped = true;
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    got
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

fn main() {
    let args = args();
    let dir = std::env::temp_dir().join(format!("edgemetrics-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = dir.join("load.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgemetrics-collector"))
        .args(["--addr", "127.0.0.1:0", "--token", TOKEN, "--db", db.to_str().expect("UTF-8 path")])
        .args(["--max-connections-per-ip", "4096", "--max-subscribers", "1024", "--max-subscribers-per-ip", "1024"])
        .args(["--rate-requests-per-ip", "1000000", "--rate-requests-per-token", "1000000"])
        .args(["--rate-rows-per-ip", "1000000000", "--rate-rows-per-token", "1000000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("collector starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
    let url = line.trim().trim_start_matches("listening on ").to_owned();
    let pid = child.id();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    let report = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let start = Arc::new(tokio::sync::Barrier::new(args.subscribers + 1));
        let subscribers: Vec<_> = (0..args.subscribers)
            .map(|i| {
                let pace = match i {
                    i if i >= args.slow => Pace::Fast,
                    i if i % 2 == 0 => Pace::Stalling,
                    _ => Pace::Never,
                };
                tokio::spawn(subscriber(url.clone(), pace, start.clone(), stop.clone()))
            })
            .collect();
        // A refused subscription panics in its task; without this the
        // barrier would wait for it forever.
        tokio::time::timeout(Duration::from_secs(60), start.wait())
            .await
            .expect("every subscriber subscribed within 60 s (a refused one says why above)");
        let writes = Arc::new(Writes::default());
        let until = Instant::now() + Duration::from_secs(args.seconds);
        let sample = chunk(1 << 20);
        let bytes_per_row = (1 << 20) / sample.metadata.as_ref().map_or(1, |m| m.rows) as usize;
        let body = chunk(args.rows * bytes_per_row + 48);
        let rows = body.metadata.as_ref().map_or(0, |m| m.rows);
        println!(
            "{} gRPC and {} HTTP clients, a chunk of {rows} rows each every {:?}, {} subscribers ({} slow: half stalling 10 s, half never reading), {} s",
            args.grpc, args.http, args.every, args.subscribers, args.slow, args.seconds
        );
        let mut writers = Vec::new();
        for i in 0..args.grpc + args.http {
            let (url, writes, body, every) = (url.clone(), writes.clone(), body.clone(), args.every);
            let grpc = i < args.grpc;
            writers.push(tokio::spawn(async move {
                // Spread the clients over the interval.
                tokio::time::sleep(every.mul_f64(i as f64 / (args.grpc + args.http) as f64)).await;
                let mut ticks = tokio::time::interval(every);
                // A request that hangs counts as failed, not as a stalled run.
                let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("HTTP client");
                let mut channel = None;
                while Instant::now() < until {
                    ticks.tick().await;
                    let started = Instant::now();
                    let outcome = if grpc {
                        if channel.is_none() {
                            channel = IngestionApiClient::connect(url.clone()).await.ok();
                        }
                        match channel.as_mut() {
                            Some(client) => {
                                let mut request = tonic::Request::new(futures_util::stream::iter([body.clone()]));
                                request.metadata_mut().insert("authorization", format!("Token {TOKEN}").parse().unwrap());
                                request.metadata_mut().insert("x-cluster-id", "load".parse().unwrap());
                                match tokio::time::timeout(REQUEST_TIMEOUT, client.write_metrics(request)).await {
                                    Ok(answer) => answer.map(|_| ()).map_err(|s| s.to_string()),
                                    Err(_) => Err(format!("no answer in {REQUEST_TIMEOUT:?}")),
                                }
                            }
                            None => Err("gRPC connect failed".into()),
                        }
                    } else {
                        let batch = WriteMetricsBatchRequest { chunks: vec![body.clone()] }.encode_to_vec();
                        match http
                            .post(format!("{url}/v1/metrics"))
                            .header("authorization", format!("Token {TOKEN}"))
                            .header("x-cluster-id", "load")
                            .body(batch)
                            .send()
                            .await
                        {
                            Ok(r) if r.status().is_success() => Ok(()),
                            Ok(r) => Err(format!("HTTP {}", r.status())),
                            Err(e) => Err(e.to_string()),
                        }
                    };
                    writes.record(started, rows, outcome).await;
                }
            }));
        }
        // Memory every 10 s while the writers run.
        let mut rss = Vec::new();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_secs(10).min(until.saturating_duration_since(Instant::now()))).await;
            rss.push(vm_rss_mib(pid));
        }
        for w in writers {
            w.await.expect("writer");
        }
        stop.store(true, Ordering::Relaxed);
        let mut received = Vec::new();
        for s in subscribers {
            received.push(s.await.expect("subscriber"));
        }
        (writes, received, rss)
    });
    let (writes, received, rss) = report;
    let stored: u64 = runtime.block_on(async {
        let answer: serde_json::Value = reqwest::Client::new()
            .get(format!("{url}/api/collections"))
            .header("authorization", format!("Token {TOKEN}"))
            .send()
            .await
            .expect("query API")
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .expect("JSON");
        answer["collections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == COLLECTION)
            .map(|c| c["rows"].as_u64().unwrap_or(0))
            .sum()
    });
    let peak = vm_hwm_mib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let acked = writes.rows_acked.load(Ordering::Relaxed);
    let mut latencies = runtime.block_on(writes.latencies.lock()).clone();
    latencies.sort_unstable();
    println!(
        "requests {} ({} failed{}), rows acknowledged {acked} ({:.0} rows/s), stored {stored}",
        writes.requests.load(Ordering::Relaxed),
        writes.failures.load(Ordering::Relaxed),
        runtime.block_on(writes.first_failure.lock()).as_ref().map(|e| format!(", first: {e}")).unwrap_or_default(),
        acked as f64 / args.seconds as f64,
    );
    println!(
        "acknowledge latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    let rss_text: Vec<String> = rss.iter().map(|m| format!("{m:.0}")).collect();
    println!("collector RSS every 10 s: {} MiB; peak {peak:.0} MiB", rss_text.join(", "));
    let (slow, fast) = received.split_at(args.slow.min(received.len()));
    let fast_short = fast.iter().filter(|r| r.rows != stored || r.missed > 0).count();
    let stalling: Vec<&Received> = slow.iter().step_by(2).collect();
    let never: Vec<&Received> = slow.iter().skip(1).step_by(2).collect();
    println!(
        "fast subscribers: {} of {} received every stored row; stalling 10 s: {} of {} told of missed rows \
         (received + missed = stored: {}); never reading: {} of {} dropped",
        fast.len() - fast_short,
        fast.len(),
        stalling.iter().filter(|r| r.missed > 0).count(),
        stalling.len(),
        stalling.iter().filter(|r| r.rows + r.missed == stored).count(),
        never.iter().filter(|r| r.dropped).count(),
        never.len(),
    );
    for (i, r) in slow.iter().enumerate() {
        let pace = if i % 2 == 0 { "stalling" } else { "never reading" };
        println!(
            "  slow subscriber {i} ({pace}): {} rows received, {} missed, dropped: {}",
            r.rows, r.missed, r.dropped
        );
    }
    let mut failed = Vec::new();
    // A request the client saw fail may still have been stored; one it saw
    // acknowledged must have been.
    let failures = writes.failures.load(Ordering::Relaxed);
    if stored < acked || (stored > acked && failures == 0) {
        failed.push(format!("{acked} rows acknowledged, {stored} stored ({failures} requests failed)"));
    }
    if fast_short > 0 {
        let first = fast.iter().find(|r| r.rows != stored || r.missed > 0);
        failed.push(format!("{fast_short} fast subscribers did not get every row ({first:?})"));
    }
    if slow.iter().any(|r| !r.dropped && r.rows + r.missed != stored) {
        failed.push("a slow subscriber lost rows without being told".into());
    }
    if stalling.iter().any(|r| r.dropped) {
        failed.push("a subscriber that stalled for 10 s was dropped".into());
    }
    if !failed.is_empty() {
        eprintln!("load: {}", failed.join("; "));
        std::process::exit(1);
    }
}
