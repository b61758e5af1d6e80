//! Bad input specific to one transport (HTTP bodies, WebSocket frames,
//! streams), retried chunks, and slow subscribers. Each row is its own test;
//! each checks its error, that nothing was stored, and that the next good
//! request succeeds.

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::*;
use edgemetrics_collector::pb::edgemetrics::v1::subscribe_event::Event;
use edgemetrics_collector::pb::metrics::v1beta::{WriteMetricsBatchRequest, WriteMetricsRequest};
use futures_util::SinkExt;
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tonic::Code;

fn good_batch(id: u8) -> WriteMetricsBatchRequest {
    WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 3), Some(chunk_id(id)))] }
}

async fn post_raw(t: &TestServer, body: Vec<u8>, encoding: Option<&str>) -> (u16, String) {
    let mut req = http()
        .post(t.url("/v1/metrics"))
        .header("authorization", format!("Token {TOKEN}"))
        .header("x-cluster-id", CLUSTER);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    let res = req.body(body).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn http_rejects(body: Vec<u8>, encoding: Option<&str>, status: u16, needle: &str) {
    let t = TestServer::start_with(|c| c.limits.max_message_bytes = 64 * 1024).await;
    let (code, text) = post_raw(&t, body, encoding).await;
    assert_eq!(code, status, "{text}");
    assert!(text.contains(needle), "{text:?} should contain {needle:?}");
    assert_eq!(t.stored_counts(), (0, 0));
    let (code, text) = post_raw(&t, good_batch(1).encode_to_vec(), None).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(t.stored_counts(), (3, 1));
    t.stop().await;
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn truncated_protobuf_post() {
    let mut body = good_batch(1).encode_to_vec();
    body.truncate(body.len() - 7);
    http_rejects(body, None, 400, "body is not a protobuf WriteMetricsBatchRequest").await;
}

#[tokio::test]
async fn gzip_garbage_post() {
    http_rejects(b"definitely not gzip".to_vec(), Some("gzip"), 400, "body is not valid gzip").await;
}

#[tokio::test]
async fn gzip_bomb_post() {
    // 10 MiB of zeros compress to ~10 KiB: small on the wire, too large inflated.
    let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    http_rejects(bomb, Some("gzip"), 413, "decompressed request body exceeds the limit of 65536 bytes").await;
}

#[tokio::test]
async fn oversized_post_body() {
    http_rejects(vec![0u8; 65 * 1024], None, 413, "request body exceeds the limit of 65536 bytes").await;
}

#[tokio::test]
async fn unsupported_content_encoding() {
    http_rejects(good_batch(1).encode_to_vec(), Some("br"), 400, "unsupported content-encoding \"br\"").await;
}

/// Sends one raw frame as the first WebSocket frame and expects an error
/// event naming the problem, then a close; a good subscription follows.
async fn ws_rejects(t: &TestServer, frame: WsMessage, needle: &str) {
    let mut ws = ws_connect(t).await;
    ws.send(frame).await.unwrap();
    match ws_next_event(&mut ws).await {
        Some(Event::Error(e)) => assert!(e.message.contains(needle), "{:?} vs {needle:?}", e.message),
        other => panic!("expected an error event, got {other:?}"),
    }
    ws_expect_closed(&mut ws).await;
    let mut ok = subscribe(t, &["containerMetrics"]).await;
    t.grpc().await.write_metrics_batch(authed(good_batch(1))).await.unwrap();
    assert!(matches!(ws_next_event(&mut ok).await, Some(Event::Rows(r)) if r.rows == 3));
}

#[tokio::test]
async fn garbage_ws_frame() {
    let t = TestServer::start().await;
    ws_rejects(
        &t,
        WsMessage::Binary(vec![0xff, 0xff, 0xff, 0x07, 0x01].into()),
        "the first frame is not a protobuf SubscribeRequest",
    )
    .await;
    t.stop().await;
}

#[tokio::test]
async fn oversized_ws_frame() {
    let t = TestServer::start().await;
    ws_rejects(
        &t,
        WsMessage::Binary(vec![0u8; 70 * 1024].into()),
        "frame of 71680 bytes exceeds the limit of 65536 bytes",
    )
    .await;
    t.stop().await;
}

#[tokio::test]
async fn ws_text_first_frame() {
    let t = TestServer::start().await;
    ws_rejects(&t, WsMessage::Text("hello".into()), "must be a binary protobuf SubscribeRequest").await;
    t.stop().await;
}

#[tokio::test]
async fn ws_bad_token() {
    let t = TestServer::start().await;
    let mut ws = ws_connect(&t).await;
    ws_send_request(&mut ws, "wrong", &["containerMetrics"]).await;
    match ws_next_event(&mut ws).await {
        Some(Event::Error(e)) => assert_eq!(e.message, "invalid token"),
        other => panic!("expected an error event, got {other:?}"),
    }
    ws_expect_closed(&mut ws).await;
    let _ok = subscribe(&t, &["containerMetrics"]).await;
    t.stop().await;
}

#[tokio::test]
async fn ws_bad_collection_name() {
    let t = TestServer::start().await;
    let mut ws = ws_connect(&t).await;
    ws_send_request(&mut ws, TOKEN, &["x; DROP TABLE y"]).await;
    match ws_next_event(&mut ws).await {
        Some(Event::Error(e)) => assert!(e.message.contains("is not a valid name"), "{}", e.message),
        other => panic!("expected an error event, got {other:?}"),
    }
    ws_expect_closed(&mut ws).await;
    let _ok = subscribe(&t, &["containerMetrics"]).await;
    t.stop().await;
}

#[tokio::test]
async fn ws_bad_cluster_filter() {
    let t = TestServer::start().await;
    let mut ws = ws_connect(&t).await;
    ws_send_request_from(&mut ws, TOKEN, &["containerMetrics"], &["west", "no spaces"]).await;
    match ws_next_event(&mut ws).await {
        Some(Event::Error(e)) => {
            assert_eq!(
                e.message,
                r#"from_clusters[1] "no spaces": character ' ' is not allowed (use A-Z a-z 0-9 . _ : -)"#
            )
        }
        other => panic!("expected an error event, got {other:?}"),
    }
    ws_expect_closed(&mut ws).await;
    let _ok = subscribe(&t, &["containerMetrics"]).await;
    t.stop().await;
}

#[tokio::test]
async fn ws_no_request_in_time() {
    let t = TestServer::start_with(|c| c.limits.subscribe_timeout = Duration::from_millis(200)).await;
    let mut ws = ws_connect(&t).await;
    match ws_next_event(&mut ws).await {
        Some(Event::Error(e)) => assert!(e.message.contains("no SubscribeRequest within 200ms"), "{}", e.message),
        other => panic!("expected an error event, got {other:?}"),
    }
    ws_expect_closed(&mut ws).await;
    let _ok = subscribe(&t, &["containerMetrics"]).await;
    t.stop().await;
}

#[tokio::test]
async fn ws_subscriber_limit() {
    let t = TestServer::start_with(|c| c.limits.max_subscribers = 1).await;
    let first = subscribe(&t, &["containerMetrics"]).await;
    let mut ws = ws_connect(&t).await;
    ws_send_request(&mut ws, TOKEN, &["containerMetrics"]).await;
    match ws_next_event(&mut ws).await {
        Some(Event::Error(e)) => assert!(e.message.contains("too many subscribers: the limit is 1"), "{}", e.message),
        other => panic!("expected an error event, got {other:?}"),
    }
    drop(first);
    // The slot is freed once the first connection is gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut ws = ws_connect(&t).await;
        ws_send_request(&mut ws, TOKEN, &["containerMetrics"]).await;
        if matches!(ws_next_event(&mut ws).await, Some(Event::Subscribed(_))) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.stop().await;
}

/// A chunk retried with the same id (after a lost acknowledgement) is
/// acknowledged every time and stored once, whatever the transport.
#[tokio::test]
async fn retried_chunk_id_stored_once() {
    let t = TestServer::start().await;
    let mut client = t.grpc().await;
    let first = client.write_metrics_batch(authed(good_batch(7))).await.unwrap().into_inner();
    assert_eq!((first.rows_stored, first.chunks_acked), (3, 1));
    let again = client.write_metrics_batch(authed(good_batch(7))).await.unwrap().into_inner();
    assert_eq!((again.rows_stored, again.chunks_acked), (0, 1));
    let stream =
        client.write_metrics(authed(futures_util::stream::iter(good_batch(7).chunks))).await.unwrap().into_inner();
    assert_eq!((stream.rows_stored, stream.chunks_acked), (0, 1));
    let (code, _) = post_raw(&t, good_batch(7).encode_to_vec(), None).await;
    assert_eq!(code, 200);
    // The same id twice in one batch: stored once.
    let twice =
        WriteMetricsBatchRequest { chunks: vec![good_batch(8).chunks[0].clone(), good_batch(8).chunks[0].clone()] };
    let res = client.write_metrics_batch(authed(twice)).await.unwrap().into_inner();
    assert_eq!((res.rows_stored, res.chunks_acked), (3, 2));
    assert_eq!(t.stored_counts(), (6, 2));
    // Dedup is per cluster: another cluster's chunk with the same id is stored.
    let other = client
        .write_metrics_batch(with_auth(good_batch(7), Some("Token test-token"), Some("other")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.rows_stored, 3);
    let text = http().get(t.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("edgemetrics_collector_duplicate_chunks_total 4"), "{text}");
    t.stop().await;
}

#[tokio::test]
async fn oversized_stream_message() {
    let t = TestServer::start_with(|c| c.limits.max_message_bytes = 64 * 1024).await;
    let msgs = vec![chunk(&containers(0, 2), None), chunk(&containers(0, 3000), None)];
    let err = t.grpc().await.write_metrics(authed(futures_util::stream::iter(msgs))).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{}", err.message());
    assert!(err.message().starts_with("chunk 1: message exceeds the limit of 65536 bytes"), "{}", err.message());
    assert_eq!(t.stored_counts(), (2, 0), "chunk 0 was stored before");
    t.grpc().await.write_metrics_batch(authed(good_batch(1))).await.unwrap();
    t.stop().await;
}

#[tokio::test]
async fn idle_stream_times_out() {
    let t = TestServer::start_with(|c| c.limits.stream_idle_timeout = Duration::from_millis(300)).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<WriteMetricsRequest>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    tx.send(chunk(&containers(0, 2), None)).await.unwrap();
    let err = t.grpc().await.write_metrics(authed(stream)).await.unwrap_err();
    drop(tx);
    assert_eq!(err.code(), Code::DeadlineExceeded, "{}", err.message());
    assert!(err.message().contains("no message for 300ms"), "{}", err.message());
    assert_eq!(t.stored_counts().0, 2);
    t.stop().await;
}

/// A subscriber that does not read loses rows once its queue is full, is
/// told exactly how many, and ingestion never waits for it.
#[tokio::test]
async fn slow_subscriber_gets_missed() {
    let t = TestServer::start_with(|c| c.limits.subscriber_queue_chunks = 2).await;
    let schema = r#"{"type":"record","name":"blob","fields":[{"name":"data","type":"string"}]}"#;
    let mut ws = subscribe(&t, &["blob"]).await;
    let big = "x".repeat(256 * 1024);
    let value = apache_avro::types::Value::Record(vec![("data".into(), apache_avro::types::Value::String(big))]);
    let avro = encode(schema, &[value.clone(), value]);
    let chunks = 120u64;
    let mut client = t.grpc().await;
    let started = std::time::Instant::now();
    for _ in 0..chunks {
        client
            .write_metrics_batch(authed(WriteMetricsBatchRequest {
                chunks: vec![raw_chunk("blob", schema, avro.clone(), 2, None)],
            }))
            .await
            .unwrap();
    }
    // 60 MiB were ingested while the subscriber read nothing.
    assert!(started.elapsed() < Duration::from_secs(60));
    let total = chunks * 2;
    let (mut delivered, mut missed) = (0u64, 0u64);
    while delivered + missed < total {
        match ws_next_event(&mut ws).await {
            Some(Event::Rows(r)) => delivered += r.rows,
            Some(Event::Missed(m)) => {
                assert_eq!(m.collection, "blob");
                missed += m.rows;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(delivered + missed, total, "every row is delivered or counted as missed");
    assert!(missed > 0, "the subscriber should have missed rows");
    let text = http().get(t.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(&format!("edgemetrics_collector_subscriber_missed_rows_total {missed}")), "{text}");
    t.stop().await;
}
