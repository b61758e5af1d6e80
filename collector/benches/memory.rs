//! Peak memory of the collector binary for one request of each size: a
//! 4 MiB batch (the SDK's default), a 20 MiB chunk (the SDK's largest) and a
//! batch of eight chunks just under `--max-message-bytes` (32 MiB), of
//! containerMetrics rows, over HTTP. Each runs in a fresh process, whose
//! VmHWM is read before and after.
//!
//! Run: `cargo bench -p edgemetrics-collector --bench memory`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

mod support;

use edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest;
use prost::Message as _;
use support::{chunk, vm_hwm_mib};

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "peak RSS of the collector binary ({}), one request per process:",
        env!("CARGO_BIN_EXE_edgemetrics-collector")
    );
    for (label, chunks, chunk_bytes) in
        [("4 MiB batch", 1, 4 << 20), ("20 MiB chunk", 1, 20 << 20), ("31.5 MiB batch of 8 chunks", 8, 63 << 19 >> 3)]
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_edgemetrics-collector"))
            .args(["--addr", "127.0.0.1:0", "--token", "bench", "--db", ":memory:"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("collector starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
        let url = line.trim().trim_start_matches("listening on ").to_owned();
        let batch = WriteMetricsBatchRequest { chunks: (0..chunks).map(|_| chunk(chunk_bytes)).collect() };
        let rows: u64 = batch.chunks.iter().map(|c| c.metadata.as_ref().map_or(0, |m| m.rows)).sum();
        let body = batch.encode_to_vec();
        let before = vm_hwm_mib(child.id());
        let start = Instant::now();
        let status = runtime.block_on(async {
            reqwest::Client::new()
                .post(format!("{url}/v1/metrics"))
                .header("authorization", "Token bench")
                .header("x-cluster-id", "bench")
                .body(body.clone())
                .send()
                .await
                .expect("POST")
                .status()
        });
        let took = start.elapsed();
        let after = vm_hwm_mib(child.id());
        println!(
            "  {label:<28} {:>6.1} MiB body {rows:>8} rows  HTTP {}  {:>5.2} s  peak {before:>5.1} -> {after:>6.1} MiB ({:.1}x the body)",
            body.len() as f64 / (1 << 20) as f64,
            status.as_u16(),
            took.as_secs_f64(),
            after / (body.len() as f64 / (1 << 20) as f64),
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
