//! Helpers shared by the integration tests: a collector on 127.0.0.1 with a
//! temporary SQLite file, Avro encoding with apache-avro, and clients for
//! every transport.
#![allow(dead_code)]

pub mod clickhouse;
pub mod process;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::types::Value;
use edgemetrics_collector::pb::edgemetrics::v1::{SubscribeEvent, SubscribeRequest};
use edgemetrics_collector::pb::metrics::v1beta::ingestion_api_client::IngestionApiClient;
use edgemetrics_collector::pb::metrics::v1beta::{MetricsMetadata, WriteMetricsBatchRequest, WriteMetricsRequest};
use edgemetrics_collector::{Config, RunningServer, Server};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tonic::transport::Channel;

pub const TOKEN: &str = "test-token";
pub const CLUSTER: &str = "cluster-1";

/// The containerMetrics record of castai/metrics' benchmark.
pub const CONTAINER_SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},
    {"name":"memory_usage","type":"long"},
    {"name":"cpu_usage","type":"long"},
    {"name":"memory_request","type":"long"},
    {"name":"cpu_request","type":"long"}]}"#;

/// One containerMetrics row.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    pub container_id: String,
    pub memory_usage: i64,
    pub cpu_usage: i64,
    pub memory_request: i64,
    pub cpu_request: i64,
}

impl Container {
    pub fn value(&self) -> Value {
        Value::Record(vec![
            ("container_id".into(), Value::String(self.container_id.clone())),
            ("memory_usage".into(), Value::Long(self.memory_usage)),
            ("cpu_usage".into(), Value::Long(self.cpu_usage)),
            ("memory_request".into(), Value::Long(self.memory_request)),
            ("cpu_request".into(), Value::Long(self.cpu_request)),
        ])
    }

    /// Compares with a row of the query API, field by field.
    pub fn assert_json(&self, row: &serde_json::Value) {
        assert_eq!(row["container_id"], self.container_id.as_str(), "{row}");
        assert_eq!(row["memory_usage"], self.memory_usage, "{row}");
        assert_eq!(row["cpu_usage"], self.cpu_usage, "{row}");
        assert_eq!(row["memory_request"], self.memory_request, "{row}");
        assert_eq!(row["cpu_request"], self.cpu_request, "{row}");
    }
}

/// Deterministic rows: `n` rows numbered from `start`.
pub fn containers(start: i64, n: usize) -> Vec<Container> {
    (start..start + n as i64)
        .map(|i| Container {
            container_id: format!("container-{i}"),
            memory_usage: i * 1024 + 7,
            cpu_usage: (i * 37) % 10_000,
            memory_request: i * 2048 - 3,
            cpu_request: -i,
        })
        .collect()
}

/// Avro binary datums, concatenated, written by apache-avro.
pub fn encode(schema_json: &str, values: &[Value]) -> Vec<u8> {
    let schema = Schema::parse_str(schema_json).expect("test schema parses");
    let mut out = Vec::new();
    for v in values {
        out.extend(apache_avro::to_avro_datum(&schema, v.clone()).expect("test row encodes"));
    }
    out
}

/// A chunk of containerMetrics rows.
pub fn chunk(rows: &[Container], chunk_id: Option<[u8; 16]>) -> WriteMetricsRequest {
    let values: Vec<Value> = rows.iter().map(Container::value).collect();
    raw_chunk("containerMetrics", CONTAINER_SCHEMA, encode(CONTAINER_SCHEMA, &values), rows.len() as u64, chunk_id)
}

/// A chunk from its parts.
pub fn raw_chunk(
    collection: &str,
    schema: &str,
    metrics: Vec<u8>,
    rows: u64,
    chunk_id: Option<[u8; 16]>,
) -> WriteMetricsRequest {
    WriteMetricsRequest {
        collection: collection.into(),
        metrics,
        schema: schema.as_bytes().to_vec(),
        metadata: Some(MetricsMetadata { rows, skip_timestamp: false, timestamp_column: None }),
        chunk_id: chunk_id.map(|c| c.to_vec()).unwrap_or_default(),
    }
}

/// A record with a field of every Avro type the stores take.
pub const TYPES_SCHEMA: &str = r#"{"type":"record","name":"everything","namespace":"test.ns","fields":[
    {"name":"b","type":"boolean"},
    {"name":"i","type":"int"},
    {"name":"l","type":"long"},
    {"name":"f","type":"float"},
    {"name":"d","type":"double"},
    {"name":"s","type":"string"},
    {"name":"by","type":"bytes"},
    {"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
    {"name":"fx","type":{"type":"fixed","name":"Four","size":4}},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"n","type":["null","long"]},
    {"name":"arr","type":{"type":"array","items":"long"}},
    {"name":"m","type":{"type":"map","values":"string"}},
    {"name":"rec","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"double"}]}},
    {"name":"u","type":["null","long","string"]}
]}"#;

/// A row of [`TYPES_SCHEMA`]; `null` makes its nullable field null.
pub fn everything(k: i64, null: bool) -> Value {
    Value::Record(vec![
        ("b".into(), Value::Boolean(k % 2 == 0)),
        ("i".into(), Value::Int(k as i32 - 5)),
        ("l".into(), Value::Long(k * 1_000_000_007)),
        ("f".into(), Value::Float(1.5)),
        ("d".into(), Value::Double(k as f64 / 4.0)),
        ("s".into(), Value::String(format!("s\"'; {k}"))),
        ("by".into(), Value::Bytes(vec![0, 1, 254, k as u8])),
        ("e".into(), Value::Enum(1, "GREEN".into())),
        ("fx".into(), Value::Fixed(4, vec![9, 8, 7, 6])),
        ("ts".into(), Value::TimestampMillis(1_700_000_000_000 + k)),
        (
            "n".into(),
            if null { Value::Union(0, Box::new(Value::Null)) } else { Value::Union(1, Box::new(Value::Long(k))) },
        ),
        ("arr".into(), Value::Array(vec![Value::Long(1), Value::Long(k)])),
        ("m".into(), Value::Map(HashMap::from([("a".to_owned(), Value::String("b".into()))]))),
        ("rec".into(), Value::Record(vec![("x".into(), Value::Double(0.25))])),
        ("u".into(), Value::Union(2, Box::new(Value::String("str".into())))),
    ])
}

/// Stores a million containerMetrics rows in chunks of 100,000 (a chunk's
/// rows share one receive millisecond) and pages them with `?after=`:
/// each row once and in the order stored; rows stored later come after the
/// last cursor; without `after` the answer has no cursor; each of `bad`
/// cursors is refused naming `after`.
pub async fn pages_a_million_rows_each_once_in_order(t: &TestServer, bad: &[&str]) {
    const TOTAL: usize = 1_000_000;
    const PER_CHUNK: usize = 100_000;
    let mut client = t.grpc().await;
    let token = format!("Token {TOKEN}");
    let send = |start: usize, n: usize| {
        let request = WriteMetricsBatchRequest { chunks: vec![chunk(&containers(start as i64, n), None)] };
        with_auth(request, Some(&token), Some("paged"))
    };
    for start in (0..TOTAL).step_by(PER_CHUNK) {
        client.write_metrics_batch(send(start, PER_CHUNK)).await.expect("stored");
    }
    let (mut next, mut seen, mut pages) = (String::new(), 0usize, 0);
    loop {
        let path = format!("/api/collections/containerMetrics/rows?limit=10000&after={next}");
        let (status, page) = t.get_json(&path).await;
        assert_eq!(status, 200, "{path}: {page}");
        let rows = page["rows"].as_array().unwrap();
        for row in rows {
            // Row i has memory_usage i * 1024 + 7: each once, in order.
            assert_eq!(row["memory_usage"], seen as i64 * 1024 + 7, "row {seen}");
            seen += 1;
        }
        let cursor = page["next"].as_str().expect("a next cursor").to_string();
        if rows.is_empty() {
            assert_eq!(cursor, next, "no rows: the same cursor");
            break;
        }
        assert_ne!(cursor, next);
        (next, pages) = (cursor, pages + 1);
    }
    assert_eq!((seen, pages), (TOTAL, TOTAL / 10_000));
    // Rows stored later come after the last cursor.
    client.write_metrics_batch(send(TOTAL, 3)).await.expect("stored");
    let (_, page) = t.get_json(&format!("/api/collections/containerMetrics/rows?after={next}")).await;
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (row, expected) in rows.iter().zip(containers(TOTAL as i64, 3)) {
        expected.assert_json(row);
    }
    // Without `after`, the answer is as before: no cursor.
    let (_, plain) = t.get_json("/api/collections/containerMetrics/rows?limit=1").await;
    assert!(plain.get("next").is_none(), "{plain}");
    for bad in bad {
        let (status, body) = t.get_json(&format!("/api/collections/containerMetrics/rows?after={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap().contains("after"), "{bad}: {body}");
    }
}

/// A distinct 16-byte chunk id.
pub fn chunk_id(n: u8) -> [u8; 16] {
    let mut id = [0xA5u8; 16];
    id[15] = n;
    id
}

/// A running collector with its temporary database file.
pub struct TestServer {
    pub server: RunningServer,
    pub db: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("collector.db");
        let mut config = Config::for_tests([TOKEN]);
        config.db = db.to_string_lossy().into_owned();
        tweak(&mut config);
        let server = Server::start(config).await.expect("collector starts");
        Self { server, db, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/subscribe", self.server.local_addr())
    }

    pub async fn grpc(&self) -> IngestionApiClient<Channel> {
        IngestionApiClient::connect(self.server.url()).await.expect("gRPC connects")
    }

    /// A read-only SQLite connection to the collector's database file.
    pub fn sqlite(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(&self.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("db opens")
    }

    /// Rows in every collection table, plus the dedup records.
    pub fn stored_counts(&self) -> (i64, i64) {
        let db = self.sqlite();
        let names: Vec<String> = db
            .prepare("SELECT name FROM _collections")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut rows = 0;
        for n in names {
            rows += db.query_row(&format!("SELECT COUNT(*) FROM \"{n}\""), [], |r| r.get::<_, i64>(0)).unwrap();
        }
        let chunks = db.query_row("SELECT COUNT(*) FROM _chunks", [], |r| r.get(0)).unwrap();
        (rows, chunks)
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let res =
            http().get(self.url(path)).header("authorization", format!("Token {TOKEN}")).send().await.expect("GET");
        let status = res.status().as_u16();
        let body = res.bytes().await.expect("body");
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    /// Stops the server (and checks that it stops).
    pub async fn stop(self) {
        tokio::time::timeout(Duration::from_secs(15), self.server.shutdown())
            .await
            .expect("shutdown in time")
            .expect("clean shutdown");
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// Adds `authorization: Token <TOKEN>` and `x-cluster-id`.
pub fn authed<T>(msg: T) -> tonic::Request<T> {
    with_auth(msg, Some(&format!("Token {TOKEN}")), Some(CLUSTER))
}

pub fn with_auth<T>(msg: T, auth: Option<&str>, cluster: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(a) = auth {
        req.metadata_mut().insert("authorization", a.parse().expect("ascii"));
    }
    if let Some(c) = cluster {
        req.metadata_mut().insert("x-cluster-id", c.parse().expect("ascii"));
    }
    req
}

/// Frames one gRPC-web message.
pub fn grpc_web_frame(msg: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend((msg.len() as u32).to_be_bytes());
    out.extend(msg);
    out
}

/// A parsed gRPC-web response: the message (if any), grpc-status and
/// grpc-message from the trailer frame or, for trailers-only responses, the
/// headers.
#[derive(Debug)]
pub struct GrpcWebReply {
    pub message: Option<Vec<u8>>,
    pub status: u32,
    pub grpc_message: String,
}

pub fn parse_grpc_web(headers: &reqwest::header::HeaderMap, body: &[u8]) -> GrpcWebReply {
    let mut message = None;
    let mut trailers = String::new();
    let mut rest = body;
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let payload = &rest[5..5 + len];
        if flag & 0x80 != 0 {
            trailers = String::from_utf8_lossy(payload).into_owned();
        } else {
            message = Some(payload.to_vec());
        }
        rest = &rest[5 + len..];
    }
    assert!(rest.is_empty(), "trailing bytes in the gRPC-web body");
    let mut status = headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let mut grpc_message = headers.get("grpc-message").and_then(|v| v.to_str().ok()).map(str::to_owned);
    for line in trailers.split("\r\n") {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "grpc-status" => status = v.trim().parse().ok(),
                "grpc-message" => grpc_message = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    GrpcWebReply {
        message,
        status: status.expect("grpc-status present"),
        grpc_message: percent_decode(&grpc_message.unwrap_or_default()),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws_connect(server: &TestServer) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(server.ws_url()).await.expect("WebSocket connects");
    ws
}

pub async fn ws_send_request(ws: &mut Ws, token: &str, collections: &[&str]) {
    ws_send_request_from(ws, token, collections, &[]).await;
}

/// A `SubscribeRequest` for the rows of `clusters` only (all when empty).
pub async fn ws_send_request_from(ws: &mut Ws, token: &str, collections: &[&str], clusters: &[&str]) {
    let req = SubscribeRequest {
        token: token.into(),
        cluster_id: CLUSTER.into(),
        collections: collections.iter().map(|c| (*c).to_owned()).collect(),
        from_clusters: clusters.iter().map(|c| (*c).to_owned()).collect(),
    };
    ws.send(WsMessage::Binary(req.encode_to_vec().into())).await.expect("send SubscribeRequest");
}

/// Subscribes and waits for `Subscribed`.
pub async fn subscribe(server: &TestServer, collections: &[&str]) -> Ws {
    let mut ws = ws_connect(server).await;
    ws_send_request(&mut ws, TOKEN, collections).await;
    match ws_next_event(&mut ws).await {
        Some(edgemetrics_collector::pb::edgemetrics::v1::subscribe_event::Event::Subscribed(_)) => ws,
        other => panic!("expected Subscribed, got {other:?}"),
    }
}

/// The next SubscribeEvent (None when the socket closed).
pub async fn ws_next_event(ws: &mut Ws) -> Option<edgemetrics_collector::pb::edgemetrics::v1::subscribe_event::Event> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("a WebSocket frame in time");
        match msg {
            None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return None,
            Some(Ok(WsMessage::Binary(b))) => {
                return SubscribeEvent::decode(&b[..]).expect("SubscribeEvent").event;
            }
            Some(Ok(_)) => continue,
        }
    }
}

/// Asserts that the socket is closed next (after any close frame).
pub async fn ws_expect_closed(ws: &mut Ws) {
    assert!(ws_next_event(ws).await.is_none(), "expected the socket to close");
}

/// The transports a batch can be sent over.
pub const TRANSPORTS: [&str; 4] = ["gRPC batch", "gRPC stream", "HTTP", "gRPC-web"];

/// How one transport answered: the gRPC code (0 for OK) or the HTTP
/// status, and the message.
#[derive(Debug)]
pub struct Answer {
    pub transport: &'static str,
    pub code: i32,
    pub message: String,
}

/// `POST /v1/metrics` of the chunks to the collector at `url`, with the test
/// token and cluster.
pub async fn post_batch(url: &str, chunks: Vec<WriteMetricsRequest>) -> reqwest::Response {
    http()
        .post(format!("{url}/v1/metrics"))
        .header("authorization", format!("Token {TOKEN}"))
        .header("x-cluster-id", CLUSTER)
        .body(WriteMetricsBatchRequest { chunks }.encode_to_vec())
        .send()
        .await
        .expect("POST")
}

/// Sends the chunks over one transport to the collector at `url`, with the
/// test token and cluster.
pub async fn send_over(transport: &'static str, url: &str, chunks: Vec<WriteMetricsRequest>) -> Answer {
    let answer = |code: i32, message: String| Answer { transport, code, message };
    match transport {
        "gRPC batch" => {
            let mut client = IngestionApiClient::connect(url.to_owned()).await.expect("gRPC connects");
            match client.write_metrics_batch(authed(WriteMetricsBatchRequest { chunks })).await {
                Ok(_) => answer(0, String::new()),
                Err(s) => answer(s.code() as i32, s.message().to_owned()),
            }
        }
        "gRPC stream" => {
            let mut client = IngestionApiClient::connect(url.to_owned()).await.expect("gRPC connects");
            match client.write_metrics(authed(futures_util::stream::iter(chunks))).await {
                Ok(_) => answer(0, String::new()),
                Err(s) => answer(s.code() as i32, s.message().to_owned()),
            }
        }
        "HTTP" => {
            let res = post_batch(url, chunks).await;
            answer(res.status().as_u16() as i32, res.text().await.expect("body"))
        }
        "gRPC-web" => {
            let res = http()
                .post(format!("{url}/metrics.v1beta.IngestionAPI/WriteMetricsBatch"))
                .header("content-type", "application/grpc-web+proto")
                .header("x-grpc-web", "1")
                .header("authorization", format!("Token {TOKEN}"))
                .header("x-cluster-id", CLUSTER)
                .body(grpc_web_frame(&WriteMetricsBatchRequest { chunks }.encode_to_vec()))
                .send()
                .await
                .expect("gRPC-web POST");
            let headers = res.headers().clone();
            let reply = parse_grpc_web(&headers, &res.bytes().await.expect("body"));
            answer(reply.status as i32, reply.grpc_message)
        }
        other => panic!("unknown transport {other}"),
    }
}

/// Sends the chunks over every transport; each must refuse them with
/// `code` (gRPC, gRPC-web) or `http_status` (HTTP), naming `needle`.
pub async fn assert_refused_everywhere(
    url: &str,
    chunks: &[WriteMetricsRequest],
    code: tonic::Code,
    http_status: u16,
    needle: &str,
) {
    assert_refused_over(&TRANSPORTS, url, chunks, code, http_status, needle).await;
}

/// [`assert_refused_everywhere`] over some transports.
pub async fn assert_refused_over(
    transports: &[&'static str],
    url: &str,
    chunks: &[WriteMetricsRequest],
    code: tonic::Code,
    http_status: u16,
    needle: &str,
) {
    for &transport in transports {
        let a = send_over(transport, url, chunks.to_vec()).await;
        let expected = if transport == "HTTP" { i32::from(http_status) } else { code as i32 };
        assert_eq!(a.code, expected, "{transport}: {a:?}");
        assert!(a.message.contains(needle), "{transport}: {:?} should contain {needle:?}", a.message);
    }
}

/// A good batch stores its rows over every transport.
pub async fn assert_served_everywhere(url: &str) {
    for (i, transport) in TRANSPORTS.into_iter().enumerate() {
        let rows = containers(1000 * i as i64, 3);
        let a = send_over(transport, url, vec![chunk(&rows, None)]).await;
        let ok = if transport == "HTTP" { 200 } else { 0 };
        assert_eq!(a.code, ok, "{transport}: a good request after the hostile one: {a:?}");
    }
}

/// Avro's zig-zag varint of `n`.
pub fn zigzag(n: i64) -> Vec<u8> {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}
