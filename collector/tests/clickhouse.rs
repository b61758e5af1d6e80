//! The ClickHouse sink against a real ClickHouse (Debian's
//! `clickhouse-server`, started per test): every Avro type mapped and read
//! back as SQLite reads it, two collectors storing a resent chunk once,
//! ClickHouse stopped mid-run, schema evolution, and the query API's
//! answers equal on both stores.

mod common;

use std::time::Duration;

use common::clickhouse::ClickHouse;
use common::*;
use edgemetrics_collector::pb::metrics::v1beta::{WriteMetricsBatchRequest, WriteMetricsRequest, WriteMetricsResponse};
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

/// An HTTP POST's status and the rows it stored (its answer's `rows_stored`).
async fn post(t: &TestServer, chunks: Vec<WriteMetricsRequest>) -> (u16, u64) {
    use prost::Message as _;
    let res = post_batch(&t.server.url(), chunks).await;
    let status = res.status().as_u16();
    let body = res.bytes().await.expect("body");
    let answer = WriteMetricsResponse::decode(&body[..]).unwrap_or_else(|e| panic!("{status}: {e}: {body:?}"));
    (status, answer.rows_stored)
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

/// Two collectors on one ClickHouse: a client whose collector went away
/// sends its chunks again to the other, which answers the ones stored whole
/// as duplicates; a chunk sent to both at once is stored by both and read
/// once (FINAL); every row is read once from either collector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_store_a_resent_chunk_once() {
    let ch = ClickHouse::start();
    let (a, b) = (collector_on(&ch, "shared").await, collector_on(&ch, "shared").await);
    let chunk_n = |n: u8| chunk(&containers(i64::from(n) * 100, 100), Some(chunk_id(n)));
    // The client sends chunks 1..=5 to A, which stores them; its process is
    // killed before it learns of 3..=5, and it resends them, with 6, to B.
    assert_eq!(post(&a, (1..=5).map(chunk_n).collect()).await, (200, 500));
    assert_eq!(post(&b, (3..=6).map(chunk_n).collect()).await, (200, 100), "only chunk 6 is new to B");
    // One chunk to both at the same moment: neither knows of the other's.
    let (x, y) = tokio::join!(post(&a, vec![chunk_n(7)]), post(&b, vec![chunk_n(7)]));
    assert_eq!((x.0, y.0), (200, 200));
    assert!(x.1 + y.1 >= 100, "stored at least once: {x:?} {y:?}");
    // Twice to one collector at once: one insert round or two, stored once.
    let (x, y) = tokio::join!(post(&a, vec![chunk_n(9)]), post(&a, vec![chunk_n(9)]));
    assert_eq!((x.0, y.0, x.1 + y.1), (200, 200, 100), "{x:?} {y:?}");
    // And a chunk without an id is never merged with another.
    assert_eq!(post(&b, vec![chunk(&containers(800, 100), None)]).await, (200, 100));

    for t in [&a, &b] {
        let (_, list) = t.get_json("/api/collections").await;
        assert_eq!(list["collections"][0]["rows"], 900, "{list}");
        let mut ids: Vec<i64> = Vec::new();
        let mut next = String::new();
        loop {
            let (status, page) =
                t.get_json(&format!("/api/collections/containerMetrics/rows?limit=300&after={next}")).await;
            assert_eq!(status, 200, "{page}");
            let rows = page["rows"].as_array().unwrap();
            if rows.is_empty() {
                break;
            }
            ids.extend(rows.iter().map(|r| (r["memory_usage"].as_i64().unwrap() - 7) / 1024));
            next = page["next"].as_str().unwrap().to_owned();
        }
        ids.sort_unstable();
        assert_eq!(ids, (100..1000).collect::<Vec<i64>>(), "every row once");
    }
    a.stop().await;
    b.stop().await;
}

/// ClickHouse killed mid-run: the collector answers UNAVAILABLE on every
/// transport (the client retries) and acknowledges nothing it did not
/// store; once ClickHouse is back the same request is stored, each row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_stopped_mid_run_is_unavailable_and_loses_nothing() {
    let mut ch = ClickHouse::start();
    let t = collector_on(&ch, "outage").await;
    send(&t, CLUSTER, vec![chunk(&containers(0, 50), Some(chunk_id(1)))]).await.expect("stored");
    ch.kill();
    for transport in TRANSPORTS {
        let answer = send_over(transport, &t.server.url(), vec![chunk(&containers(50, 50), Some(chunk_id(2)))]).await;
        let unavailable = if transport == "HTTP" { 503 } else { Code::Unavailable as i32 };
        assert_eq!(answer.code, unavailable, "{answer:?}");
        assert!(answer.message.contains("the store is unavailable; retry"), "{answer:?}");
        assert!(!answer.message.contains("127.0.0.1"), "the store's address is for the log: {answer:?}");
    }
    let (status, body) = t.get_json("/api/collections/containerMetrics/rows").await;
    assert_eq!(status, 503, "reads too: {body}");
    ch.restart();
    send(&t, CLUSTER, vec![chunk(&containers(50, 50), Some(chunk_id(2)))]).await.expect("stored once back");
    let (_, body) = t.get_json("/api/collections/containerMetrics/rows?limit=1000").await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 100, "{body}");
    for (row, expected) in rows.iter().zip(containers(0, 100)) {
        expected.assert_json(row);
    }
    t.stop().await;
}

/// Schema evolution as on SQLite: a nullable field added is a column
/// added (older rows read null, the other collector sees it); a change of
/// type is refused naming the field, with SQLite's message.
#[tokio::test]
async fn schema_evolution_matches_sqlite() {
    let ch = ClickHouse::start();
    let (sqlite, a, b) =
        (TestServer::start().await, collector_on(&ch, "evolve").await, collector_on(&ch, "evolve").await);
    let v1 = r#"{"type":"record","name":"m","fields":[{"name":"x","type":"long"}]}"#;
    let v2 = r#"{"type":"record","name":"m","fields":[{"name":"x","type":"long"},{"name":"note","type":["null","string"],"default":null}]}"#;
    let bad = r#"{"type":"record","name":"m","fields":[{"name":"x","type":"string"}]}"#;
    let row1 = apache_avro::types::Value::Record(vec![("x".into(), apache_avro::types::Value::Long(1))]);
    let row2 = apache_avro::types::Value::Record(vec![
        ("x".into(), apache_avro::types::Value::Long(2)),
        ("note".into(), apache_avro::types::Value::Union(1, Box::new(apache_avro::types::Value::String("hi".into())))),
    ]);
    let row3 = apache_avro::types::Value::Record(vec![("x".into(), apache_avro::types::Value::String("3".into()))]);
    for t in [&sqlite, &a] {
        send(t, CLUSTER, vec![raw_chunk("m", v1, encode(v1, std::slice::from_ref(&row1)), 1, Some(chunk_id(1)))])
            .await
            .unwrap();
    }
    for t in [&sqlite, &b] {
        send(t, CLUSTER, vec![raw_chunk("m", v2, encode(v2, std::slice::from_ref(&row2)), 1, Some(chunk_id(2)))])
            .await
            .unwrap();
    }
    let mut refusals = Vec::new();
    for t in [&sqlite, &a] {
        let refused =
            send(t, CLUSTER, vec![raw_chunk("m", bad, encode(bad, std::slice::from_ref(&row3)), 1, None)]).await;
        let status = refused.expect_err("a change of type is refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        refusals.push(status.message().to_owned());
    }
    assert_eq!(refusals[0], refusals[1]);
    assert!(refusals[0].contains("\"x\""), "names the field: {}", refusals[0]);
    let strip = |mut rows: J| {
        for row in rows.as_array_mut().unwrap() {
            let row = row.as_object_mut().unwrap();
            row.remove("_received_at_ms");
            row.remove("timestamp");
        }
        rows
    };
    let path = "/api/collections/m/rows";
    let (s, x) = both(&sqlite, &a, path).await;
    assert_eq!(strip(s["rows"].clone()), strip(x["rows"].clone()));
    assert_eq!(x["rows"][0]["note"], J::Null);
    assert_eq!(x["rows"][1]["note"], "hi");
    let (s, x) = both(&sqlite, &a, "/api/collections").await;
    assert_eq!(s, x, "A knows the column B added");
    for t in [sqlite, a, b] {
        t.stop().await;
    }
}

/// `series` answers the same from both stores: per step, equal to what
/// each store's own rows say; and with one step for all, equal between the
/// stores (the collectors stamp their own receive times).
#[tokio::test]
async fn series_answers_equal_on_both_stores() {
    let ch = ClickHouse::start();
    let (sqlite, clickhouse) = (TestServer::start().await, collector_on(&ch, "series").await);
    let schema =
        r#"{"type":"record","name":"s","fields":[{"name":"v","type":["null","double"]},{"name":"i","type":"long"}]}"#;
    let row = |i: i64| {
        use apache_avro::types::Value;
        let v = match i % 5 {
            0 => Value::Union(0, Box::new(Value::Null)),
            1 => Value::Union(1, Box::new(Value::Double(f64::NAN))),
            _ => Value::Union(1, Box::new(Value::Double(i as f64 * 0.25))),
        };
        Value::Record(vec![("v".into(), v), ("i".into(), Value::Long(i * 3 - 40))])
    };
    for round in 0..6u8 {
        let rows: Vec<_> = (i64::from(round) * 20..i64::from(round) * 20 + 20).map(row).collect();
        let cluster = if round % 2 == 0 { "east" } else { "west" };
        for t in [&sqlite, &clickhouse] {
            let c = raw_chunk("s", schema, encode(schema, &rows), rows.len() as u64, Some(chunk_id(round)));
            send(t, cluster, vec![c]).await.expect("stored");
        }
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    let now = edgemetrics_collector::store::now_ms();
    // A step of a day: every row in one step (unless the run straddles
    // midnight UTC, when both stores have two).
    let day = 86_400_000;
    // `i`: a field whose name a query's alias could hide.
    for field in ["v", "i"] {
        for cluster in ["", "&cluster_id=east"] {
            let path = format!(
                "/api/collections/s/series?field={field}&step_ms={day}&since_ms={}&until_ms={}{cluster}",
                now - 2 * day,
                now + day
            );
            let (x, y) = both(&sqlite, &clickhouse, &path).await;
            assert_eq!(x, y, "{path}");
            assert!(x["count"].as_array().unwrap().iter().any(|c| c.as_u64() > Some(0)), "{x}");
        }
    }
    // Per millisecond: each store as its own rows say.
    for t in [&sqlite, &clickhouse] {
        let (_, all) = t.get_json("/api/collections/s/rows?limit=1000").await;
        let rows = all["rows"].as_array().unwrap();
        let since = rows.iter().map(|r| r["_received_at_ms"].as_i64().unwrap()).min().unwrap();
        let path = format!("/api/collections/s/series?field=i&step_ms=1&since_ms={since}&until_ms={}", since + 1000);
        let (_, series) = t.get_json(&path).await;
        for (i, t) in series["t"].as_array().unwrap().iter().enumerate() {
            let n: Vec<i64> =
                rows.iter().filter(|r| r["_received_at_ms"] == *t).map(|r| r["i"].as_i64().unwrap()).collect();
            assert_eq!(series["count"][i], n.len(), "{path} at {t}");
            if !n.is_empty() {
                assert_eq!(series["min"][i], *n.iter().min().unwrap());
                assert_eq!(series["max"][i], *n.iter().max().unwrap());
                assert_eq!(series["avg"][i].as_f64().unwrap(), n.iter().sum::<i64>() as f64 / n.len() as f64);
            }
        }
    }
    sqlite.stop().await;
    clickhouse.stop().await;
}

/// The cursor pages a million rows on ClickHouse as on SQLite; a SQLite
/// cursor is refused rather than misread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rows_cursor_pages_a_million_rows_on_clickhouse() {
    let ch = ClickHouse::start();
    let t = collector_on(&ch, "million").await;
    pages_a_million_rows_each_once_in_order(&t, &["x", "r1.5", "c1.", "c1.1.zz.00.0.0"]).await;
    t.stop().await;
}

/// A wide collection (300 columns of 100-character names: an insert's column
/// list of 30 KB) and names that are meta columns on either store: stored
/// and refused as on SQLite.
#[tokio::test]
async fn wide_collections_and_meta_column_names_as_on_sqlite() {
    use apache_avro::types::Value;
    let ch = ClickHouse::start();
    let (sqlite, clickhouse) = (TestServer::start().await, collector_on(&ch, "wide").await);
    let names: Vec<String> = (0..300).map(|i| format!("f{i:03}_{}", "x".repeat(95))).collect();
    let fields: Vec<String> = names.iter().map(|n| format!(r#"{{"name":"{n}","type":"long"}}"#)).collect();
    let schema = format!(r#"{{"type":"record","name":"wide","fields":[{}]}}"#, fields.join(","));
    let row = Value::Record(names.iter().enumerate().map(|(i, n)| (n.clone(), Value::Long(i as i64))).collect());
    for t in [&sqlite, &clickhouse] {
        let c = raw_chunk("wide", &schema, encode(&schema, std::slice::from_ref(&row)), 1, Some(chunk_id(1)));
        send(t, CLUSTER, vec![c]).await.expect("a wide row is stored");
    }
    let (a, b) = both(&sqlite, &clickhouse, "/api/collections/wide/rows").await;
    assert_eq!(b["rows"][0][&names[299]], 299, "{b}");
    assert_eq!(a["rows"][0][&names[7]], b["rows"][0][&names[7]]);
    for name in ["_row", "_batch", "_version"] {
        let schema = format!(r#"{{"type":"record","name":"m","fields":[{{"name":"{name}","type":"long"}}]}}"#);
        let row = Value::Record(vec![(name.into(), Value::Long(1))]);
        let mut refusals = Vec::new();
        for t in [&sqlite, &clickhouse] {
            let c = raw_chunk("meta", &schema, encode(&schema, std::slice::from_ref(&row)), 1, None);
            let status = send(t, CLUSTER, vec![c]).await.expect_err("a meta column's name is refused");
            assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
            refusals.push(status.message().to_owned());
        }
        assert_eq!(refusals[0], refusals[1], "the same message on both stores");
        assert!(refusals[0].contains("reserved"), "{refusals:?}");
    }
    sqlite.stop().await;
    clickhouse.stop().await;
}
