//! The ClickHouse sink against a real ClickHouse (Debian's
//! `clickhouse-server`, started per test): every Avro type mapped and read
//! back as SQLite reads it, two collectors storing a resent chunk once,
//! ClickHouse stopped mid-run, schema evolution, and the query API's
//! answers equal on both stores.

mod common;

use std::time::Duration;

use common::clickhouse::ClickHouse;
use common::*;
use edgemetrics_collector::pb::metrics::v1beta::{WriteMetricsBatchRequest, WriteMetricsRequest};
use serde_json::{Value as J, json};
use tonic::Code;

async fn collector_on(ch: &ClickHouse, database: &str) -> TestServer {
    TestServer::start_with(|c| ch.configure(c, database)).await
}

/// `GET path` on both collectors.
async fn both(a: &TestServer, b: &TestServer, path: &str) -> (J, J) {
    let ((sa, ja), (sb, jb)) = (a.get_json(path).await, b.get_json(path).await);
    assert_eq!((sa, sb), (200, 200), "{path}: {ja} / {jb}");
    (ja, jb)
}

async fn send(t: &TestServer, cluster: &str, chunks: Vec<WriteMetricsRequest>) -> Result<(), tonic::Status> {
    let token = format!("Token {TOKEN}");
    let request = with_auth(WriteMetricsBatchRequest { chunks }, Some(&token), Some(cluster));
    t.grpc().await.write_metrics_batch(request).await.map(drop)
}

/// Rows stored by an HTTP POST, as its `x-rows-stored` says.
async fn post(t: &TestServer, chunks: Vec<WriteMetricsRequest>) -> (u16, u64) {
    use prost::Message as _;
    let res = http()
        .post(t.url("/v1/metrics"))
        .header("authorization", format!("Token {TOKEN}"))
        .header("x-cluster-id", CLUSTER)
        .body(WriteMetricsBatchRequest { chunks }.encode_to_vec())
        .send()
        .await
        .expect("POST");
    let rows = res.headers().get("x-rows-stored").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
    (res.status().as_u16(), rows)
}

#[tokio::test]
async fn every_type_maps_to_a_column_and_reads_back_as_sqlite_reads_it() {
    let ch = ClickHouse::start();
    let (sqlite, clickhouse) = (TestServer::start().await, collector_on(&ch, "types").await);
    let values = vec![everything(2, false), everything(3, true)];
    let chunk = || {
        let mut c = raw_chunk("everything", TYPES_SCHEMA, encode(TYPES_SCHEMA, &values), 2, Some(chunk_id(1)));
        c.metadata.as_mut().unwrap().timestamp_column = Some("server_ts".into());
        c
    };
    for t in [&sqlite, &clickhouse] {
        send(t, CLUSTER, vec![chunk()]).await.expect("stored");
    }
    let (a, b) = both(&sqlite, &clickhouse, "/api/collections/everything/rows").await;
    assert_eq!(b["rows"].as_array().unwrap().len(), 2, "{b}");
    for row in b["rows"].as_array().unwrap() {
        assert_eq!(row["server_ts"], row["_received_at_ms"], "{row}");
    }
    let strip = |rows: &J| {
        let mut rows = rows.clone();
        for row in rows.as_array_mut().unwrap() {
            let row = row.as_object_mut().unwrap();
            row.remove("_received_at_ms");
            row.remove("server_ts");
        }
        rows
    };
    assert_eq!(strip(&a["rows"]), strip(&b["rows"]), "SQLite: {a}\nClickHouse: {b}");
    assert_eq!(b["rows"][0]["_chunk_id"], "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a501");
    let (a, b) = both(&sqlite, &clickhouse, "/api/collections/everything/latest").await;
    assert_eq!(strip(&json!([a["row"]])), strip(&json!([b["row"]])));
    let (mut a, mut b) = both(&sqlite, &clickhouse, "/api/collections/everything/stats").await;
    for stats in [&mut a, &mut b] {
        stats["fields"].as_object_mut().unwrap().remove("server_ts");
    }
    assert_eq!(a, b, "stats");
    let (a, b) = both(&sqlite, &clickhouse, "/api/collections").await;
    assert_eq!(a, b, "collections");

    // The columns as documented (collector/src/clickhouse/mod.rs).
    let types =
        ch.query("SELECT name, type FROM system.columns WHERE database = 'types' AND table = 'everything'").await;
    for (column, want) in [
        ("b", "Nullable(UInt8)"),
        ("i", "Nullable(Int64)"),
        ("f", "Nullable(Float64)"),
        ("s", "Nullable(String)"),
        ("by", "Nullable(String)"),
        ("e", "Nullable(String)"),
        ("ts", "Nullable(Int64)"),
        ("arr", "Nullable(String)"),
        ("server_ts", "Nullable(Int64)"),
        ("_cluster_id", "String"),
        ("_chunk_id", "String"),
        ("_received_at_ms", "Int64"),
    ] {
        assert!(types.lines().any(|l| l == format!("{column}\t{want}")), "{column} {want}:\n{types}");
    }
    // Bytes are stored as they are, not as text.
    assert_eq!(ch.query("SELECT hex(by) FROM types.everything ORDER BY _row LIMIT 1").await, "0001FE02\n");
    sqlite.stop().await;
    clickhouse.stop().await;
}
