//! Storage of every Avro type, timestamp options, schema evolution, stream
//! semantics, fault injection, /healthz, /metrics, --www, and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use apache_avro::types::Value;
use common::*;
use edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest;
use serde_json::json;
use tonic::Code;

#[tokio::test]
async fn every_type_is_stored_and_read_back() {
    let t = TestServer::start().await;
    let values = vec![everything(2, false), everything(3, true)];
    let mut c = raw_chunk("everything", TYPES_SCHEMA, encode(TYPES_SCHEMA, &values), 2, None);
    c.metadata.as_mut().unwrap().timestamp_column = Some("server_ts".into());
    let batch = WriteMetricsBatchRequest { chunks: vec![c] };
    t.grpc().await.write_metrics_batch(authed(batch)).await.unwrap();

    let (_, body) = t.get_json("/api/collections/everything/rows").await;
    let r = &body["rows"][0];
    assert_eq!(r["b"], true);
    assert_eq!(r["i"], -3);
    assert_eq!(r["l"], 2_000_000_014i64);
    assert_eq!(r["f"], 1.5);
    assert_eq!(r["d"], 0.5);
    assert_eq!(r["s"], "s\"'; 2");
    assert_eq!(r["by"], "0001fe02");
    assert_eq!(r["e"], "GREEN");
    assert_eq!(r["fx"], "09080706");
    assert_eq!(r["ts"], 1_700_000_000_002i64);
    assert_eq!(r["n"], 2);
    assert_eq!(r["arr"], json!([1, 2]));
    assert_eq!(r["m"], json!({"a": "b"}));
    assert_eq!(r["rec"], json!({"x": 0.25}));
    assert_eq!(r["u"], "str");
    assert_eq!(r["server_ts"], r["_received_at_ms"]);
    assert!(r.get("timestamp").is_none());
    assert_eq!(body["rows"][1]["n"], serde_json::Value::Null);
    assert_eq!(body["rows"][1]["b"], false);

    // SQLite column types.
    let db = t.sqlite();
    let types: Vec<(String, String)> = db
        .prepare("SELECT name, type FROM pragma_table_info('everything')")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let ty = |n: &str| types.iter().find(|(c, _)| c == n).unwrap().1.clone();
    for (col, want) in [
        ("b", "INTEGER"),
        ("l", "INTEGER"),
        ("d", "REAL"),
        ("s", "TEXT"),
        ("by", "BLOB"),
        ("e", "TEXT"),
        ("fx", "BLOB"),
        ("ts", "INTEGER"),
        ("n", "INTEGER"),
        ("arr", "TEXT"),
        ("server_ts", "INTEGER"),
        ("_cluster_id", "TEXT"),
        ("_received_at_ms", "INTEGER"),
        ("_chunk_id", "BLOB"),
    ] {
        assert_eq!(ty(col), want, "column {col}");
    }
    let by: Vec<u8> = db.query_row("SELECT by FROM everything LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_eq!(by, vec![0, 1, 254, 2]);
    let arr: String = db.query_row("SELECT arr FROM everything LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_eq!(arr, "[1,2]");
    t.stop().await;
}

#[tokio::test]
async fn skip_timestamp_adds_no_column() {
    let t = TestServer::start().await;
    let mut c = chunk(&containers(0, 3), None);
    c.metadata.as_mut().unwrap().skip_timestamp = true;
    t.grpc().await.write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: vec![c] })).await.unwrap();
    let (_, body) = t.get_json("/api/collections/containerMetrics/latest").await;
    assert!(body["row"].get("timestamp").is_none(), "{body}");
    containers(0, 3)[2].assert_json(&body["row"]);
    t.stop().await;
}

#[tokio::test]
async fn compatible_schema_change_evolves_the_table() {
    let t = TestServer::start().await;
    let mut client = t.grpc().await;
    client
        .write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 2), None)] }))
        .await
        .unwrap();
    // v2: cpu_request removed, a nullable field and a field with a default added.
    let v2 = r#"{"type":"record","name":"containerMetrics","fields":[
        {"name":"container_id","type":"string"},
        {"name":"memory_usage","type":"long"},
        {"name":"cpu_usage","type":"long"},
        {"name":"memory_request","type":"long"},
        {"name":"node","type":["null","string"],"default":null},
        {"name":"zone","type":"string","default":"eu"}]}"#;
    let row = Value::Record(vec![
        ("container_id".into(), Value::String("c-v2".into())),
        ("memory_usage".into(), Value::Long(1)),
        ("cpu_usage".into(), Value::Long(2)),
        ("memory_request".into(), Value::Long(3)),
        ("node".into(), Value::Union(1, Box::new(Value::String("n1".into())))),
        ("zone".into(), Value::String("us".into())),
    ]);
    let res = client
        .write_metrics_batch(authed(WriteMetricsBatchRequest {
            chunks: vec![raw_chunk("containerMetrics", v2, encode(v2, &[row]), 1, None)],
        }))
        .await
        .expect("compatible change accepted")
        .into_inner();
    assert_eq!(res.rows_stored, 1);
    // The old schema still works afterwards.
    client
        .write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: vec![chunk(&containers(10, 1), None)] }))
        .await
        .expect("old schema still accepted");
    let (_, body) = t.get_json("/api/collections/containerMetrics/rows").await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["node"], serde_json::Value::Null);
    assert_eq!(rows[2]["node"], "n1");
    assert_eq!(rows[2]["zone"], "us");
    assert_eq!(rows[2]["cpu_request"], serde_json::Value::Null);
    containers(10, 1)[0].assert_json(&rows[3]);
    let (_, list) = t.get_json("/api/collections").await;
    let names: Vec<&str> =
        list["collections"][0]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["container_id", "memory_usage", "cpu_usage", "memory_request", "cpu_request", "timestamp", "node", "zone"]
    );
    t.stop().await;
}

/// A stream stores chunk by chunk: a bad chunk fails the call naming its
/// index, and the chunks before it stay stored (reported in the status
/// metadata).
#[tokio::test]
async fn stream_failure_keeps_earlier_chunks() {
    let t = TestServer::start().await;
    let mut bad = chunk(&containers(10, 2), Some(chunk_id(2)));
    bad.metadata.as_mut().unwrap().rows = 3;
    let msgs = vec![chunk(&containers(0, 5), Some(chunk_id(1))), bad, chunk(&containers(20, 5), Some(chunk_id(3)))];
    let err = t.grpc().await.write_metrics(authed(futures_util::stream::iter(msgs))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("chunk 1: metadata.rows is 3 but the Avro bytes hold 2 rows"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("1 earlier chunks of this stream were stored, 5 rows"));
    assert_eq!(err.metadata().get("x-chunks-acked").unwrap(), "1");
    assert_eq!(err.metadata().get("x-rows-stored").unwrap(), "5");
    assert_eq!(t.stored_counts(), (5, 1));
    t.stop().await;
}

/// A chunk that validates but cannot be stored (incompatible schema) fails
/// the stream naming its index; the chunks before it stay, none after.
#[tokio::test]
async fn stream_store_failure_names_its_chunk() {
    let t = TestServer::start().await;
    let changed = r#"{"type":"record","name":"containerMetrics","fields":[{"name":"memory_usage","type":"double"}]}"#;
    let bad = raw_chunk(
        "containerMetrics",
        changed,
        encode(changed, &[Value::Record(vec![("memory_usage".into(), Value::Double(1.0))])]),
        1,
        None,
    );
    let msgs = vec![
        chunk(&containers(0, 4), Some(chunk_id(1))),
        chunk(&containers(4, 4), Some(chunk_id(2))),
        bad,
        chunk(&containers(8, 4), Some(chunk_id(3))),
    ];
    let err = t.grpc().await.write_metrics(authed(futures_util::stream::iter(msgs))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with(
            "chunk 2: incompatible schema change: field \"memory_usage\" of collection \"containerMetrics\" \
             changes type from \"long\" to \"double\""
        ),
        "{}",
        err.message()
    );
    assert_eq!(err.metadata().get("x-chunks-acked").unwrap(), "2");
    assert_eq!(t.stored_counts(), (8, 2));
    t.stop().await;
}

#[tokio::test]
async fn fault_injection_over_http_admin_and_library() {
    let t = TestServer::start().await;
    let set = http()
        .post(t.url("/admin/faults"))
        .header("authorization", format!("Token {TOKEN}"))
        .body(r#"{"unavailable": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&set.bytes().await.unwrap()).unwrap()["unavailable"], 2);

    let batch = || WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 2), Some(chunk_id(1)))] };
    let mut client = t.grpc().await;
    let err = client.write_metrics_batch(authed(batch())).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let res = http()
        .post(t.url("/v1/metrics"))
        .header("authorization", format!("Token {TOKEN}"))
        .header("x-cluster-id", CLUSTER)
        .body(prost::Message::encode_to_vec(&batch()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(t.stored_counts(), (0, 0), "nothing stored while failing");
    let ok = client.write_metrics_batch(authed(batch())).await.unwrap();
    assert_eq!(ok.into_inner().rows_stored, 2);

    // The same through the library handle; 0 clears.
    t.server.faults().set_unavailable(5);
    assert_eq!(t.server.faults().unavailable_remaining(), 5);
    t.server.faults().set_unavailable(0);
    client.write_metrics_batch(authed(batch())).await.unwrap();
    t.stop().await;

    // Without --enable-fault-injection the endpoint does not exist.
    let t = TestServer::start_with(|c| c.enable_fault_injection = false).await;
    let res = http()
        .post(t.url("/admin/faults"))
        .header("authorization", format!("Token {TOKEN}"))
        .body(r#"{"unavailable": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    t.server.faults().set_unavailable(3);
    assert_eq!(t.server.faults().unavailable_remaining(), 0);
    t.stop().await;
}

#[tokio::test]
async fn healthz_metrics_and_query_auth() {
    let t = TestServer::start().await;
    let res = http().get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");
    t.grpc()
        .await
        .write_metrics_batch(authed(WriteMetricsBatchRequest {
            chunks: vec![chunk(&containers(0, 4), Some(chunk_id(1)))],
        }))
        .await
        .unwrap();
    let _ = t.grpc().await.write_metrics_batch(tonic::Request::new(WriteMetricsBatchRequest::default())).await;
    let text = http().get(t.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "edgemetrics_collector_requests_total{transport=\"grpc_batch\",outcome=\"ok\"} 1",
        "edgemetrics_collector_requests_total{transport=\"grpc_batch\",outcome=\"unauthenticated\"} 1",
        "edgemetrics_collector_rejected_requests_total{reason=\"unauthenticated\"} 1",
        "edgemetrics_collector_rows_stored_total 4",
        "edgemetrics_collector_chunks_stored_total 1",
        "edgemetrics_collector_subscribers 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // Query API: header or ?token=, else 401.
    let no = http().get(t.url("/api/collections")).send().await.unwrap();
    assert_eq!(no.status(), 401);
    let q = http().get(t.url(&format!("/api/collections?token={TOKEN}"))).send().await.unwrap();
    assert_eq!(q.status(), 200);
    assert_eq!(q.headers()["access-control-allow-origin"], "*");
    t.stop().await;
}

#[tokio::test]
async fn www_serves_static_files() {
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "<h1>dashboard</h1>").unwrap();
    let dir = www.path().to_owned();
    let t = TestServer::start_with(move |c| c.www = Some(dir)).await;
    let page = http().get(t.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "<h1>dashboard</h1>");
    let missing = http().get(t.url("/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let health = http().get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    t.stop().await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db").to_string_lossy().into_owned();
    let mut config = edgemetrics_collector::Config::for_tests([TOKEN]);
    config.db = db.clone();
    let s = edgemetrics_collector::Server::start(config.clone()).await.unwrap();
    let mut client =
        edgemetrics_collector::pb::metrics::v1beta::ingestion_api_client::IngestionApiClient::connect(s.url())
            .await
            .unwrap();
    let batch = WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 3), Some(chunk_id(1)))] };
    client.write_metrics_batch(authed(batch.clone())).await.unwrap();
    s.shutdown().await.unwrap();
    let s = edgemetrics_collector::Server::start(config).await.unwrap();
    let mut client =
        edgemetrics_collector::pb::metrics::v1beta::ingestion_api_client::IngestionApiClient::connect(s.url())
            .await
            .unwrap();
    // The dedup record survived: the retry is acknowledged, not stored.
    let res = client.write_metrics_batch(authed(batch)).await.unwrap().into_inner();
    assert_eq!((res.rows_stored, res.chunks_acked), (0, 1));
    let res = client
        .write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: vec![chunk(&containers(3, 2), None)] }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.rows_stored, 2);
    // The listed row count: counted at open, then added to (the duplicate
    // adds nothing).
    let list = http().get(format!("{}/api/collections?token={TOKEN}", s.url())).send().await.unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.bytes().await.unwrap()).unwrap();
    assert_eq!(list["collections"][0]["rows"], 5, "{list}");
    s.shutdown().await.unwrap();
}

#[test]
fn binary_prints_listening_line_and_refuses_no_token() {
    let exe = env!("CARGO_BIN_EXE_edgemetrics-collector");
    let mut child = Command::new(exe)
        .args(["--addr", "127.0.0.1:0", "--db", ":memory:", "--token", "t1"])
        .env_remove("EDGEMETRICS_TOKENS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = rt.block_on(async { http().get(format!("{url}/healthz")).send().await.unwrap().text().await.unwrap() });
    assert_eq!(body, "ok");
    // SIGTERM stops it cleanly.
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("collector did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    let help = Command::new(exe).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--addr", "--db", "--token", "--www", "--max-message-bytes", "--enable-fault-injection"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }

    let out = Command::new(exe)
        .args(["--addr", "127.0.0.1:0", "--db", ":memory:"])
        .env_remove("EDGEMETRICS_TOKENS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no API token configured"), "{err}");
    assert!(out.stdout.is_empty());
}

/// `?cluster_id=` narrows rows, latest and stats to one cluster's rows; a
/// cluster id writers could not use is refused naming the parameter.
#[tokio::test]
async fn the_query_api_filters_by_cluster() {
    let t = TestServer::start().await;
    let mut client = t.grpc().await;
    let token = format!("Token {TOKEN}");
    for (cluster, start, n) in [("east", 0, 3), ("west", 100, 2)] {
        let request = WriteMetricsBatchRequest { chunks: vec![chunk(&containers(start, n), None)] };
        client.write_metrics_batch(with_auth(request, Some(&token), Some(cluster))).await.expect("stored");
    }
    let (status, all) = t.get_json("/api/collections/containerMetrics/rows").await;
    assert_eq!((status, all["rows"].as_array().unwrap().len()), (200, 5));
    let (_, west) = t.get_json("/api/collections/containerMetrics/rows?cluster_id=west").await;
    let west = west["rows"].as_array().unwrap();
    assert_eq!(west.len(), 2);
    for (row, expected) in west.iter().zip(containers(100, 2)) {
        assert_eq!(row["_cluster_id"], "west");
        expected.assert_json(row);
    }
    let (_, latest) = t.get_json("/api/collections/containerMetrics/latest?cluster_id=east").await;
    containers(0, 3)[2].assert_json(&latest["row"]);
    let (_, none) = t.get_json("/api/collections/containerMetrics/latest?cluster_id=north").await;
    assert_eq!(none["row"], serde_json::Value::Null);
    let (_, stats) = t.get_json("/api/collections/containerMetrics/stats?cluster_id=east").await;
    assert_eq!(stats["rows"], 3);
    let east_memory: Vec<i64> = containers(0, 3).iter().map(|c| c.memory_usage).collect();
    assert_eq!(stats["fields"]["memory_usage"]["count"], 3);
    assert_eq!(stats["fields"]["memory_usage"]["min"], *east_memory.iter().min().unwrap());
    assert_eq!(stats["fields"]["memory_usage"]["max"], *east_memory.iter().max().unwrap());
    for path in ["rows", "latest", "stats"] {
        let (status, body) = t.get_json(&format!("/api/collections/containerMetrics/{path}?cluster_id=a%20b")).await;
        assert_eq!(status, 400, "{path}: {body}");
        let expected = r#"cluster_id "a b": character ' ' is not allowed (use A-Z a-z 0-9 . _ : -)"#;
        assert_eq!(body["error"], expected, "{path}");
    }
    t.stop().await;
}

#[tokio::test]
async fn logical_types_are_stored_and_read_back() {
    use apache_avro::{BigDecimal, Days, Decimal, Duration, Millis, Months, Uuid};
    let schema = r#"{"type":"record","name":"logical","fields":[
        {"name":"dec_b","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
        {"name":"dec_f","type":{"type":"fixed","name":"Money","size":4,"logicalType":"decimal","precision":9,"scale":2}},
        {"name":"id","type":{"type":"string","logicalType":"uuid"}},
        {"name":"day","type":{"type":"int","logicalType":"date"}},
        {"name":"tmil","type":{"type":"int","logicalType":"time-millis"}},
        {"name":"tmic","type":{"type":"long","logicalType":"time-micros"}},
        {"name":"tsmic","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"local","type":{"type":"long","logicalType":"local-timestamp-millis"}},
        {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
        {"name":"big","type":{"type":"bytes","logicalType":"big-decimal"}}
    ]}"#;
    let uuid = Uuid::parse_str("123e4567-e89b-12d3-a456-426614174000").unwrap();
    let row = Value::Record(vec![
        ("dec_b".into(), Value::Decimal(Decimal::from(vec![0x01, 0x02]))),
        ("dec_f".into(), Value::Decimal(Decimal::from(vec![0, 0, 0x30, 0x39]))),
        ("id".into(), Value::Uuid(uuid)),
        ("day".into(), Value::Date(19_000)),
        ("tmil".into(), Value::TimeMillis(3_600_000)),
        ("tmic".into(), Value::TimeMicros(3_600_000_001)),
        ("tsmic".into(), Value::TimestampMicros(1_700_000_000_000_001)),
        ("local".into(), Value::LocalTimestampMillis(1_700_000_000_123)),
        ("dur".into(), Value::Duration(Duration::new(Months::new(1), Days::new(2), Millis::new(3)))),
        ("big".into(), Value::BigDecimal("12345.678".parse::<BigDecimal>().unwrap())),
    ]);
    let t = TestServer::start().await;
    let a =
        send_over("HTTP", &t.server.url(), vec![raw_chunk("logical", schema, encode(schema, &[row]), 1, None)]).await;
    assert_eq!(a.code, 200, "{a:?}");
    let (_, body) = t.get_json("/api/collections/logical/rows").await;
    let r = &body["rows"][0];
    assert_eq!(r["dec_b"], "0102");
    assert_eq!(r["dec_f"], "00003039");
    assert_eq!(r["id"], "123e4567-e89b-12d3-a456-426614174000");
    assert_eq!((r["day"].clone(), r["tmil"].clone()), (json!(19_000), json!(3_600_000)));
    assert_eq!((r["tmic"].clone(), r["tsmic"].clone()), (json!(3_600_000_001i64), json!(1_700_000_000_000_001i64)));
    assert_eq!(r["local"], 1_700_000_000_123i64);
    assert_eq!(r["dur"], "010000000200000003000000");
    assert_eq!(r["big"], "12345.678");
    t.stop().await;
}

/// `?after=` pages through any number of rows, each once and in the order
/// stored, though a whole chunk of them shares one millisecond (which
/// `since_ms` cannot page past); a bad cursor is refused naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rows_cursor_pages_a_million_rows_each_once_in_order() {
    let t = TestServer::start().await;
    pages_a_million_rows_each_once_in_order(&t, &["x", "r1.", "r1.-5", "r1.99999999999999999999", "r2.5"]).await;
    t.stop().await;
}

/// `series` gives a field's count, min, max and mean per step of receive
/// time, equal to what the rows say, per cluster; its parameters are
/// checked naming them.
#[tokio::test]
async fn the_series_endpoint_aggregates_a_field_per_step() {
    let t = TestServer::start().await;
    let mut client = t.grpc().await;
    let token = format!("Token {TOKEN}");
    for (round, cluster) in [(0, "east"), (1, "west"), (2, "east"), (3, "east")] {
        let request = WriteMetricsBatchRequest { chunks: vec![chunk(&containers(round * 10, 10), None)] };
        client.write_metrics_batch(with_auth(request, Some(&token), Some(cluster))).await.expect("stored");
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let (_, all) = t.get_json("/api/collections/containerMetrics/rows?limit=1000").await;
    let rows: Vec<(i64, i64, String)> = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["_received_at_ms"].as_i64().unwrap(), r["memory_usage"].as_i64().unwrap(), r["_cluster_id"].to_string())
        })
        .collect();
    let first = rows.iter().map(|r| r.0).min().unwrap();
    let last = rows.iter().map(|r| r.0).max().unwrap();
    let (since, until) = (first - 3, last + 5);
    for (step, cluster) in [(1, None), (7, None), (1000, None), (2, Some("east"))] {
        let filter = cluster.map(|c| format!("&cluster_id={c}")).unwrap_or_default();
        let path = format!(
            "/api/collections/containerMetrics/series?field=memory_usage&since_ms={since}&until_ms={until}&step_ms={step}{filter}"
        );
        let (status, series) = t.get_json(&path).await;
        assert_eq!(status, 200, "{path}: {series}");
        let t0 = since.div_euclid(step) * step;
        let times = series["t"].as_array().unwrap();
        assert_eq!(times.len() as i64, (until - t0 + step - 1) / step, "{series}");
        for (i, at) in times.iter().enumerate() {
            let start = at.as_i64().unwrap();
            assert_eq!(start, t0 + i as i64 * step);
            let values: Vec<i64> = rows
                .iter()
                .filter(|r| r.0 >= start && r.0 < (start + step).min(until))
                .filter(|r| cluster.is_none_or(|c| r.2 == format!("\"{c}\"")))
                .map(|r| r.1)
                .collect();
            assert_eq!(series["count"][i], values.len(), "step {i} of {path}");
            if values.is_empty() {
                assert!(series["min"][i].is_null() && series["avg"][i].is_null(), "{series}");
                continue;
            }
            assert_eq!(series["min"][i], *values.iter().min().unwrap(), "{path}");
            assert_eq!(series["max"][i], *values.iter().max().unwrap(), "{path}");
            let mean = values.iter().sum::<i64>() as f64 / values.len() as f64;
            assert!((series["avg"][i].as_f64().unwrap() - mean).abs() < 1e-9, "{path}");
        }
    }
    for (path, says) in [
        ("series", "field is required"),
        ("series?field=nope", "field \"nope\" is not a column"),
        ("series?field=container_id", "is not numeric"),
        ("series?field=cpu_usage&step_ms=0", "step_ms must be at least 1"),
        ("series?field=cpu_usage&since_ms=0&until_ms=100000&step_ms=1", "at most 2000"),
        ("series?field=cpu_usage&since_ms=10&until_ms=5", "must be before"),
        ("series?field=cpu_usage&step_ms=x", "step_ms"),
    ] {
        let (status, body) = t.get_json(&format!("/api/collections/containerMetrics/{path}")).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(says), "{path}: {body}");
    }
    t.stop().await;
}
