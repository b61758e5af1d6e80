//! `#[derive(edgemetrics::Metric)]`: the demo's records derive the schemas
//! the demo writes by hand (canonical forms compared, by ours and by
//! apache-avro), the derived encoder writes the same bytes as the serde
//! path and apache-avro reads them, and a derived metric's rows arrive at
//! the collector as written.

#[path = "../examples/support/demo_records.rs"]
mod demo_records;
mod native_support;

use demo_records::{CONTAINER_SCHEMA, ContainerMetrics, HttpRequest, Method, REQUEST_SCHEMA};
use edgemetrics::engine::avro;
use edgemetrics::engine::derive::{Avro, schema_of};
use edgemetrics::engine::schema::Schema;
use edgemetrics::{Error, MetricConfig};
use native_support::Collector;
use serde_json::{Value as Json, json};

fn canonical(text: &str) -> (String, String) {
    let ours = Schema::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let apache = apache_avro::Schema::parse_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    (ours.canonical_form().to_string(), apache.canonical_form())
}

#[test]
fn the_demo_records_derive_the_schemas_written_by_hand() {
    for (derived, by_hand) in
        [(schema_of::<ContainerMetrics>(), CONTAINER_SCHEMA), (schema_of::<HttpRequest>(), REQUEST_SCHEMA)]
    {
        let (ours, apache) = canonical(&derived);
        assert_eq!((&ours, &apache), (&canonical(by_hand).0, &canonical(by_hand).1), "{derived}");
        assert_eq!(ours, apache, "both libraries agree on the canonical form");
    }
    // What the canonical form leaves out is there too: the optional
    // field's default.
    assert!(schema_of::<HttpRequest>().contains(r#""name":"user_agent","type":["null","string"],"default":null"#));
}

fn requests() -> Vec<HttpRequest> {
    let methods = [Method::Get, Method::Post, Method::Put, Method::Delete];
    (0..200)
        .map(|i: i32| HttpRequest {
            route: [
                "/",
                "/api/ünïcode/→",
                "",
                "/a/much/longer/route/than/sixty/three/characters/to/leave/the/short/path",
            ][i as usize % 4],
            method: methods[i as usize % 4],
            status: [200, -1, i32::MIN, i32::MAX, 503][i as usize % 5],
            latency_ms: [0.5, -0.0, f64::MAX, 1e-300, f64::from(i)][i as usize % 5],
            user_agent: (i % 3 != 0).then(|| "x".repeat(i as usize)),
        })
        .collect()
}

fn containers() -> Vec<ContainerMetrics> {
    (0..200)
        .map(|i: i64| ContainerMetrics {
            container_id: format!("pod-{i}"),
            memory_usage: [0, -1, i64::MIN, i64::MAX, i << 40][i as usize % 5],
            cpu_usage: i,
            memory_request: -i,
            cpu_request: 500,
        })
        .collect()
}

/// Every row encoded by the derive and by the serde path: the same bytes,
/// which apache-avro reads back as one datum each.
fn same_bytes<T: Avro + serde::Serialize>(schema_text: &str, rows: &[T]) {
    let schema = Schema::parse(schema_text).unwrap();
    let apache = apache_avro::Schema::parse_str(schema_text).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let (mut derived, mut serde_path) = (Vec::new(), Vec::new());
        row.encode(&mut derived);
        avro::encode(&schema, row, &mut serde_path).unwrap();
        assert_eq!(derived, serde_path, "row {i}");
        let mut rest = &derived[..];
        apache_avro::from_avro_datum(&apache, &mut rest, None).unwrap_or_else(|e| panic!("row {i}: {e}"));
        assert!(rest.is_empty(), "row {i}: apache-avro left {} bytes", rest.len());
    }
}

#[test]
fn the_derived_encoder_writes_the_serde_paths_bytes() {
    same_bytes(CONTAINER_SCHEMA, &containers());
    same_bytes(REQUEST_SCHEMA, &requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_metrics_rows_arrive_as_written() {
    let server = Collector::start().await;
    let client = server.client().cluster_id("derived").build().unwrap();
    // No schema given: the type's. A schema given must be the type's.
    let metric = client.derived_metric::<HttpRequest>(MetricConfig::default()).unwrap();
    let same = client.derived_metric::<ContainerMetrics>(MetricConfig::schema(CONTAINER_SCHEMA)).unwrap();
    match client.derived_metric::<ContainerMetrics>(MetricConfig::schema(REQUEST_SCHEMA)) {
        Err(Error::Option(e)) => {
            assert!(e.to_string().contains("schema") && e.to_string().contains("ContainerMetrics"), "{e}")
        }
        other => panic!("a schema of another type was taken: {other:?}"),
    }
    let rows = requests();
    rows.iter().for_each(|row| metric.write(row).unwrap());
    containers().iter().for_each(|row| same.write(row).unwrap());
    client.flush().await.unwrap();
    let stored: Vec<Json> = server.json_rows("httpRequests", "derived").await;
    assert_eq!(stored.len(), rows.len());
    for (row, got) in rows.iter().zip(&stored) {
        let method = ["GET", "POST", "PUT", "DELETE"][row.method as usize];
        let want = json!({"route": row.route, "method": method, "status": row.status, "user_agent": row.user_agent});
        for key in ["route", "method", "status", "user_agent"] {
            assert_eq!(got[key], want[key], "{key} of {got}");
        }
        assert_eq!(got["latency_ms"].as_f64(), Some(row.latency_ms), "{got}");
    }
    let stored: Vec<Json> = server.json_rows("containerMetrics", "derived").await;
    assert_eq!(stored.len(), 200);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_all_buffers_every_row_or_none() {
    let server = Collector::start().await;
    let client = server.client().cluster_id("derived-all").build().unwrap();
    let metric = client.derived_metric::<HttpRequest>(MetricConfig::default().max_chunk_size(256)).unwrap();
    let mut rows = requests()[..50].to_vec();
    rows.iter_mut().for_each(|row| row.user_agent = None);
    assert_eq!(metric.write_all(&rows).unwrap(), 50);
    let written = client.stats().rows_written;
    // Row 7 alone is larger than a chunk: nothing of this batch stays.
    let mut bad = rows.clone();
    bad[7].user_agent = Some("x".repeat(300));
    match metric.write_all(&bad) {
        Err(Error::Rows(e)) => {
            assert_eq!(e.index, 7);
            assert!(e.to_string().contains("256"), "{e}");
        }
        other => panic!("a row larger than a chunk was taken: {other:?}"),
    }
    assert_eq!(client.stats().rows_written, written);
    client.flush().await.unwrap();
    let stored: Vec<Json> = server.json_rows("httpRequests", "derived-all").await;
    assert_eq!(stored.len(), 50, "chunks of 256 bytes, every row once");
    client.shutdown().await;
}

mod first {
    #[derive(edgemetrics::Metric)]
    pub enum Kind {
        X,
        Y,
    }
}

mod second {
    #[derive(edgemetrics::Metric)]
    pub enum Kind {
        P,
        Q,
        R,
    }
}

#[derive(edgemetrics::Metric)]
struct TwoKinds {
    a: first::Kind,
    b: second::Kind,
}

#[test]
fn two_types_of_one_avro_name_are_refused_not_confused() {
    // Were the second a reference to the first, `R` would be written as a
    // symbol the schema does not have.
    let text = schema_of::<TwoKinds>();
    let error = Schema::parse(&text).expect_err(&text).to_string();
    assert!(error.contains("Kind"), "{error}");
    let mut bytes = Vec::new();
    for (a, b) in
        [(first::Kind::X, second::Kind::P), (first::Kind::Y, second::Kind::Q), (first::Kind::X, second::Kind::R)]
    {
        TwoKinds { a, b }.encode(&mut bytes);
    }
    assert_eq!(bytes, [0, 0, 2, 2, 0, 4], "each enum by its own index");
}

#[derive(edgemetrics::Metric)]
#[metric(namespace = "b")]
struct Inner {
    m: Method,
}

#[derive(edgemetrics::Metric)]
#[metric(namespace = "a")]
struct Outer {
    x: Inner,
    y: Method,
    z: Method,
}

#[test]
fn a_type_without_a_namespace_takes_the_enclosing_one_each_time() {
    // `Method` is b.Method inside Inner and a.Method in Outer (defined
    // once each, then referred to): the schema parses, and the rows are
    // written as it says.
    let text = schema_of::<Outer>();
    let schema = Schema::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(text.contains(r#""name":"Method""#) && text.contains(r#""a.Method""#), "{text}");
    let apache = apache_avro::Schema::parse_str(&text).unwrap();
    assert_eq!(schema.canonical_form(), apache.canonical_form());
    let row = Outer { x: Inner { m: Method::Delete }, y: Method::Put, z: Method::Get };
    let mut bytes = Vec::new();
    row.encode(&mut bytes);
    assert_eq!(bytes, [6, 4, 0], "enum indexes 3, 2, 0 as zig-zag varints");
    let value = apache_avro::from_avro_datum(&apache, &mut &bytes[..], None).unwrap();
    assert!(format!("{value:?}").contains("DELETE"), "{value:?}");
}
