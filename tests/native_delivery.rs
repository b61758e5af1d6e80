//! Each delivery guarantee against the real collector over loopback: rows
//! written while the collector process is killed (or stopped) mid-stream
//! and started again, and a chunk whose answer is lost after the collector
//! stored it. What is stored is read back from the collector's SQLite file.

mod native_support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgemetrics::engine::stats::{DropReason, Event, Stats};
use edgemetrics::{Delivery, Error, MetricClient, MetricConfig, Transport};
use native_support::process::{CollectorProcess, dedup_records, stored_rows};
use native_support::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// Rows written through a restart, 500 at a time (100 for best effort).
const ROWS: usize = 30_000;
const BEST_EFFORT_ROWS: usize = 10_000;

/// Rows of `table` that carry a chunk id (the collector's `_chunk_id` column).
fn rows_with_chunk_id(db: &Path, table: &str) -> i64 {
    let sqlite = rusqlite::Connection::open(db).unwrap();
    let query = format!("SELECT COUNT(*) FROM \"{table}\" WHERE _chunk_id IS NOT NULL");
    sqlite.query_row(&query, [], |r| r.get(0)).unwrap()
}

/// What a run through a collector restart left behind.
struct Run {
    stats: Stats,
    flushed: Result<(), Error>,
    acked_before_stop: u64,
    /// Rows dropped as the events told, by collection.
    dropped_events: Vec<(String, u64)>,
    /// (rows stored, distinct rows stored).
    stored: (i64, i64),
    dedup_records: i64,
    rows_with_chunk_id: i64,
}

/// Writes `rows` rows of a metric delivered `delivery` (`per_batch` every
/// 10 ms, in chunks of 2 KiB) while the collector is stopped 250 ms in
/// (killed when `kill`, else SIGTERM) and started again 400 ms later on the
/// same port and database; then flushes.
async fn through_a_restart(
    delivery: Delivery,
    kill: bool,
    max_buffer_bytes: usize,
    rows: usize,
    per_batch: usize,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("delivery.db");
    let first = CollectorProcess::start(&db, "127.0.0.1:0").await;
    let addr = first.addr;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let client = restarting_client(addr)
        .max_buffer_bytes(max_buffer_bytes)
        .on_event(move |event| {
            if let Event::Dropped { reason: DropReason::BestEffort, collection, rows, .. } = event {
                seen.lock().unwrap().push((collection.clone(), *rows));
            }
        })
        .build()
        .unwrap();
    let config = MetricConfig::schema(CONTAINER_SCHEMA).max_chunk_size(2048).delivery(delivery);
    let metric = client.metric::<Container>(config).unwrap();
    let writer = tokio::spawn(async move {
        for batch in containers(0, rows).chunks(per_batch) {
            metric.write_all(batch).unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    let acked_before_stop = client.stats().rows_acked;
    match kill {
        true => first.kill().await,
        false => first.stop().await,
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = CollectorProcess::start(&db, &addr.to_string()).await;
    writer.await.unwrap();
    let flushed = client.flush().await;
    let stats = client.shutdown().await.stats;
    second.stop().await;
    let dropped_events = events.lock().unwrap().clone();
    Run {
        stats,
        flushed,
        acked_before_stop,
        dropped_events,
        stored: stored_rows(&db, "containerMetrics"),
        dedup_records: dedup_records(&db),
        rows_with_chunk_id: rows_with_chunk_id(&db, "containerMetrics"),
    }
}

fn assert_mid_stream(run: &Run, rows: usize) {
    let acked = run.acked_before_stop;
    assert!(acked > 0 && acked < rows as u64, "the collector went away mid-stream: {acked} rows acked before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_stores_every_row_once_through_a_killed_collector() {
    let run = through_a_restart(Delivery::ExactlyOnce, true, 64 << 20, ROWS, 500).await;
    let stats = run.stats;
    assert_mid_stream(&run, ROWS);
    run.flushed.unwrap();
    assert!(stats.retries > 0, "sends failed while the collector was away: {stats:?}");
    assert_eq!((stats.rows_acked, stats.rows_dropped()), (ROWS as u64, 0), "{stats:?}");
    assert_eq!(run.stored, (ROWS as i64, ROWS as i64), "every row stored exactly once");
    assert_eq!(run.rows_with_chunk_id, ROWS as i64, "every row came with its chunk id");
    assert_eq!(run.dedup_records, stats.chunks_acked as i64, "one de-duplication record per chunk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_loses_no_row_through_a_killed_collector_and_sends_no_chunk_id() {
    let run = through_a_restart(Delivery::AtLeastOnce, true, 64 << 20, ROWS, 500).await;
    let stats = run.stats;
    assert_mid_stream(&run, ROWS);
    run.flushed.unwrap();
    assert!(stats.retries > 0, "sends failed while the collector was away: {stats:?}");
    assert_eq!((stats.rows_acked, stats.rows_dropped()), (ROWS as u64, 0), "{stats:?}");
    let (count, distinct) = run.stored;
    assert_eq!(distinct, ROWS as i64, "every row stored (none lost)");
    assert!(count >= ROWS as i64, "at least once: {count}");
    assert_eq!((run.rows_with_chunk_id, run.dedup_records), (0, 0), "no chunk id, no de-duplication record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_effort_drops_and_counts_exactly_what_was_sent_while_the_collector_was_down_and_holds_no_memory() {
    // A memory cap far under what is written while the collector is down
    // (about 180 KB): chunks kept for retries would pass it (the test
    // below). Stopped with SIGTERM, the collector answers the requests in
    // progress (or tells how many chunks of a stream it stored), so every
    // chunk's fate is known.
    let run = through_a_restart(Delivery::BestEffort, false, 64 << 10, BEST_EFFORT_ROWS, 100).await;
    let stats = run.stats;
    assert_mid_stream(&run, BEST_EFFORT_ROWS);
    run.flushed.unwrap();
    let (count, distinct) = run.stored;
    assert_eq!(count, distinct, "nothing stored twice");
    assert_eq!(count as u64, stats.rows_acked, "stored exactly what was acknowledged: {stats:?}");
    let missing = BEST_EFFORT_ROWS as u64 - count as u64;
    assert!(missing > 0, "rows were sent while the collector was down");
    assert_eq!(stats.rows_dropped_best_effort, missing, "the count is the rows missing: {stats:?}");
    assert_eq!(stats.rows_dropped(), missing, "dropped for no other reason (not the memory cap): {stats:?}");
    assert_eq!((stats.retries, stats.chunks_sent), (0, stats.chunks_sealed), "one attempt per chunk: {stats:?}");
    assert_eq!((stats.rows_pending, stats.bytes_pending), (0, 0));
    let events: u64 = run
        .dropped_events
        .iter()
        .map(|(collection, rows)| {
            assert_eq!(collection, "containerMetrics");
            rows
        })
        .sum();
    assert_eq!(events, missing, "the events name the metric and its rows");
    assert_eq!((run.rows_with_chunk_id, run.dedup_records), (0, 0), "no chunk id, no de-duplication record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_under_the_same_memory_cap_drops_to_it_where_best_effort_did_not() {
    // The control for the test above: the same run, exactly once, holds its
    // chunks for retries and so reaches the cap.
    let run = through_a_restart(Delivery::ExactlyOnce, false, 64 << 10, BEST_EFFORT_ROWS, 100).await;
    assert_mid_stream(&run, BEST_EFFORT_ROWS);
    assert!(run.stats.rows_dropped_memory_cap > 0, "{:?}", run.stats);
    assert_eq!(run.stats.rows_dropped_best_effort, 0);
}

/// A TCP proxy to `upstream` that loses the answer on its first `lose`
/// connections: it passes the request on, waits for the first bytes of the
/// answer (the collector answers once it stored the chunk) and closes both
/// sides without passing them on. Returns its address.
async fn losing_proxy(upstream: SocketAddr, lose: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let left = Arc::new(AtomicUsize::new(lose));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let lose = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                if !lose {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    return;
                }
                let (mut from_client, _to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let forward = tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_server).await });
                let _ = from_server.read(&mut [0; 1]).await;
                forward.abort();
            });
        }
    });
    addr
}

/// 100 rows in one chunk of a metric delivered `delivery`, over HTTP
/// through a proxy that loses the collector's first answer; returns the
/// flush's outcome, the stats and the rows stored.
async fn with_a_lost_answer(delivery: Delivery) -> (Result<(), Error>, Stats, Vec<Container>) {
    let server = Collector::start().await;
    let proxy = losing_proxy(server.addr(), 1).await;
    let client = MetricClient::builder()
        .api_addr(proxy.to_string())
        .api_token(TOKEN)
        .cluster_id(CLUSTER)
        .insecure(true)
        .transport(Transport::Http)
        .max_retry_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA).delivery(delivery)).unwrap();
    metric.write_all(&containers(0, 100)).unwrap();
    let flushed = client.flush().await;
    let stats = client.shutdown().await.stats;
    (flushed, stats, server.rows("containerMetrics", CLUSTER).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_stores_a_resent_chunk_once_exactly_once_and_twice_at_least_once() {
    let rows = containers(0, 100);

    let (flushed, stats, stored) = with_a_lost_answer(Delivery::ExactlyOnce).await;
    flushed.unwrap();
    assert_eq!((stats.chunks_sent, stats.retries, stats.rows_acked), (2, 1, 100), "{stats:?}");
    assert_same_rows(&stored, &rows, "exactly once: the resent chunk stored once");

    let (flushed, stats, stored) = with_a_lost_answer(Delivery::AtLeastOnce).await;
    flushed.unwrap();
    assert_eq!((stats.chunks_sent, stats.retries, stats.rows_acked), (2, 1, 100), "{stats:?}");
    let twice: Vec<_> = rows.iter().chain(&rows).cloned().collect();
    assert_same_rows(&stored, &twice, "at least once: the resent chunk stored twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_effort_counts_a_chunk_whose_answer_was_lost_as_dropped_and_never_resends_it() {
    // At most once: the chunk was stored, but without an answer the client
    // cannot know it, so it counts it dropped, and flush says so.
    let (flushed, stats, stored) = with_a_lost_answer(Delivery::BestEffort).await;
    match flushed {
        Err(Error::Dropped { rows: 100, reason }) => {
            assert!(reason.starts_with("a best-effort send failed"), "{reason}")
        }
        other => panic!("expected the drop reported, got {other:?}"),
    }
    assert_eq!((stats.chunks_sent, stats.retries, stats.rows_dropped_best_effort), (1, 0, 100), "{stats:?}");
    assert_same_rows(&stored, &containers(0, 100), "stored once, by the one attempt");
}
