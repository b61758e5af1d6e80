//! The native client against the real collector over loopback: every row
//! counted, through faults, restarts, rejections and the memory cap.

mod native_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgemetrics::engine::stats::{DropReason, Event};
use edgemetrics::{Error, MetricClient, MetricConfig, Transport};
use native_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_arrives_equal_over_grpc_and_http() {
    let server = Collector::start().await;
    for (transport, cluster) in [(Transport::Grpc, "cluster-grpc"), (Transport::Http, "cluster-http")] {
        let client = server.client().cluster_id(cluster).transport(transport).build().unwrap();
        let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
        let rows = containers(0, 500);
        for row in &rows[..250] {
            metric.write(row).unwrap();
        }
        metric.write_all(&rows[250..]).unwrap();
        client.flush().await.unwrap();
        let stored = server.rows("containerMetrics", cluster).await;
        assert_same_rows(&stored, &rows, &format!("{transport:?}"));
        let stats = client.shutdown().await.stats;
        assert_eq!((stats.rows_written, stats.rows_acked, stats.rows_dropped()), (500, 500, 0), "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_chunks_make_several_requests_whose_row_counts_add_up() {
    let server = Collector::start().await;
    let client = server.client().build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA).max_chunk_size(128)).unwrap();
    let rows = containers(0, 100);
    metric.write_all(&rows).unwrap();
    client.flush().await.unwrap();
    let chunks = server.chunks();
    assert!(chunks.len() > 10, "{} chunks", chunks.len());
    assert_eq!(chunks.iter().map(|(_, rows)| rows).sum::<i64>(), 100);
    assert!(chunks.iter().all(|(cluster, _)| cluster == CLUSTER), "x-cluster-id arrived with every chunk");
    assert_same_rows(&server.rows("containerMetrics", CLUSTER).await, &rows, "stored rows");
    assert_eq!(client.stats().chunks_acked, chunks.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interval_flushes_without_being_asked() {
    let server = Collector::start().await;
    let client = server.client().flush_interval(Duration::from_millis(50)).build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    metric.write(&containers(7, 1)[0]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.stats().rows_acked < 1 {
        assert!(Instant::now() < deadline, "not sent within 5 s: {:?}", client.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.rows("containerMetrics", CLUSTER).await, containers(7, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_a_permanent_rejection_that_is_counted_and_reported() {
    let server = Collector::start().await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let client = server
        .client()
        .api_token("wrong-token")
        .on_event(move |event| seen.lock().unwrap().push(event.clone()))
        .build()
        .unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    metric.write_all(&containers(0, 10)).unwrap();
    let error = client.flush().await.unwrap_err();
    assert!(matches!(&error, Error::Dropped { rows: 10, reason } if reason.contains("Unauthenticated")), "{error}");
    let stats = client.stats();
    assert_eq!((stats.rows_dropped_rejected, stats.retries), (10, 0));
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(|e| matches!(e, Event::Dropped { reason: DropReason::Rejected, rows: 10, .. })),
        "{events:?}"
    );
    assert!(!format!("{events:?}").contains("wrong-token"), "the token never appears in events");
    assert_eq!(server.chunks().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_named() {
    let server = Collector::start().await;
    let missing =
        MetricClient::builder().api_addr(server.addr().to_string()).cluster_id(CLUSTER).insecure(true).build();
    assert_eq!(missing.unwrap_err().to_string(), "option \"api_token\": is required");
    let cluster = server.client().cluster_id("bad cluster").build().unwrap_err();
    assert!(cluster.to_string().starts_with("option \"cluster_id\": \"bad cluster\" is not"), "{cluster}");
    let plaintext = MetricClient::builder()
        .api_addr(format!("http://{}", server.addr()))
        .api_token(TOKEN)
        .cluster_id(CLUSTER)
        .build()
        .unwrap_err();
    assert!(plaintext.to_string().contains("is plaintext; set insecure(true)"), "{plaintext}");
    let client = server.client().build().unwrap();
    let no_schema = client.metric::<Container>(MetricConfig::default()).unwrap_err();
    assert_eq!(no_schema.to_string(), "option \"schema\": is required (a schema text or a parsed schema)");
    let typo =
        client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA.replace("\"long\"", "\"lnog\""))).unwrap_err();
    assert!(typo.to_string().contains("field \"memory_usage\""), "{typo}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_names_the_field_and_is_not_buffered() {
    let server = Collector::start().await;
    let client = server.client().build().unwrap();
    let metric = client.metric::<serde_json::Value>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    let good = serde_json::to_value(&containers(1, 1)[0]).unwrap();
    let mut bad = good.clone();
    bad["cpu_usage"] = serde_json::json!("high");
    metric.write(&good).unwrap();
    let error = metric.write(&bad).unwrap_err();
    assert_eq!(error.to_string(), "field \"cpu_usage\": expected long, found a string");
    let error = metric.write_all(&[good.clone(), bad]).unwrap_err();
    assert!(error.to_string().starts_with("row 1: field \"cpu_usage\""), "{error}");
    client.flush().await.unwrap();
    assert_eq!(server.rows("containerMetrics", CLUSTER).await, containers(1, 1));
    assert_eq!(client.stats().rows_written, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_for_a_while_backs_off_up_to_the_max_then_delivers() {
    let server = Collector::start_with_faults().await;
    server.faults().set_unavailable(6);
    let delays = Arc::new(Mutex::new(Vec::new()));
    let seen = delays.clone();
    let client = server
        .client()
        .max_retry_interval(Duration::from_millis(400))
        .on_event(move |event| {
            if let Event::RetryScheduled { delay_ms, .. } = event {
                seen.lock().unwrap().push(*delay_ms);
            }
        })
        .build()
        .unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    let rows = containers(0, 50);
    metric.write_all(&rows).unwrap();
    client.flush().await.unwrap();
    assert_same_rows(&server.rows("containerMetrics", CLUSTER).await, &rows, "stored rows");
    let delays = delays.lock().unwrap().clone();
    assert_eq!(delays.len(), 6, "{delays:?}");
    assert!(delays.iter().all(|&d| d <= 400), "capped at the max retry interval: {delays:?}");
    assert!(delays[0] <= 100 && delays[5] >= 200, "growing: {delays:?}");
    let stats = client.stats();
    assert_eq!((stats.retries, stats.rows_acked, stats.rows_dropped()), (6, 50, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_chunk_is_dropped_and_counted_while_the_rest_arrives() {
    let server = Collector::start().await;
    let client = server.client().build().unwrap();
    let good = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    let first = client.metric::<serde_json::Value>(MetricConfig::schema(SAMPLE_SCHEMA)).unwrap();
    first.write(&serde_json::json!({"name": "a", "value": 1.5})).unwrap();
    client.flush().await.unwrap();
    // The same collection with `value` turned into a string is incompatible.
    let clashing =
        client.metric::<serde_json::Value>(MetricConfig::schema(SAMPLE_SCHEMA.replace("double", "string"))).unwrap();
    let rows = containers(0, 30);
    good.write_all(&rows[..15]).unwrap();
    clashing.write(&serde_json::json!({"name": "b", "value": "x"})).unwrap();
    good.write_all(&rows[15..]).unwrap();
    let error = client.flush().await.unwrap_err();
    assert!(matches!(&error, Error::Dropped { rows: 1, reason } if reason.contains("value")), "{error}");
    assert_same_rows(&server.rows("containerMetrics", CLUSTER).await, &rows, "the other chunks of the batch arrived");
    let stats = client.stats();
    assert_eq!((stats.rows_dropped_rejected, stats.chunks_dropped_rejected, stats.rows_acked), (1, 1, 31));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_cap_drops_exactly_what_is_missing() {
    let server = Collector::start_with_faults().await;
    server.faults().set_unavailable(u64::MAX);
    let client =
        server.client().max_buffer_bytes(4_096).max_retry_interval(Duration::from_millis(100)).build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA).max_chunk_size(512)).unwrap();
    let rows = containers(0, 2_000);
    for batch in rows.chunks(100) {
        metric.write_all(batch).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let during = client.stats();
    assert!(during.rows_dropped_memory_cap > 0, "{during:?}");
    assert!(during.bytes_pending <= 4_096, "{during:?}");
    server.faults().set_unavailable(0);
    // Sealing the last open chunk may push the oldest queued one out too.
    match client.flush().await {
        Ok(()) => {}
        Err(Error::Dropped { reason, .. }) => assert!(reason.contains("memory cap"), "{reason}"),
        Err(other) => panic!("{other}"),
    }
    let stats = client.stats();
    let stored = server.rows("containerMetrics", CLUSTER).await;
    assert_eq!(stored.len() as u64 + stats.rows_dropped_memory_cap, 2_000, "{stats:?}");
    assert_eq!(stats.rows_dropped(), stats.rows_dropped_memory_cap);
    // Every stored row is one that was written, none twice.
    let mut ids: Vec<i64> = stored.iter().map(|row| row.memory_usage).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), stored.len(), "no row stored twice");
    assert!(stored.iter().all(|row| rows[row.memory_usage as usize] == *row));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_the_collector_is_down_returns_within_the_drain_timeout() {
    let server = Collector::start_with_faults().await;
    server.faults().set_unavailable(u64::MAX);
    let client = server.client().drain_timeout(Duration::from_millis(500)).build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    metric.write_all(&containers(0, 40)).unwrap();
    let started = Instant::now();
    let report = client.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(report.undelivered_rows, 40);
    assert_eq!((report.stats.rows_dropped_shutdown, report.stats.rows_acked), (40, 0));
    assert_eq!(metric.write(&containers(0, 1)[0]).unwrap_err(), Error::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_reports_rows_it_could_not_deliver_in_time_and_keeps_them() {
    let server = Collector::start_with_faults().await;
    server.faults().set_unavailable(u64::MAX);
    let client = server
        .client()
        .drain_timeout(Duration::from_millis(300))
        .max_retry_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    metric.write_all(&containers(0, 5)).unwrap();
    let error = client.flush().await.unwrap_err();
    assert!(
        matches!(&error, Error::NotDelivered { pending_rows: 5, last_error: Some(e) } if e.contains("Unavailable")),
        "{error}"
    );
    server.faults().set_unavailable(0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.flush().await.unwrap();
    assert_eq!(server.rows("containerMetrics", CLUSTER).await, containers(0, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_from_many_threads_all_arrive() {
    let server = Collector::start().await;
    let client = server.client().build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA).max_chunk_size(4096)).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let metric = metric.clone();
            std::thread::spawn(move || containers(t * 10_000, 2_500).iter().for_each(|row| metric.write(row).unwrap()))
        })
        .collect();
    threads.into_iter().for_each(|thread| thread.join().unwrap());
    client.flush().await.unwrap();
    let expected: Vec<_> = (0..4).flat_map(|t| containers(t * 10_000, 2_500)).collect();
    assert_same_rows(&server.rows("containerMetrics", CLUSTER).await, &expected, "4 threads");
}

/// The buffers of acknowledged chunks are kept for the next chunks (the
/// driver lets go of a batch before it reports on it, so the pipeline holds
/// the last reference to each chunk), within their bound, and the rows
/// written into them arrive as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_chunks_buffers_are_kept_for_the_next_chunks() {
    let server = Collector::start().await;
    let client = server.client().build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA).max_chunk_size(16 << 10)).unwrap();
    // Under the query API's 10,000 rows; about 20 chunks.
    let rows = containers(0, 8_000);
    for (i, row) in rows.iter().enumerate() {
        metric.write(row).unwrap();
        if i % 1_000 == 0 {
            // Let the driver send and the collector acknowledge meanwhile.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    client.flush().await.unwrap();
    assert_same_rows(&server.rows("containerMetrics", CLUSTER).await, &rows, "rows in recycled buffers");
    let stats = client.stats();
    assert!(stats.chunks_acked > 10, "{stats:?}");
    // A sixteenth of the default memory cap of 64 MiB at most.
    assert!(stats.spare_bytes > 0 && stats.spare_bytes <= 4 << 20, "{stats:?}");
}

/// gzip and zstd messages arrive equal; a collector that takes neither
/// answers UNIMPLEMENTED naming what it takes, the client sends the same
/// batch again at once uncompressed (no retry, no backoff) and stays
/// uncompressed; the HTTP transport refuses the option, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_messages_arrive_and_fall_back_where_refused() {
    use edgemetrics::Compression;
    use edgemetrics_collector::config::GrpcEncoding;

    let server = Collector::start().await;
    for (compression, cluster) in [(Compression::Gzip, "gzip"), (Compression::Zstd, "zstd")] {
        let client = server.client().cluster_id(cluster).compression(compression).build().unwrap();
        let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
        let rows = containers(0, 400);
        metric.write_all(&rows).unwrap();
        client.flush().await.unwrap();
        assert_same_rows(&server.rows("containerMetrics", cluster).await, &rows, cluster);
        let stats = client.shutdown().await.stats;
        assert_eq!((stats.rows_acked, stats.retries), (400, 0), "{cluster}: {stats:?}");
    }

    let plain = Collector::start_with(|config, _| config.grpc_compression = vec![GrpcEncoding::None]).await;
    let client = plain.client().compression(Compression::Zstd).build().unwrap();
    let metric = client.metric::<Container>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    for round in 0..2 {
        let rows = containers(round * 100, 100);
        metric.write_all(&rows).unwrap();
        client.flush().await.unwrap();
    }
    assert_same_rows(&plain.rows("containerMetrics", CLUSTER).await, &containers(0, 200), "fallen back");
    let stats = client.shutdown().await.stats;
    // Sent again at once, uncompressed: not a retry, and no backoff.
    assert_eq!((stats.rows_acked, stats.retries), (200, 0), "{stats:?}");
    let compressed = |metrics: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with("edgemetrics_collector_grpc_compressed_requests_total "));
        line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).expect("the counter is exposed")
    };
    assert_eq!(compressed(&plain.get("/metrics").await.1), 1, "compressed once, refused, then uncompressed");
    assert_eq!(compressed(&server.get("/metrics").await.1), 2, "one batch in each encoding");

    let refused = server.client().transport(Transport::Http).compression(Compression::Gzip).build();
    match refused {
        Err(Error::Option(e)) => assert_eq!(e.option, "compression", "{e}"),
        other => panic!("{:?}", other.map(|_| "built")),
    }
}

/// Chunks carry the schema's wire form: one schema is one stored text however
/// a writer spells it (so the catalog does not change when it alternates),
/// the logical types are kept, and so are defaults, which a field added to a
/// collection needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_carry_the_wire_form_of_their_schema() {
    let server = Collector::start().await;
    let client = server.client().build().unwrap();
    let spellings = [
        r#"{"type": "record", "name": "events", "namespace": "acme", "doc": "page views",
            "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "when"},
                       {"name": "path", "type": "string", "aliases": ["url"]}]}"#,
        r#"{"fields":[{"type":{"logicalType":"timestamp-millis","type":"long"},"name":"at"},
            {"name":"path","type":{"type":"string"}}],"name":"acme.events","type":"record"}"#,
    ];
    let wire = r#"{"name":"acme.events","type":"record","fields":[{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"path","type":"string"}]}"#;
    let mut changed_at = None;
    for (i, text) in spellings.iter().enumerate() {
        let metric = client.metric::<serde_json::Value>(MetricConfig::schema(*text)).unwrap();
        metric.write(&serde_json::json!({"at": 1_700_000_000_000i64 + i as i64, "path": "/"})).unwrap();
        client.flush().await.unwrap();
        let (schema, updated_at_ms) = server.catalog("events");
        assert_eq!(schema, wire, "spelling {i}");
        assert_eq!(*changed_at.get_or_insert(updated_at_ms), updated_at_ms, "spelling {i} changed the catalog");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, list) = server.get("/api/collections").await;
    assert_eq!(status, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["collections"][0]["schema"], wire, "the query API shows the stored text");

    let added = spellings[0].replace(
        r#""aliases": ["url"]}"#,
        r#""aliases": ["url"]}, {"name": "region", "type": "string", "default": "eu"}"#,
    );
    let metric = client.metric::<serde_json::Value>(MetricConfig::schema(added)).unwrap();
    metric.write(&serde_json::json!({"at": 1_700_000_000_002i64, "path": "/new"})).unwrap();
    client.flush().await.unwrap();
    assert_eq!(
        server.catalog("events").0,
        wire.replace(r#""string"}]}"#, r#""string"},{"name":"region","type":"string","default":"eu"}]}"#)
    );
    let rows: Vec<serde_json::Value> = server.json_rows("events", CLUSTER).await;
    let regions: Vec<_> = rows.iter().map(|row| (row["path"].as_str().unwrap(), row["region"].clone())).collect();
    assert_eq!(
        regions,
        [("/", serde_json::Value::Null), ("/", serde_json::Value::Null), ("/new", "eu".into())],
        "the field with a default was added"
    );
    client.shutdown().await;
}
