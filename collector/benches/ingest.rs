//! Ingestion throughput of the collector: containerMetrics rows (the record
//! of castai/metrics' client benchmark) sent over native gRPC
//! (`WriteMetrics`, client streaming) into SQLite on disk and in memory,
//! and into ClickHouse (a private Debian `clickhouse-server` on 127.0.0.1)
//! from 1, 4 and 32 clients at once.
//!
//! Run: `cargo bench -p edgemetrics-collector --bench ingest`
//! (`EM_BENCH_ROWS` sets the rows per run, default 1,000,000.)
//!
//! Prints rows/s and MB/s of Avro payload, end to end: encode is done
//! before the clock starts; the time covers the gRPC transfer, the decode
//! with apache-avro, validation and the inserts (one SQLite transaction, or
//! one ClickHouse insert, per chunk) until every response arrived.

use std::time::{Duration, Instant};

use apache_avro::Schema;
use apache_avro::types::Value;
use edgemetrics_collector::clickhouse::local::LocalClickHouse;
use edgemetrics_collector::pb::metrics::v1beta::ingestion_api_client::IngestionApiClient;
use edgemetrics_collector::pb::metrics::v1beta::{MetricsMetadata, WriteMetricsRequest};
use edgemetrics_collector::{Config, Server};

/// castai/metrics' benchmark schema.
const SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},
    {"name":"memory_usage","type":"int"},
    {"name":"cpu_usage","type":"int"},
    {"name":"memory_request","type":"int"},
    {"name":"cpu_request","type":"int"}]}"#;

/// A small deterministic generator (xorshift) standing in for rand.Intn.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> i32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n) as i32
    }
}

/// Chunks of about `chunk_bytes` Avro bytes (castai's default chunk is 1 MiB).
fn make_chunks(rows: usize, chunk_bytes: usize) -> (Vec<WriteMetricsRequest>, usize) {
    let schema = Schema::parse_str(SCHEMA).expect("schema");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut chunks = Vec::new();
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut total = 0;
    let mut flush = |buf: &mut Vec<u8>, n: &mut u64, chunks: &mut Vec<WriteMetricsRequest>| {
        total += buf.len();
        chunks.push(WriteMetricsRequest {
            collection: "containerMetrics".into(),
            metrics: std::mem::take(buf),
            schema: SCHEMA.as_bytes().to_vec(),
            metadata: Some(MetricsMetadata { rows: *n, skip_timestamp: false, timestamp_column: None }),
            chunk_id: (chunks.len() as u128).to_le_bytes().to_vec(),
        });
        *n = 0;
    };
    for _ in 0..rows {
        let v = Value::Record(vec![
            ("container_id".into(), Value::String("container-id".into())),
            ("memory_usage".into(), Value::Int(rng.below(1024 * 1024))),
            ("cpu_usage".into(), Value::Int(rng.below(10_000))),
            ("memory_request".into(), Value::Int(rng.below(2 * 1024 * 1024))),
            ("cpu_request".into(), Value::Int(rng.below(20_000))),
        ]);
        buf.extend(apache_avro::to_avro_datum(&schema, v).expect("encode"));
        n += 1;
        if buf.len() >= chunk_bytes {
            flush(&mut buf, &mut n, &mut chunks);
        }
    }
    if n > 0 {
        flush(&mut buf, &mut n, &mut chunks);
    }
    (chunks, total)
}

/// Sends the chunks over `clients` gRPC streams at once (chunk i on stream
/// i mod clients) to a collector configured by `configure`.
async fn run(
    label: &str,
    configure: impl FnOnce(&mut Config),
    chunks: &[WriteMetricsRequest],
    clients: usize,
    (rows, bytes): (usize, usize),
) {
    let mut config = Config::for_tests(["bench"]);
    // Every client of the bench is on 127.0.0.1: no per-address share.
    config.connections.max_inflight_bytes_per_ip = 0;
    configure(&mut config);
    let server = Server::start(config).await.expect("collector starts");
    let mut streams = Vec::new();
    for c in 0..clients {
        let client = IngestionApiClient::connect(server.url()).await.expect("connect");
        let mine: Vec<WriteMetricsRequest> = chunks.iter().skip(c).step_by(clients).cloned().collect();
        streams.push((client, mine));
    }
    let start = Instant::now();
    let sends = streams.into_iter().map(|(mut client, mine)| {
        tokio::spawn(async move {
            let mut req = tonic::Request::new(futures_util::stream::iter(mine));
            req.metadata_mut().insert("authorization", "Token bench".parse().expect("ascii"));
            req.metadata_mut().insert("x-cluster-id", "bench".parse().expect("ascii"));
            client.write_metrics(req).await.expect("ingest").into_inner().rows_stored
        })
    });
    let mut stored = 0;
    for send in sends.collect::<Vec<_>>() {
        stored += send.await.expect("client task");
    }
    let elapsed = start.elapsed();
    assert_eq!(stored as usize, rows);
    report(label, rows, bytes, chunks.len(), elapsed);
    server.shutdown().await.expect("shutdown");
}

fn report(label: &str, rows: usize, bytes: usize, chunks: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{label:<38} {rows:>9} rows in {chunks:>5} chunks  {secs:>7.3} s  {:>11.0} rows/s  {:>7.2} MB/s",
        rows as f64 / secs,
        bytes as f64 / secs / 1e6,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with few rows.
    let quick = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let rows: usize = std::env::var("EM_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(if quick {
        10_000
    } else {
        1_000_000
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for (chunk_bytes, chunk_label) in [(1024 * 1024, "1 MiB chunks"), (16 * 1024, "16 KiB chunks")] {
        let (chunks, bytes) = make_chunks(rows, chunk_bytes);
        println!(
            "containerMetrics, {rows} rows, {:.1} MB Avro ({:.1} bytes/row), {chunk_label}:",
            bytes as f64 / 1e6,
            bytes as f64 / rows as f64
        );
        let size = (rows, bytes);
        rt.block_on(run("  gRPC stream -> SQLite :memory:", |_| {}, &chunks, 1, size));
        let ch_dir = tempfile::tempdir().expect("temp dir");
        let ch = LocalClickHouse::start(ch_dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for clients in [1, 4, 32] {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("bench.db").to_string_lossy().into_owned();
            let label = format!("  {clients:>2} gRPC streams -> SQLite file (WAL)");
            rt.block_on(run(&label, |c| c.db = path.clone(), &chunks, clients, size));
            // A database per run: each starts from empty tables.
            let database = format!("bench_{clients}_{chunk_bytes}");
            let label = format!("  {clients:>2} gRPC streams -> ClickHouse");
            rt.block_on(run(&label, |c| ch.configure(c, &database), &chunks, clients, size));
        }
    }
}
