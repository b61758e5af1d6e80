//! Hostile clients rather than hostile bytes (issue 16): slow or silent
//! connections, too many of them, too many requests, subscribers that stop
//! reading, and a shutdown whatever requests are doing. Each test checks
//! that the collector keeps serving others.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::process::Collector;
use common::*;
use edgemetrics_collector::pb::edgemetrics::v1::subscribe_event::Event;
use edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest;
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tonic::Code;

const SHORT: Duration = Duration::from_secs(1);

async fn server_with_short_deadlines() -> TestServer {
    TestServer::start_with(|c| {
        c.connections.header_timeout = SHORT;
        c.connections.body_timeout = SHORT;
        c.limits.stream_idle_timeout = SHORT;
        c.connections.idle_timeout = Duration::from_secs(2);
    })
    .await
}

/// A TCP connection to `addr` from the loopback address `from`.
async fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Reads until the server closes the connection (or `within` passes);
/// returns what it sent and how long it took.
async fn read_until_closed(conn: &mut TcpStream, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(tokio::time::Instant::from_std(start + within), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), start.elapsed()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection was still open after {within:?}; got {:?}", String::from_utf8_lossy(&out)),
        }
    }
}

#[tokio::test]
async fn headers_sent_a_byte_at_a_time_time_out() {
    let t = server_with_short_deadlines().await;
    let mut conn = TcpStream::connect(t.server.local_addr()).await.unwrap();
    let start = Instant::now();
    // One header byte every 200 ms: the finding kept such connections open
    // as long as the client wished.
    let trickle = async {
        for b in b"POST /v1/metrics HTTP/1.1\r\nhost: x\r\nx-cluster-id: a-very-long-cluster-id".iter() {
            if conn.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the headers were never cut off");
    };
    tokio::time::timeout(Duration::from_secs(5), trickle).await.expect("cut off within 5 s");
    assert!(start.elapsed() >= SHORT && start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_served_everywhere(&t.server.url()).await;
    t.stop().await;
}

#[tokio::test]
async fn a_connection_that_says_nothing_is_closed() {
    let t = server_with_short_deadlines().await;
    let mut conn = TcpStream::connect(t.server.local_addr()).await.unwrap();
    let (_, took) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(took >= SHORT && took < Duration::from_secs(4), "{took:?}");
    t.stop().await;
}

#[tokio::test]
async fn a_declared_body_that_never_comes_times_out() {
    let t = server_with_short_deadlines().await;
    let addr = t.server.local_addr();
    // HTTP POST: 408, which clients retry.
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        format!(
            "POST /v1/metrics HTTP/1.1\r\nhost: x\r\nauthorization: Token {TOKEN}\r\nx-cluster-id: {CLUSTER}\r\n\
             content-length: 1000\r\n\r\nonly this"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (answer, took) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("the request body did not arrive within 1s (--body-timeout)"), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // gRPC-web, unary: a message header declaring 100 bytes, then 10.
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let mut body = vec![0u8, 0, 0, 0, 100];
    body.extend([0u8; 10]);
    conn.write_all(
        format!(
            "POST /metrics.v1beta.IngestionAPI/WriteMetricsBatch HTTP/1.1\r\nhost: x\r\n\
             content-type: application/grpc-web+proto\r\nauthorization: Token {TOKEN}\r\nx-cluster-id: {CLUSTER}\r\n\
             content-length: 105\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    conn.write_all(&body).await.unwrap();
    let (answer, took) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.contains("grpc-status: 4"), "{answer}");
    assert!(answer.contains("the%20request%20body%20did%20not%20arrive%20within%201s"), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(t.stored_counts(), (0, 0));
    assert_served_everywhere(&t.server.url()).await;
    t.stop().await;
}

#[tokio::test]
async fn a_stream_message_that_stops_halfway_times_out_and_keeps_what_came_before() {
    // The stream's idle timeout later than the body's, so that the half
    // message is what times out (with both at 1 s either may fire first).
    let t = TestServer::start_with(|c| {
        c.connections.header_timeout = SHORT;
        c.connections.body_timeout = SHORT;
        c.limits.stream_idle_timeout = Duration::from_millis(1800);
        c.connections.idle_timeout = Duration::from_secs(3);
    })
    .await;
    // Client streaming over gRPC-web on HTTP/1.1 (chunked): one whole
    // message, then half of the next.
    let first = grpc_web_frame(&chunk(&containers(0, 4), Some(chunk_id(1))).encode_to_vec());
    let second = grpc_web_frame(&chunk(&containers(4, 4), Some(chunk_id(2))).encode_to_vec());
    let mut conn = TcpStream::connect(t.server.local_addr()).await.unwrap();
    conn.write_all(
        format!(
            "POST /metrics.v1beta.IngestionAPI/WriteMetrics HTTP/1.1\r\nhost: x\r\n\
             content-type: application/grpc-web+proto\r\nauthorization: Token {TOKEN}\r\nx-cluster-id: {CLUSTER}\r\n\
             transfer-encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let half = &second[..second.len() / 2];
    for part in [&first[..], half] {
        conn.write_all(format!("{:x}\r\n", part.len()).as_bytes()).await.unwrap();
        conn.write_all(part).await.unwrap();
        conn.write_all(b"\r\n").await.unwrap();
    }
    let (answer, took) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.contains("grpc-status: 4"), "{answer}");
    assert!(answer.contains("a%20message%20of%20the%20stream%20did%20not%20arrive%20within%201s"), "{answer}");
    assert!(answer.contains("x-chunks-acked: 1"), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(t.stored_counts(), (4, 1), "the whole first message was stored");
    t.stop().await;
}

#[tokio::test]
async fn connections_are_capped_per_address_and_in_all() {
    let t = TestServer::start_with(|c| {
        c.connections.max_connections_per_ip = 5;
        c.connections.max_connections = 8;
        c.connections.header_timeout = Duration::from_secs(2);
    })
    .await;
    let addr = t.server.local_addr();
    // The finding: 300 slow connections stayed open. Here one address gets
    // 5, the rest are closed as they are accepted.
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(connect_from([127, 0, 0, 1], addr).await);
    }
    let mut open = 0;
    for conn in &mut held {
        let mut b = [0u8; 1];
        if tokio::time::timeout(Duration::from_millis(20), conn.read(&mut b)).await.is_err() {
            open += 1;
        }
    }
    assert_eq!(open, 5, "connections left open from one address");
    // Another address is served meanwhile...
    let other = format!("http://{addr}");
    let mut conn = connect_from([127, 0, 0, 2], addr).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let (answer, _) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // ...until the total cap: 5 held + 3 more from a third address.
    let mut third = Vec::new();
    for _ in 0..4 {
        third.push(connect_from([127, 0, 0, 3], addr).await);
    }
    let mut b = [0u8; 1];
    assert!(matches!(
        tokio::time::timeout(Duration::from_millis(200), third[3].read(&mut b)).await,
        Ok(Ok(0) | Err(_))
    ));
    // The silent ones are closed after the header deadline, and the first
    // address is served again.
    drop(third);
    for conn in &mut held {
        let _ = tokio::time::timeout(Duration::from_secs(4), conn.read(&mut b)).await;
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_served_everywhere(&other).await;
    let metrics = http().get(format!("{other}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("edgemetrics_collector_connections_refused_total 296"), "{metrics}");
    t.stop().await;
}

#[tokio::test]
async fn request_and_row_rates_answer_429_or_resource_exhausted_with_retry_after() {
    let t = TestServer::start_with(|c| {
        c.rates.requests_per_ip = 5;
        c.rates.rows_per_token = 100;
    })
    .await;
    let url = t.server.url();
    // A bucket holds two seconds' worth: 10 requests, then 429.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let res = http().get(format!("{url}/healthz")).send().await.unwrap();
        statuses
            .push((res.status().as_u16(), res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned())));
    }
    assert_eq!(statuses[..10].iter().filter(|s| s.0 == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses[11], (429, Some("1".into())), "{statuses:?}");
    // The same over gRPC: RESOURCE_EXHAUSTED with retry-after.
    let err = t
        .grpc()
        .await
        .write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 1), None)] }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("--rate-requests-per-ip"), "{err:?}");
    assert_eq!(err.metadata().get("retry-after").unwrap(), "1");
    // Rows per token: 200 in the bucket; 150 pass, the next 150 wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a = send_over("HTTP", &url, vec![chunk(&containers(0, 150), None)]).await;
    assert_eq!(a.code, 200, "{a:?}");
    let a = send_over("HTTP", &url, vec![chunk(&containers(0, 150), None)]).await;
    assert_eq!(a.code, 429, "{a:?}");
    assert!(a.message.contains("too many rows with this token: the limit is 100 per second (--rate-rows-per-token)"));
    t.stop().await;
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_dropped() {
    let t = TestServer::start_with(|c| {
        c.limits.subscriber_send_timeout = SHORT;
        c.limits.subscriber_queue_chunks = 2;
    })
    .await;
    let mut ws = subscribe(&t, &["containerMetrics"]).await;
    // Never read again; write until its socket buffers are full.
    let big: Vec<Container> = containers(0, 20_000);
    for i in 0..40 {
        let a = send_over("gRPC batch", &t.server.url(), vec![chunk(&big, Some(chunk_id(i)))]).await;
        assert_eq!(a.code, 0, "{a:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = http().get(t.url("/metrics")).send().await.unwrap().text().await.unwrap();
        if metrics.contains("edgemetrics_collector_subscribers_dropped_total 1")
            && metrics.contains("edgemetrics_collector_subscribers 0")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the subscriber was not dropped: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A new subscriber is served.
    let mut fresh = subscribe(&t, &["containerMetrics"]).await;
    send_over("HTTP", &t.server.url(), vec![chunk(&containers(0, 2), None)]).await;
    assert!(matches!(ws_next_event(&mut fresh).await, Some(Event::Rows(_))));
    drop(ws.close(None).await);
    t.stop().await;
}

#[tokio::test]
async fn sigterm_stops_the_collector_within_its_grace_whatever_requests_are_doing() {
    let mut c = Collector::start(&["--shutdown-grace", "2s"]);
    // A body that never comes, a silent connection, a subscription, and a
    // stream waiting for its next message.
    let mut slow = TcpStream::connect(c.addr).await.unwrap();
    slow.write_all(b"POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n").await.unwrap();
    let _silent = TcpStream::connect(c.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/subscribe", c.addr)).await.unwrap();
    ws_send_request(&mut ws, TOKEN, &["containerMetrics"]).await;
    assert!(matches!(ws_next_event(&mut ws).await, Some(Event::Subscribed(_))));
    let url = c.url.clone();
    let stream = tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut client =
            edgemetrics_collector::pb::metrics::v1beta::ingestion_api_client::IngestionApiClient::connect(url)
                .await
                .unwrap();
        let messages =
            futures_util::stream::iter([chunk(&containers(0, 2), None)]).chain(futures_util::stream::pending());
        client.write_metrics(authed(messages)).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (took, success) = tokio::task::spawn_blocking(move || c.terminate(Duration::from_secs(6))).await.unwrap();
    assert!(success, "exit status");
    assert!(took < Duration::from_secs(4), "stopped after {took:?}");
    let status = stream.await.unwrap().unwrap_err();
    assert!(matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled), "{status:?}");
}

#[tokio::test]
async fn bytes_in_flight_over_all_connections_are_bounded() {
    let t = TestServer::start_with(|c| {
        c.connections.max_inflight_bytes = 1 << 20;
        c.limits.max_message_bytes = 256 << 10;
        c.limits.max_stored_bytes_per_request = 512 << 10;
        c.connections.body_timeout = Duration::from_secs(2);
        c.limits.stream_idle_timeout = Duration::from_secs(2);
        c.connections.idle_timeout = Duration::from_secs(10);
    })
    .await;
    let addr = t.server.local_addr();
    // Four requests each send all but 10 bytes of a 250 KiB message: the
    // bytes they sent are held while the rest does not come.
    let mut hogs = Vec::new();
    for _ in 0..4 {
        let mut hog = TcpStream::connect(addr).await.unwrap();
        hog.write_all(
            format!(
                "POST /metrics.v1beta.IngestionAPI/WriteMetricsBatch HTTP/1.1\r\nhost: x\r\n\
                 content-type: application/grpc-web+proto\r\nauthorization: Token {TOKEN}\r\nx-cluster-id: {CLUSTER}\r\n\
                 content-length: {}\r\n\r\n",
                5 + 250 * 1024
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        hog.write_all(&[0, 0, 3, 0xe8, 0]).await.unwrap();
        hog.write_all(&vec![0; 250 * 1024 - 10]).await.unwrap();
        hogs.push(hog);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another client's 25 KiB do not fit: answered at once, retryably.
    let rows = containers(0, 1000);
    for transport in TRANSPORTS {
        let a = send_over(transport, &t.server.url(), vec![chunk(&rows, None)]).await;
        let expected = if transport == "HTTP" { 503 } else { Code::Unavailable as i32 };
        assert_eq!(a.code, expected, "{a:?}");
        assert!(a.message.contains("the collector is busy") && a.message.contains("--max-inflight-bytes"), "{a:?}");
    }
    let res = http()
        .post(t.url("/v1/metrics"))
        .header("authorization", format!("Token {TOKEN}"))
        .header("x-cluster-id", CLUSTER)
        .body(prost::Message::encode_to_vec(&WriteMetricsBatchRequest { chunks: vec![chunk(&rows, None)] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "1");
    // Once the hogs' body deadline passed, their bytes are given back.
    for hog in &mut hogs {
        let (answer, _) = read_until_closed(hog, Duration::from_secs(5)).await;
        assert!(answer.contains("grpc-status: 4"), "{answer}");
    }
    assert_served_everywhere(&t.server.url()).await;
    t.stop().await;
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_the_bytes_in_flight() {
    let t = TestServer::start_with(|c| {
        c.connections.max_inflight_bytes = 2 << 20;
        c.limits.max_message_bytes = 256 << 10;
        c.limits.max_stored_bytes_per_request = 512 << 10;
        c.connections.max_inflight_bytes_per_ip = 100 * 1024;
        c.connections.body_timeout = Duration::from_secs(2);
        c.limits.stream_idle_timeout = Duration::from_secs(2);
        c.connections.idle_timeout = Duration::from_secs(10);
    })
    .await;
    let addr = t.server.local_addr();
    // 127.0.0.1 holds 90 KiB of a message that does not finish.
    let mut hog = connect_from([127, 0, 0, 1], addr).await;
    hog.write_all(
        format!(
            "POST /v1/metrics HTTP/1.1\r\nhost: x\r\nauthorization: Token {TOKEN}\r\nx-cluster-id: {CLUSTER}\r\n\
             content-length: {}\r\n\r\n",
            100 * 1024
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    hog.write_all(&vec![0; 90 * 1024]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body =
        prost::Message::encode_to_vec(&WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 1000), None)] });
    let post_from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
            .post(t.url("/v1/metrics"))
            .header("authorization", format!("Token {TOKEN}"))
            .header("x-cluster-id", CLUSTER)
            .body(body.clone())
            .send()
    };
    let res = post_from([127, 0, 0, 1]).await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("its share is 100 KiB (--max-inflight-bytes-per-ip)"));
    let res = post_from([127, 0, 0, 2]).await.unwrap();
    assert_eq!(res.status(), 200, "another address is not held back");
    drop(hog);
    t.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_dropped() {
    let t = TestServer::start_with(|c| {
        c.connections.idle_timeout = Duration::from_secs(2);
        c.connections.body_timeout = SHORT;
        c.limits.stream_idle_timeout = SHORT;
        c.limits.max_response_bytes = 16 << 20;
    })
    .await;
    // 10,000 rows of 2 KB: an answer larger than the sockets' buffers.
    let schema = r#"{"type":"record","name":"fat","fields":[{"name":"text","type":"string"}]}"#;
    let text = "x".repeat(2000);
    let mut avro = Vec::new();
    for _ in 0..10_000 {
        avro.extend(zigzag(2000));
        avro.extend(text.as_bytes());
    }
    let a = send_over("HTTP", &t.server.url(), vec![raw_chunk("fat", schema, avro, 10_000, None)]).await;
    assert_eq!(a.code, 200, "{a:?}");
    // A small receive buffer, so that the kernel cannot take the whole
    // answer on the client's behalf.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket.connect(t.server.local_addr()).await.unwrap();
    conn.write_all(
        format!("GET /api/collections/fat/rows?limit=10000&token={TOKEN} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    // Never read while the server is stuck writing; then read what is left.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (answer, _) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", &answer[..answer.len().min(200)]);
    assert!(answer.len() < 10 << 20, "the connection was dropped before the whole answer: {} bytes", answer.len());
    assert_served_everywhere(&t.server.url()).await;
    t.stop().await;
}

#[tokio::test]
async fn websockets_count_against_the_connection_caps() {
    let t = TestServer::start_with(|c| c.connections.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(subscribe(&t, &["containerMetrics"]).await);
    }
    let refused = tokio_tungstenite::connect_async(t.ws_url()).await;
    assert!(refused.is_err(), "a fourth connection from the address is refused");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _again = subscribe(&t, &["containerMetrics"]).await;
    t.stop().await;
}
