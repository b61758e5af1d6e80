//! Token scopes (issue 16): a page's write token cannot read, a dashboard's
//! read token cannot write, and a token limited to clusters or collections
//! sees and writes only those, over every transport and the query API.

mod common;

use common::*;
use edgemetrics_collector::pb::edgemetrics::v1::subscribe_event::Event;
use edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest;
use edgemetrics_collector::{Config, Server};
use tonic::Code;

async fn scoped_server(tokens_file: Option<&str>) -> (TestServer, Option<tempfile::TempDir>) {
    let dir = tokens_file.map(|json| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tokens.json"), json).unwrap();
        dir
    });
    let file = dir.as_ref().map(|d| d.path().join("tokens.json"));
    let t = TestServer::start_with(|c| {
        c.write_tokens = vec!["page-token".into()];
        c.read_tokens = vec!["dash-token".into()];
        c.tokens_file = file;
    })
    .await;
    (t, dir)
}

async fn post_as(t: &TestServer, token: &str, cluster: &str, collection_rows: Vec<Container>) -> (u16, String) {
    let body = prost::Message::encode_to_vec(&WriteMetricsBatchRequest { chunks: vec![chunk(&collection_rows, None)] });
    let res = http()
        .post(t.url("/v1/metrics"))
        .header("authorization", format!("Token {token}"))
        .header("x-cluster-id", cluster)
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn get_as(t: &TestServer, token: &str, path: &str) -> (u16, serde_json::Value) {
    let res = http().get(t.url(path)).header("authorization", format!("Token {token}")).send().await.unwrap();
    let status = res.status().as_u16();
    (status, serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(serde_json::Value::Null))
}

async fn subscription_refusal(t: &TestServer, token: &str) -> Option<String> {
    let mut ws = ws_connect(t).await;
    ws_send_request(&mut ws, token, &["containerMetrics"]).await;
    match ws_next_event(&mut ws).await {
        Some(Event::Subscribed(_)) => None,
        Some(Event::Error(e)) => Some(e.message),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_write_token_writes_and_cannot_read() {
    let (t, _) = scoped_server(None).await;
    assert_eq!(post_as(&t, "page-token", CLUSTER, containers(0, 3)).await.0, 200);
    for path in
        ["/api/collections", "/api/collections/containerMetrics/rows", "/api/collections/containerMetrics/stats"]
    {
        let (status, body) = get_as(&t, "page-token", path).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("this token may only write metrics"), "{body}");
    }
    let (status, _) = {
        let res = http().get(t.url("/api/collections?token=page-token")).send().await.unwrap();
        (res.status().as_u16(), ())
    };
    assert_eq!(status, 403, "a token in the query string is checked the same");
    let refusal = subscription_refusal(&t, "page-token").await.expect("refused");
    assert!(refusal.contains("may only write metrics"), "{refusal}");
    t.stop().await;
}

#[tokio::test]
async fn a_read_token_reads_and_cannot_write() {
    let (t, _) = scoped_server(None).await;
    assert_eq!(post_as(&t, TOKEN, CLUSTER, containers(0, 3)).await.0, 200);
    let (status, body) = post_as(&t, "dash-token", CLUSTER, containers(3, 3)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("this token may only read; writing metrics needs a write token"), "{body}");
    let err = t
        .grpc()
        .await
        .write_metrics_batch(with_auth(
            WriteMetricsBatchRequest { chunks: vec![chunk(&containers(3, 3), None)] },
            Some("Token dash-token"),
            Some(CLUSTER),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let (status, body) = get_as(&t, "dash-token", "/api/collections/containerMetrics/rows").await;
    assert_eq!(status, 200);
    assert_eq!(body["rows"].as_array().unwrap().len(), 3);
    assert_eq!(subscription_refusal(&t, "dash-token").await, None);
    assert_eq!(t.stored_counts().0, 3);
    t.stop().await;
}

const TOKENS_FILE: &str = r#"{"tokens":[
    {"token":"web-writer","scopes":["write"],"clusters":["web"],"collections":["containerMetrics"]},
    {"token":"web-reader","scopes":["read"],"clusters":["web"]}
]}"#;

#[tokio::test]
async fn restricted_tokens_write_and_read_only_their_clusters_and_collections() {
    let (t, _dir) = scoped_server(Some(TOKENS_FILE)).await;
    assert_eq!(post_as(&t, "web-writer", "web", containers(0, 2)).await.0, 200);
    assert_eq!(post_as(&t, TOKEN, "backend", containers(10, 5)).await.0, 200);
    let (status, body) = post_as(&t, "web-writer", "backend", containers(0, 2)).await;
    assert_eq!(status, 403);
    assert!(body.contains("this token may not use cluster id \"backend\""), "{body}");
    let other = raw_chunk(
        "httpRequests",
        r#"{"type":"record","name":"httpRequests","fields":[{"name":"n","type":"long"}]}"#,
        vec![2],
        1,
        None,
    );
    let err = t
        .grpc()
        .await
        .write_metrics_batch(with_auth(
            WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 1), None), other] },
            Some("Token web-writer"),
            Some("web"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(err.message(), "chunk 1: this token may not use collection \"httpRequests\"");
    // The reader sees the web cluster's rows only, even without asking.
    let (_, body) = get_as(&t, "web-reader", "/api/collections/containerMetrics/rows").await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["_cluster_id"] == "web"), "{body}");
    let (_, stats) = get_as(&t, "web-reader", "/api/collections/containerMetrics/stats").await;
    assert_eq!(stats["rows"], 2, "{stats}");
    let (_, latest) = get_as(&t, "web-reader", "/api/collections/containerMetrics/latest").await;
    assert_eq!(latest["row"]["_cluster_id"], "web");
    let (status, body) = get_as(&t, "web-reader", "/api/collections/containerMetrics/rows?cluster_id=backend").await;
    assert_eq!(status, 403, "{body}");
    // A subscription of the reader gets the web cluster's rows only.
    let mut ws = ws_connect(&t).await;
    ws_send_request(&mut ws, "web-reader", &["containerMetrics"]).await;
    assert!(matches!(ws_next_event(&mut ws).await, Some(Event::Subscribed(_))));
    assert_eq!(post_as(&t, TOKEN, "backend", containers(20, 1)).await.0, 200);
    assert_eq!(post_as(&t, "web-writer", "web", containers(30, 1)).await.0, 200);
    match ws_next_event(&mut ws).await {
        Some(Event::Rows(rows)) => assert_eq!(rows.cluster_id, "web"),
        other => panic!("{other:?}"),
    }
    let mut ws = ws_connect(&t).await;
    ws_send_request_from(&mut ws, "web-reader", &["containerMetrics"], &["backend"]).await;
    match ws_next_event(&mut ws).await {
        Some(Event::Error(e)) => assert!(e.message.contains("may not use cluster id \"backend\""), "{}", e.message),
        other => panic!("{other:?}"),
    }
    t.stop().await;
}

#[tokio::test]
async fn a_bad_tokens_file_stops_the_start_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    std::fs::write(&path, r#"{"tokens":[{"token":"x","scopes":["admin"]}]}"#).unwrap();
    let mut config = Config::for_tests(Vec::<String>::new());
    config.tokens_file = Some(path);
    let err = Server::start(config).await.err().expect("refused").to_string();
    assert!(err.contains("tokens.json") && err.contains("tokens[0]: unknown scope \"admin\""), "{err}");
}

#[tokio::test]
async fn fault_injection_takes_only_a_full_token() {
    let (t, _) = scoped_server(None).await;
    for token in ["page-token", "dash-token"] {
        let res = http()
            .post(t.url("/admin/faults"))
            .header("authorization", format!("Token {token}"))
            .body(r#"{"unavailable": 1000000}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{token}");
    }
    assert_eq!(post_as(&t, "page-token", CLUSTER, containers(0, 1)).await.0, 200, "writes still work");
    let res = http()
        .post(t.url("/admin/faults"))
        .header("authorization", format!("Token {TOKEN}"))
        .body(r#"{"unavailable": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    t.stop().await;
}
