//! Every transport against a real collector on 127.0.0.1: rows go in over
//! gRPC (stream and batch), gRPC-web, HTTP POST (plain and gzip), come out
//! over the WebSocket subscription, the query API and SQLite, and are
//! compared field by field with what was sent.

mod common;

use std::io::Write as _;

use apache_avro::Schema;
use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use common::*;
use edgemetrics_collector::pb::edgemetrics::v1::subscribe_event::Event;
use edgemetrics_collector::pb::metrics::v1beta::{
    MetricsMetadata, WriteMetricsBatchRequest, WriteMetricsRequest, WriteMetricsResponse,
};
use prost::Message as _;

/// A containerMetrics row as SQLite holds it: the fields, then cluster id,
/// receive time, chunk id and server timestamp.
type SqliteRow = (Container, String, i64, Option<Vec<u8>>, i64);

/// Reads containerMetrics rows back from SQLite, in insertion order.
fn sqlite_containers(t: &TestServer) -> Vec<SqliteRow> {
    let db = t.sqlite();
    let mut stmt = db
        .prepare(
            "SELECT container_id, memory_usage, cpu_usage, memory_request, cpu_request,
                    _cluster_id, _received_at_ms, _chunk_id, \"timestamp\"
             FROM \"containerMetrics\" ORDER BY rowid",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            Container {
                container_id: r.get(0)?,
                memory_usage: r.get(1)?,
                cpu_usage: r.get(2)?,
                memory_request: r.get(3)?,
                cpu_request: r.get(4)?,
            },
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn assert_stored(t: &TestServer, sent: &[Container], ids: &[Option<[u8; 16]>], per_chunk: usize) {
    let stored = sqlite_containers(t);
    assert_eq!(stored.len(), sent.len());
    for (i, ((row, cluster, received, chunk, ts), want)) in stored.iter().zip(sent).enumerate() {
        assert_eq!(row, want, "row {i}");
        assert_eq!(cluster, CLUSTER);
        assert!(*received > 1_600_000_000_000, "receive time in ms");
        assert_eq!(ts, received, "server timestamp column is the receive time");
        assert_eq!(chunk.as_deref(), ids[i / per_chunk].as_ref().map(|c| &c[..]));
    }
}

async fn assert_query_api(t: &TestServer, sent: &[Container]) {
    let (status, body) = t.get_json("/api/collections/containerMetrics/rows?limit=10000").await;
    assert_eq!(status, 200, "{body}");
    let rows = body["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), sent.len());
    for (row, want) in rows.iter().zip(sent) {
        want.assert_json(row);
        assert_eq!(row["_cluster_id"], CLUSTER);
        assert!(row["_received_at_ms"].as_i64().unwrap() > 0);
    }
    let (_, latest) = t.get_json("/api/collections/containerMetrics/latest").await;
    sent.last().unwrap().assert_json(&latest["row"]);
}

#[tokio::test]
async fn grpc_stream_roundtrip() {
    let t = TestServer::start().await;
    let rows = containers(0, 30);
    let ids = [Some(chunk_id(1)), Some(chunk_id(2)), Some(chunk_id(3))];
    let msgs: Vec<WriteMetricsRequest> = rows.chunks(10).zip(ids).map(|(r, id)| chunk(r, id)).collect();
    let res = t
        .grpc()
        .await
        .write_metrics(authed(futures_util::stream::iter(msgs)))
        .await
        .expect("stream accepted")
        .into_inner();
    assert_eq!(res, WriteMetricsResponse { success: true, error: None, rows_stored: 30, chunks_acked: 3 });
    assert_stored(&t, &rows, &ids, 10);
    assert_query_api(&t, &rows).await;
    t.stop().await;
}

#[tokio::test]
async fn grpc_batch_roundtrip_and_stats() {
    let t = TestServer::start().await;
    let rows = containers(5, 40);
    let ids = [Some(chunk_id(7)), None];
    let batch = WriteMetricsBatchRequest { chunks: vec![chunk(&rows[..20], ids[0]), chunk(&rows[20..], ids[1])] };
    let res = t.grpc().await.write_metrics_batch(authed(batch)).await.expect("batch accepted").into_inner();
    assert_eq!((res.success, res.rows_stored, res.chunks_acked), (true, 40, 2));
    assert_stored(&t, &rows, &ids, 20);
    assert_query_api(&t, &rows).await;

    let (status, stats) = t.get_json("/api/collections/containerMetrics/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["rows"], 40);
    let mem: Vec<f64> = rows.iter().map(|r| r.memory_usage as f64).collect();
    let mean = mem.iter().sum::<f64>() / mem.len() as f64;
    let sd = (mem.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / mem.len() as f64).sqrt();
    let m = &stats["fields"]["memory_usage"];
    assert_eq!(m["count"], 40);
    assert_eq!(m["min"], rows[0].memory_usage);
    assert_eq!(m["max"], rows[39].memory_usage);
    assert!((m["avg"].as_f64().unwrap() - mean).abs() < 1e-6, "{m}");
    assert!((m["stddev"].as_f64().unwrap() - sd).abs() < 1e-6, "{m}");
    assert!(stats["fields"].get("container_id").is_none(), "strings have no stats");

    let (_, list) = t.get_json("/api/collections").await;
    let c = &list["collections"][0];
    assert_eq!(c["name"], "containerMetrics");
    assert_eq!(c["rows"], 40);
    assert_eq!(c["fields"][1], serde_json::json!({"name":"memory_usage","type":"long"}));
    assert_eq!(c["fields"][5]["name"], "timestamp");
    assert_eq!(c["fields"][5]["server_timestamp"], true);

    // since_ms and limit.
    let (_, none) = t.get_json("/api/collections/containerMetrics/rows?since_ms=99999999999999").await;
    assert_eq!(none["rows"].as_array().unwrap().len(), 0);
    let (_, two) = t.get_json("/api/collections/containerMetrics/rows?limit=2").await;
    rows[1].assert_json(&two["rows"][1]);
    let (status, err) = t.get_json("/api/collections/containerMetrics/rows?limit=10001").await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = t.get_json("/api/collections/nope/rows").await;
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("nope"));
    t.stop().await;
}

#[tokio::test]
async fn grpc_web_over_http1_by_hand() {
    let t = TestServer::start().await;
    let rows = containers(100, 12);
    let batch = WriteMetricsBatchRequest { chunks: vec![chunk(&rows, Some(chunk_id(9)))] };
    let url = t.url("/metrics.v1beta.IngestionAPI/WriteMetricsBatch");
    let send = |auth: &'static str| {
        http()
            .post(&url)
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("origin", "http://dashboard.example")
            .header("authorization", auth)
            .header("x-cluster-id", CLUSTER)
            .body(grpc_web_frame(&batch.encode_to_vec()))
            .send()
    };
    let res = send("Token test-token").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let headers = res.headers().clone();
    let reply = parse_grpc_web(&headers, &res.bytes().await.unwrap());
    assert_eq!(reply.status, 0, "{reply:?}");
    let resp = WriteMetricsResponse::decode(&reply.message.unwrap()[..]).unwrap();
    assert_eq!((resp.rows_stored, resp.chunks_acked), (12, 1));
    assert_stored(&t, &rows, &[Some(chunk_id(9))], 12);
    assert_query_api(&t, &rows).await;

    // A wrong token over gRPC-web: UNAUTHENTICATED (16) with a message.
    let res = send("Token nope").await.unwrap();
    let headers = res.headers().clone();
    let reply = parse_grpc_web(&headers, &res.bytes().await.unwrap());
    assert_eq!(reply.status, 16, "{reply:?}");
    assert_eq!(reply.grpc_message, "invalid token");

    // CORS preflight from a page on another origin.
    let pre = http()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://dashboard.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,x-cluster-id,content-type,x-grpc-web")
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success());
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    let allowed = pre.headers()["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("x-cluster-id"), "{allowed}");
    t.stop().await;
}

async fn post(t: &TestServer, body: Vec<u8>, gzip: bool) -> reqwest::Response {
    let mut req = http()
        .post(t.url("/v1/metrics"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("x-cluster-id", CLUSTER)
        .header("content-type", "application/x-protobuf");
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    req.body(body).send().await.unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn http_post_plain_and_gzip() {
    let t = TestServer::start().await;
    let rows = containers(0, 25);
    let plain = WriteMetricsBatchRequest { chunks: vec![chunk(&rows[..10], Some(chunk_id(1)))] };
    let res = post(&t, plain.encode_to_vec(), false).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-protobuf");
    let resp = WriteMetricsResponse::decode(res.bytes().await.unwrap()).unwrap();
    assert_eq!((resp.success, resp.rows_stored, resp.chunks_acked), (true, 10, 1));

    let zipped = WriteMetricsBatchRequest { chunks: vec![chunk(&rows[10..], Some(chunk_id(2)))] };
    let res = post(&t, gzip(&zipped.encode_to_vec()), true).await;
    assert_eq!(res.status(), 200);
    let resp = WriteMetricsResponse::decode(res.bytes().await.unwrap()).unwrap();
    assert_eq!(resp.rows_stored, 15);
    let ids: Vec<Option<[u8; 16]>> = (0..25).map(|i| Some(chunk_id(if i < 10 { 1 } else { 2 }))).collect();
    assert_stored(&t, &rows, &ids, 1);
    assert_query_api(&t, &rows).await;
    t.stop().await;
}

#[tokio::test]
async fn websocket_receives_rows_written_over_grpc() {
    let t = TestServer::start().await;
    let mut ws = subscribe(&t, &["containerMetrics"]).await;
    let rows = containers(0, 8);
    let mut client = t.grpc().await;
    for (i, part) in rows.chunks(4).enumerate() {
        let msgs = vec![chunk(part, Some(chunk_id(i as u8)))];
        client.write_metrics(authed(futures_util::stream::iter(msgs))).await.unwrap();
    }
    let expected_fp = u64::from_le_bytes(
        Schema::parse_str(CONTAINER_SCHEMA).unwrap().fingerprint::<Rabin>().bytes[..8].try_into().unwrap(),
    );
    let mut schema: Option<Schema> = None;
    let mut got: Vec<Container> = Vec::new();
    for frame in 0..2 {
        let Some(Event::Rows(r)) = ws_next_event(&mut ws).await else {
            panic!("expected Rows");
        };
        assert_eq!(r.collection, "containerMetrics");
        assert_eq!(r.rows, 4);
        assert_eq!(r.schema_fingerprint, expected_fp);
        assert!(r.received_at_ms > 0);
        if frame == 0 {
            assert!(!r.schema.is_empty(), "schema sent with the first frame");
            schema = Some(Schema::parse_str(std::str::from_utf8(&r.schema).unwrap()).unwrap());
        } else {
            assert!(r.schema.is_empty(), "schema not repeated for a known fingerprint");
        }
        let s = schema.as_ref().unwrap();
        let mut cur = &r.avro[..];
        for _ in 0..r.rows {
            let Value::Record(f) = apache_avro::from_avro_datum(s, &mut cur, None).unwrap() else {
                panic!("record");
            };
            let get = |i: usize| match &f[i].1 {
                Value::Long(v) => *v,
                v => panic!("{v:?}"),
            };
            let Value::String(id) = &f[0].1 else { panic!() };
            got.push(Container {
                container_id: id.clone(),
                memory_usage: get(1),
                cpu_usage: get(2),
                memory_request: get(3),
                cpu_request: get(4),
            });
        }
        assert!(cur.is_empty());
    }
    assert_eq!(got, rows);
    t.stop().await;
}

/// Requests shaped as castai/metrics' Go client sends them: client stream,
/// `authorization: Token <t>`, `x-cluster-id`, no chunk id, `rows` metadata
/// only, the schema as hamba/avro prints it (int fields).
#[tokio::test]
async fn castai_client_compatibility() {
    let t = TestServer::start().await;
    let schema = r#"{"name":"containerMetrics","type":"record","fields":[{"name":"container_id","type":"string"},{"name":"memory_usage","type":"int"},{"name":"cpu_usage","type":"int"},{"name":"memory_request","type":"int"},{"name":"cpu_request","type":"int"}]}"#;
    let values: Vec<Value> = (0..50)
        .map(|i| {
            Value::Record(vec![
                ("container_id".into(), Value::String("container-id".into())),
                ("memory_usage".into(), Value::Int(i * 1000)),
                ("cpu_usage".into(), Value::Int(i)),
                ("memory_request".into(), Value::Int(2 * i)),
                ("cpu_request".into(), Value::Int(3 * i)),
            ])
        })
        .collect();
    let msgs = vec![
        WriteMetricsRequest {
            collection: "containerMetrics".into(),
            schema: schema.as_bytes().to_vec(),
            metrics: encode(schema, &values[..30]),
            metadata: Some(MetricsMetadata { rows: 30, skip_timestamp: false, timestamp_column: None }),
            chunk_id: vec![],
        },
        WriteMetricsRequest {
            collection: "containerMetrics".into(),
            schema: schema.as_bytes().to_vec(),
            metrics: encode(schema, &values[30..]),
            metadata: Some(MetricsMetadata { rows: 20, skip_timestamp: false, timestamp_column: None }),
            chunk_id: vec![],
        },
    ];
    let res = t
        .grpc()
        .await
        .write_metrics(with_auth(futures_util::stream::iter(msgs), Some("Token test-token"), Some("castai-cluster")))
        .await
        .unwrap()
        .into_inner();
    assert!(res.success);
    assert_eq!(res.error, None);
    assert_eq!((res.rows_stored, res.chunks_acked), (50, 2));
    let (_, body) = t.get_json("/api/collections/containerMetrics/rows?limit=100").await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["memory_usage"], i * 1000);
        assert_eq!(row["cpu_request"], 3 * i);
        assert_eq!(row["_cluster_id"], "castai-cluster");
        assert_eq!(row["_chunk_id"], serde_json::Value::Null);
    }
    t.stop().await;
}

/// A subscriber naming clusters gets only the chunks they wrote; every
/// `Rows` frame names the cluster that wrote it.
#[tokio::test]
async fn a_subscription_from_some_clusters_gets_only_their_rows() {
    let t = TestServer::start().await;
    let mut everything = subscribe(&t, &["containerMetrics"]).await;
    let mut west_only = ws_connect(&t).await;
    ws_send_request_from(&mut west_only, TOKEN, &["containerMetrics"], &["west"]).await;
    assert!(matches!(ws_next_event(&mut west_only).await, Some(Event::Subscribed(_))));
    let mut client = t.grpc().await;
    let token = format!("Token {TOKEN}");
    let writes = [("east", 0), ("west", 10), ("east", 20), ("west", 30)];
    for (cluster, start) in writes {
        let request = WriteMetricsBatchRequest { chunks: vec![chunk(&containers(start, 2), None)] };
        client.write_metrics_batch(with_auth(request, Some(&token), Some(cluster))).await.unwrap();
    }
    let clusters_of = async |ws: &mut Ws, frames: usize| {
        let mut clusters = Vec::new();
        for _ in 0..frames {
            let Some(Event::Rows(rows)) = ws_next_event(ws).await else { panic!("expected Rows") };
            clusters.push(rows.cluster_id);
        }
        clusters
    };
    assert_eq!(clusters_of(&mut everything, 4).await, ["east", "west", "east", "west"]);
    // Had an east chunk reached it, it would have come before the second west.
    assert_eq!(clusters_of(&mut west_only, 2).await, ["west", "west"]);
    t.stop().await;
}
