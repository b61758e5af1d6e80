//! The bad-input table: each row is its own test. Each checks the exact
//! status (gRPC and HTTP), that the message names the problem, that nothing
//! of the bad request was stored, and that the next good request succeeds.

mod common;

use common::*;
use edgemetrics_collector::pb::metrics::v1beta::{WriteMetricsBatchRequest, WriteMetricsRequest};
use prost::Message as _;
use tonic::Code;

const MAX_MESSAGE: usize = 64 * 1024;
const MAX_ROWS: u64 = 1000;

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.limits.max_message_bytes = MAX_MESSAGE;
        c.limits.max_rows_per_chunk = MAX_ROWS;
    })
    .await
}

/// A good chunk 0 followed by the bad chunk: the batch must be rejected whole.
fn batch_with(bad: WriteMetricsRequest) -> Vec<WriteMetricsRequest> {
    vec![chunk(&containers(0, 3), Some(chunk_id(100))), bad]
}

/// A good request stores its rows after the rejection.
async fn good_request_succeeds(t: &TestServer) {
    let (rows_before, _) = t.stored_counts();
    let res = t
        .grpc()
        .await
        .write_metrics_batch(authed(WriteMetricsBatchRequest {
            chunks: vec![chunk(&containers(500, 2), Some(chunk_id(200)))],
        }))
        .await
        .expect("good request after the bad one")
        .into_inner();
    assert_eq!((res.rows_stored, res.chunks_acked), (2, 1));
    assert_eq!(t.stored_counts().0, rows_before + 2);
}

struct Case {
    auth: Option<&'static str>,
    cluster: Option<&'static str>,
    chunks: Vec<WriteMetricsRequest>,
}

impl Case {
    fn chunks(chunks: Vec<WriteMetricsRequest>) -> Self {
        Self { auth: Some("Token test-token"), cluster: Some(CLUSTER), chunks }
    }

    fn auth(auth: Option<&'static str>, cluster: Option<&'static str>) -> Self {
        Self { auth, cluster, chunks: vec![chunk(&containers(0, 3), Some(chunk_id(1)))] }
    }
}

/// Sends the case over gRPC (unary batch) and HTTP POST; both must reject it
/// with the class and message expected, storing nothing.
async fn check_rejected(name: &str, case: Case, code: Code, http_status: u16, needle: &str) {
    let t = server().await;
    let batch = WriteMetricsBatchRequest { chunks: case.chunks };
    let err =
        t.grpc().await.write_metrics_batch(with_auth(batch.clone(), case.auth, case.cluster)).await.expect_err(name);
    assert_eq!(err.code(), code, "{name}: gRPC code ({})", err.message());
    assert!(err.message().contains(needle), "{name}: gRPC message {:?} should contain {needle:?}", err.message());
    assert_eq!(t.stored_counts(), (0, 0), "{name}: nothing stored after gRPC");

    let mut req = http().post(t.url("/v1/metrics"));
    if let Some(a) = case.auth {
        req = req.header("authorization", a);
    }
    if let Some(c) = case.cluster {
        req = req.header("x-cluster-id", c);
    }
    let res = req.body(batch.encode_to_vec()).send().await.unwrap();
    assert_eq!(res.status().as_u16(), http_status, "{name}: HTTP status");
    let text = res.text().await.unwrap();
    assert!(text.contains(needle), "{name}: HTTP body {text:?} should contain {needle:?}");
    assert_eq!(t.stored_counts(), (0, 0), "{name}: nothing stored after HTTP");
    good_request_succeeds(&t).await;
    t.stop().await;
}

macro_rules! bad_input {
    ($($name:ident: $case:expr => $code:ident, $http:literal, $needle:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            check_rejected(stringify!($name), $case, Code::$code, $http, $needle).await;
        }
    )*};
}

fn rows_field(mut c: WriteMetricsRequest, rows: u64) -> WriteMetricsRequest {
    c.metadata.as_mut().unwrap().rows = rows;
    c
}

fn with_bytes(mut c: WriteMetricsRequest, f: impl FnOnce(&mut Vec<u8>)) -> WriteMetricsRequest {
    f(&mut c.metrics);
    c
}

fn with_schema(mut c: WriteMetricsRequest, schema: &str) -> WriteMetricsRequest {
    c.schema = schema.as_bytes().to_vec();
    c
}

fn with_collection(mut c: WriteMetricsRequest, name: &str) -> WriteMetricsRequest {
    c.collection = name.into();
    c
}

fn two_rows() -> WriteMetricsRequest {
    chunk(&containers(10, 2), Some(chunk_id(101)))
}

/// Bytes of the first of `two_rows()`'s rows.
fn first_row_len() -> usize {
    encode(CONTAINER_SCHEMA, &[containers(10, 1)[0].value()]).len()
}

bad_input! {
    wrong_token: Case::auth(Some("Token wrong"), Some(CLUSTER))
        => Unauthenticated, 401, "invalid token";
    missing_token: Case::auth(None, Some(CLUSTER))
        => Unauthenticated, 401, "missing authorization";
    malformed_authorization: Case::auth(Some("Basic dGVzdA=="), Some(CLUSTER))
        => Unauthenticated, 401, "malformed authorization header";
    missing_cluster_id: Case::auth(Some("Token test-token"), None)
        => Unauthenticated, 401, "missing x-cluster-id";
    bad_cluster_id: Case::auth(Some("Token test-token"), Some("bad cluster/id"))
        => Unauthenticated, 401, "invalid x-cluster-id: character ' ' is not allowed";
    wrong_row_count: Case::chunks(batch_with(rows_field(two_rows(), 3)))
        => InvalidArgument, 400, "chunk 1: metadata.rows is 3 but the Avro bytes hold 2 rows";
    trailing_bytes: Case::chunks(batch_with(with_bytes(two_rows(), |b| b.extend([1, 2, 3]))))
        => InvalidArgument, 400, "chunk 1: 3 bytes left over after 2 rows";
    fewer_rows_declared: Case::chunks(batch_with(rows_field(two_rows(), 1)))
        => InvalidArgument, 400, "chunk 1: ";
    truncated_avro: Case::chunks(batch_with(with_bytes(two_rows(), |b| { b.pop(); })))
        => InvalidArgument, 400, "chunk 1: Avro bytes are truncated";
    truncated_avro_inside_a_string: Case::chunks(batch_with(with_bytes(two_rows(), |b| {
            b.truncate(first_row_len() + 3);
        })))
        => InvalidArgument, 400, r#"chunk 1: Avro bytes are truncated in row 1, field "container_id""#;
    // apache-avro reads a string cut short as null: the collector must not.
    truncated_string_at_the_end: Case::chunks(batch_with(raw_chunk(
            "t", r#"{"type":"record","name":"t","fields":[{"name":"v","type":"long"},{"name":"s","type":"string"}]}"#,
            vec![2, 6, b'a', b'b'], 1, None)))
        => InvalidArgument, 400, "chunk 1: Avro bytes are truncated in row 0";
    schema_not_a_record: Case::chunks(batch_with(with_schema(two_rows(), r#""string""#)))
        => InvalidArgument, 400, r#"chunk 1: schema is not a record (got "string")"#;
    unparsable_schema: Case::chunks(batch_with(with_schema(two_rows(), r#"{"type":"record","name":"#)))
        => InvalidArgument, 400, "chunk 1: schema does not parse";
    empty_schema: Case::chunks(batch_with(with_schema(two_rows(), "")))
        => InvalidArgument, 400, "chunk 1: schema is empty";
    oversized_message: Case::chunks(vec![chunk(&containers(0, 3000), None)])
        => ResourceExhausted, 413, "exceeds the limit of 65536 bytes";
    too_many_rows: Case::chunks(batch_with(rows_field(two_rows(), MAX_ROWS + 1)))
        => InvalidArgument, 413, "chunk 1: metadata.rows is 1001, the limit is 1000 rows per chunk (--max-rows-per-chunk)";
    collection_with_quote: Case::chunks(batch_with(with_collection(two_rows(), "contai\"ner")))
        => InvalidArgument, 400, r#"chunk 1: collection "contai\"ner" is not a valid name"#;
    collection_with_space: Case::chunks(batch_with(with_collection(two_rows(), "container metrics")))
        => InvalidArgument, 400, r#"chunk 1: collection "container metrics" is not a valid name"#;
    collection_with_sql: Case::chunks(batch_with(with_collection(two_rows(), "x\"; DROP TABLE _chunks; --")))
        => InvalidArgument, 400, "is not a valid name";
    reserved_collection: Case::chunks(batch_with(with_collection(two_rows(), "_chunks")))
        => InvalidArgument, 400, r#"chunk 1: collection "_chunks" is reserved"#;
    collection_not_the_record_name: Case::chunks(batch_with(with_collection(two_rows(), "other")))
        => InvalidArgument, 400, r#"chunk 1: collection "other" does not match the schema's record name "containerMetrics""#;
    chunk_id_not_16_bytes: Case::chunks(batch_with(WriteMetricsRequest { chunk_id: vec![1; 5], ..two_rows() }))
        => InvalidArgument, 400, "chunk 1: chunk_id must be empty or 16 bytes, got 5 bytes";
    missing_metadata: Case::chunks(batch_with(WriteMetricsRequest { metadata: None, ..two_rows() }))
        => InvalidArgument, 400, "chunk 1: metadata is missing";
    timestamp_column_collides: Case::chunks(batch_with(raw_chunk(
            "t", r#"{"type":"record","name":"t","fields":[{"name":"timestamp","type":"long"}]}"#,
            vec![2], 1, None)))
        => InvalidArgument, 400, r#"chunk 1: timestamp column "timestamp" collides with the record field "timestamp""#;
    reserved_field_name: Case::chunks(batch_with(raw_chunk(
            "t", r#"{"type":"record","name":"t","fields":[{"name":"_chunk_id","type":"long"}]}"#,
            vec![2], 1, None)))
        => InvalidArgument, 400, r#"chunk 1: field "_chunk_id" is a reserved column name"#;
    recursive_schema: Case::chunks(batch_with(raw_chunk(
            "t", r#"{"type":"record","name":"t","fields":[{"name":"next","type":["null","t"]}]}"#,
            vec![0], 1, None)))
        => InvalidArgument, 400, "recursive type";
}

/// Stores containerMetrics once, then sends a batch whose chunk 1 changes the
/// schema incompatibly.
async fn incompatible(name: &str, schema: &str, row: apache_avro::types::Value, needle: &str) {
    let t = server().await;
    t.grpc()
        .await
        .write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 2), None)] }))
        .await
        .unwrap();
    let bad = raw_chunk("containerMetrics", schema, encode(schema, &[row]), 1, None);
    let err = t
        .grpc()
        .await
        .write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: batch_with(bad) }))
        .await
        .expect_err(name);
    assert_eq!(err.code(), Code::InvalidArgument, "{name}: {}", err.message());
    assert!(err.message().contains(needle), "{name}: {}", err.message());
    assert_eq!(t.stored_counts(), (2, 0), "{name}: nothing of the batch stored");
    let (_, list) = t.get_json("/api/collections").await;
    assert_eq!(list["collections"][0]["fields"].as_array().unwrap().len(), 6);
    good_request_succeeds(&t).await;
    t.stop().await;
}

#[tokio::test]
async fn incompatible_type_change() {
    use apache_avro::types::Value;
    let schema = r#"{"type":"record","name":"containerMetrics","fields":[
        {"name":"container_id","type":"string"},{"name":"memory_usage","type":"string"}]}"#;
    let row = Value::Record(vec![
        ("container_id".into(), Value::String("c".into())),
        ("memory_usage".into(), Value::String("lots".into())),
    ]);
    incompatible(
        "incompatible_type_change",
        schema,
        row,
        r#"chunk 1: incompatible schema change: field "memory_usage" of collection "containerMetrics" changes type from "long" to "string""#,
    )
    .await;
}

#[tokio::test]
async fn incompatible_new_required_field() {
    use apache_avro::types::Value;
    let schema = r#"{"type":"record","name":"containerMetrics","fields":[
        {"name":"container_id","type":"string"},{"name":"node","type":"string"}]}"#;
    let row = Value::Record(vec![
        ("container_id".into(), Value::String("c".into())),
        ("node".into(), Value::String("n".into())),
    ]);
    incompatible(
        "incompatible_new_required_field",
        schema,
        row,
        r#"chunk 1: incompatible schema change: new field "node" of collection "containerMetrics" has no default and is not nullable"#,
    )
    .await;
}
