//! The native client's costs: `write` per row with 1, 2 and 4 threads against
//! an apache-avro based buffer in the same run; end-to-end rows/s and MB/s to
//! the real collector over loopback; heap bytes per buffered row.
//! `cargo bench --features native --bench native`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use edgemetrics::{MetricClient, MetricConfig};
use edgemetrics_collector::{Config, Server};
use support::{ContainerMetrics, SCHEMA, rows};

mod support;

/// Counts live heap bytes, to measure what a buffered row costs.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const TOKEN: &str = "bench";

/// What a service does with apache-avro alone: encode each row with the
/// schema and append it to a shared buffer.
struct ApacheBuffer {
    schema: apache_avro::Schema,
    buffer: Mutex<Vec<u8>>,
}

impl ApacheBuffer {
    fn write(&self, row: &ContainerMetrics) {
        let datum = apache_avro::to_avro_datum(&self.schema, apache_avro::to_value(row).unwrap()).unwrap();
        self.buffer.lock().unwrap().extend_from_slice(&datum);
    }
}

fn client(runtime: &tokio::runtime::Runtime, addr: std::net::SocketAddr) -> MetricClient {
    let _guard = runtime.enter();
    MetricClient::builder()
        .api_addr(addr.to_string())
        .api_token(TOKEN)
        .cluster_id("bench")
        .insecure(true)
        .max_buffer_bytes(1 << 30)
        .drain_timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Runs `write` over `rows` split across `threads` threads; returns the time.
fn threaded(rows: &[ContainerMetrics], threads: usize, write: &(impl Fn(&ContainerMetrics) + Sync)) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in rows.chunks(rows.len().div_ceil(threads)) {
            scope.spawn(move || part.iter().for_each(|row| write(black_box(row))));
        }
    });
    started.elapsed()
}

fn write_cost(c: &mut Criterion, runtime: &tokio::runtime::Runtime, addr: std::net::SocketAddr) {
    let data = rows(10_000);
    let client = client(runtime, addr);
    let metric = client.metric::<ContainerMetrics>(MetricConfig::schema(SCHEMA)).unwrap();
    let apache =
        ApacheBuffer { schema: apache_avro::Schema::parse_str(SCHEMA).unwrap(), buffer: Mutex::new(Vec::new()) };
    let mut group = c.benchmark_group("write containerMetrics");
    group.throughput(Throughput::Elements(data.len() as u64));
    for threads in [1, 2, 4] {
        group.bench_function(BenchmarkId::new("edgemetrics Metric::write", threads), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| threaded(&data, threads, &|row| metric.write(row).unwrap())).sum())
        });
        group.bench_function(BenchmarkId::new("apache-avro to_avro_datum + Mutex<Vec>", threads), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        apache.buffer.lock().unwrap().clear();
                        threaded(&data, threads, &|row| apache.write(row))
                    })
                    .sum()
            })
        });
    }
    group.finish();
    runtime.block_on(client.shutdown());
}

fn end_to_end(runtime: &tokio::runtime::Runtime, addr: std::net::SocketAddr) {
    let data = rows(1_000_000);
    let client = client(runtime, addr);
    let metric = client.metric::<ContainerMetrics>(MetricConfig::schema(SCHEMA)).unwrap();
    let started = Instant::now();
    metric.write_all(&data).unwrap();
    runtime.block_on(client.flush()).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let stats = client.stats();
    assert_eq!(stats.rows_acked, 1_000_000);
    println!(
        "end to end, 1M rows over gRPC to the collector (SQLite :memory:): {:.0} rows/s, {:.1} MB/s of Avro",
        stats.rows_acked as f64 / elapsed,
        stats.bytes_acked as f64 / 1e6 / elapsed
    );
    runtime.block_on(client.shutdown());
}

fn memory_per_row(runtime: &tokio::runtime::Runtime) {
    // Nothing listens here, so every row stays buffered.
    let unreachable: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let client = client(runtime, unreachable);
    let metric = client.metric::<ContainerMetrics>(MetricConfig::schema(SCHEMA)).unwrap();
    let data = rows(1_000_000);
    let schema = edgemetrics::engine::schema::Schema::parse(SCHEMA).unwrap();
    let mut encoded = Vec::new();
    data.iter().for_each(|row| edgemetrics::engine::avro::encode(&schema, row, &mut encoded).unwrap());
    let avro = encoded.len() as f64;
    drop(encoded);
    let before = LIVE.load(Ordering::Relaxed);
    metric.write_all(&data).unwrap();
    let heap = (LIVE.load(Ordering::Relaxed) - before) as f64;
    let stats = client.stats();
    // The open chunk is allocated whole (max chunk size) once a first chunk
    // filled, so part of the overhead is its unused tail, at most one chunk.
    let open_bytes = avro * stats.rows_open as f64 / 1e6;
    let open_tail = (1 << 20) as f64 + 8192.0 - open_bytes;
    println!(
        "memory, 1M rows buffered: {:.2} heap bytes per row for {:.2} Avro bytes per row ({:+.2}% overhead; \
         {:+.2}% without the open chunk's unused tail of {:.0} KiB)",
        heap / 1e6,
        avro / 1e6,
        (heap - avro) / avro * 100.0,
        (heap - open_tail - avro) / avro * 100.0,
        open_tail / 1024.0,
    );
    runtime.block_on(client.shutdown());
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = runtime.block_on(Server::start(Config::for_tests([TOKEN]))).unwrap();
    let addr = server.local_addr();
    let mut criterion = Criterion::default().configure_from_args();
    write_cost(&mut criterion, &runtime, addr);
    end_to_end(&runtime, addr);
    memory_per_row(&runtime);
    criterion.final_summary();
    runtime.block_on(server.shutdown()).unwrap();
}
