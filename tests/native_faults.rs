//! The native client through a real TLS handshake (the collector serving
//! TLS), and through the collector process being killed and restarted mid-run.

mod native_support;

use std::time::Duration;

use edgemetrics::{Error, MetricClient, MetricConfig};
use native_support::process::{CollectorProcess, stored_rows};
use native_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_custom_ca_delivers_over_grpc_and_http() {
    // The collector serves TLS with a certificate made for this test: the
    // client's TLS stack does a real handshake, with ALPN for gRPC.
    let server = Collector::start_tls().await;
    for transport in [edgemetrics::Transport::Grpc, edgemetrics::Transport::Http] {
        let client = MetricClient::builder()
            .api_addr(format!("localhost:{}", server.addr().port()))
            .api_token(TOKEN)
            .cluster_id(CLUSTER)
            .ca_certificate_pem(server.certificate())
            .transport(transport)
            .build()
            .unwrap();
        let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
        let start = if transport == edgemetrics::Transport::Grpc { 0 } else { 100 };
        metric.write_all(&containers(start, 20)).unwrap();
        client.flush().await.unwrap();
    }
    let expected: Vec<_> = containers(0, 20).into_iter().chain(containers(100, 20)).collect();
    assert_same_rows(&server.rows("containerMetrics", CLUSTER).await, &expected, "over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_trust_or_against_plaintext_delivers_nothing() {
    let tls = Collector::start_tls().await;
    let server = Collector::start().await;
    for addr in [format!("localhost:{}", tls.addr().port()), server.addr().to_string()] {
        // Untrusted certificate, then a plaintext server: TLS is never skipped.
        let client = MetricClient::builder()
            .api_addr(addr.clone())
            .api_token(TOKEN)
            .cluster_id(CLUSTER)
            .drain_timeout(Duration::from_millis(700))
            .build()
            .unwrap();
        let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
        metric.write_all(&containers(0, 3)).unwrap();
        let error = client.flush().await.unwrap_err();
        assert!(matches!(error, Error::NotDelivered { pending_rows: 3, .. }), "{addr}: {error}");
        client.shutdown().await;
    }
    assert!(tls.chunks().is_empty() && server.chunks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_killed_and_restarted_mid_run_loses_nothing_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("restart.db");
    let first = CollectorProcess::start(&db, "127.0.0.1:0").await;
    let addr = first.addr;
    let client = restarting_client(addr).build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA).max_chunk_size(2048)).unwrap();
    let rows = containers(0, 30_000);
    let writer = {
        let (metric, rows) = (metric.clone(), rows.clone());
        tokio::spawn(async move {
            for batch in rows.chunks(500) {
                metric.write_all(batch).unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    let acked_before_kill = client.stats().rows_acked;
    first.kill().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = CollectorProcess::start(&db, &addr.to_string()).await;
    writer.await.unwrap();
    client.flush().await.unwrap();

    let stats = client.stats();
    assert!(acked_before_kill > 0 && acked_before_kill < 30_000, "the kill happened mid-run: {acked_before_kill}");
    assert!(stats.retries > 0, "sends failed while the collector was away: {stats:?}");
    assert_eq!((stats.rows_acked, stats.rows_dropped()), (30_000, 0), "{stats:?}");
    assert_eq!(stored_rows(&db, "containerMetrics"), (30_000, 30_000), "every row stored exactly once");
    second.kill().await;
}

/// The collector on ClickHouse, and ClickHouse killed mid-run: the
/// collector answers UNAVAILABLE, the client retries, and once ClickHouse
/// is back every row is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_killed_mid_run_loses_nothing() {
    let (server, mut clickhouse, _dir) = collector_on_clickhouse("native").await;
    let client = server.client().max_retry_interval(Duration::from_millis(200)).build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    let rows = containers(0, 3000);
    metric.write_all(&rows[..1000]).unwrap();
    client.flush().await.unwrap();
    clickhouse.kill();
    metric.write_all(&rows[1000..2000]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while client.stats().retries == 0 {
        assert!(std::time::Instant::now() < deadline, "no retry while ClickHouse is away: {:?}", client.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    clickhouse.restart().unwrap_or_else(|e| panic!("{e}"));
    metric.write_all(&rows[2000..]).unwrap();
    client.flush().await.unwrap();
    assert_same_rows(&server.rows("containerMetrics", CLUSTER).await, &rows, "through ClickHouse's restart");
    let stats = client.shutdown().await.stats;
    assert_eq!((stats.rows_acked, stats.rows_dropped()), (3000, 0), "{stats:?}");
    assert!(stats.retries >= 1, "{stats:?}");
}
