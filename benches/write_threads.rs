//! How `Metric::write` scales with threads writing one metric: 2 million
//! containerMetrics rows split over 1, 2 and 4 threads, with nothing
//! sending (the collector address refuses connections, every row stays
//! buffered), so that only the writers use the cores. A fresh client per
//! round; the median of 5 rounds.
//! `cargo bench --features native --bench write_threads`
//!
//! Not criterion: a criterion group of the same work (one client whose
//! buffers grow over thousands of 10,000- or 200,000-row iterations,
//! threads spawned per iteration) showed 2 threads no faster than one (9.7
//! against 9.4 M rows/s) while whole rounds like these scale; why is not
//! found yet (perf shows the kernel zeroing fresh pages as the largest cost
//! beside the encoder).

use std::time::{Duration, Instant};

use edgemetrics::{MetricClient, MetricConfig};
use support::{ContainerMetrics, SCHEMA, rows};

mod support;

const ROWS: usize = 2_000_000;
const ROUNDS: usize = 5;

/// Rows/s of one round on `threads` threads.
fn round(runtime: &tokio::runtime::Runtime, rows: &[ContainerMetrics], threads: usize) -> f64 {
    let _guard = runtime.enter();
    let client = MetricClient::builder()
        .api_addr("127.0.0.1:9")
        .api_token("bench")
        .cluster_id("bench")
        .insecure(true)
        .max_buffer_bytes(1 << 30)
        .drain_timeout(Duration::from_millis(1))
        .build()
        .expect("client");
    let metric = client.metric::<ContainerMetrics>(MetricConfig::schema(SCHEMA)).expect("metric");
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in rows.chunks(rows.len().div_ceil(threads)) {
            let metric = &metric;
            scope.spawn(move || part.iter().for_each(|row| metric.write(row).expect("write")));
        }
    });
    let rate = rows.len() as f64 / started.elapsed().as_secs_f64();
    drop(metric);
    runtime.block_on(client.shutdown());
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let rows = rows(ROWS);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Metric::write, {ROWS} rows over N threads on one metric, nothing sending, {cores} cores; median of {ROUNDS}"
    );
    let mut one = 0.0;
    for threads in [1, 2, 4] {
        let mut rates: Vec<f64> = (0..ROUNDS).map(|_| round(&runtime, &rows, threads)).collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[ROUNDS / 2];
        if threads == 1 {
            one = median;
        }
        println!(
            "  {threads} thread(s): {:.1} M rows/s ({:.2}x one thread; rounds {:.1}..{:.1})",
            median / 1e6,
            median / one,
            rates[0] / 1e6,
            rates[ROUNDS - 1] / 1e6
        );
    }
}
