//! One test per hostile request an outside tester found (issue 16), each on
//! the collector binary or an in-process collector: the request gets an
//! error that names the limit, nothing of it is stored, the collector keeps
//! serving every transport, and where the finding was about memory its
//! peak (VmHWM) stays below a stated bound.

mod common;

use std::time::{Duration, Instant};

use common::process::Collector;
use common::*;
use edgemetrics_collector::pb::metrics::v1beta::WriteMetricsRequest;
use tonic::Code;

/// A record whose fields are `levels` records, each naming the previous one
/// `refs` times: 2^levels values when `refs` is 2.
fn chain(levels: usize, refs: usize) -> String {
    let mut fields =
        vec![r#"{"name":"f0","type":{"type":"record","name":"R0","fields":[{"name":"x","type":"long"}]}}"#.to_owned()];
    for i in 1..levels {
        let inner: Vec<String> = (0..refs).map(|k| format!(r#"{{"name":"a{k}","type":"R{}"}}"#, i - 1)).collect();
        fields.push(format!(
            r#"{{"name":"f{i}","type":{{"type":"record","name":"R{i}","fields":[{}]}}}}"#,
            inner.join(",")
        ));
    }
    format!(r#"{{"type":"record","name":"top","fields":[{}]}}"#, fields.join(","))
}

fn one_chunk(collection: &str, schema: &str, avro: Vec<u8>, rows: u64) -> Vec<WriteMetricsRequest> {
    vec![raw_chunk(collection, schema, avro, rows, None)]
}

/// Runs `f` and asserts it took less than `limit`.
async fn quickly<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let out = f.await;
    assert!(start.elapsed() < limit, "took {:?}, expected under {limit:?}", start.elapsed());
    out
}

async fn collections(url: &str) -> serde_json::Value {
    let res = http().get(format!("{url}/api/collections")).header("authorization", format!("Token {TOKEN}"));
    let body = res.send().await.unwrap().text().await.unwrap();
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["collections"].clone()
}

#[tokio::test]
async fn nesting_through_named_references_is_refused_without_a_deep_stack() {
    // The finding: 2,000 levels, each field an inline record naming the
    // previous one. It aborted the process (stack overflow).
    let c = Collector::start(&[]);
    let schema = chain(2000, 1);
    assert!(schema.len() > 150_000, "a schema of a few hundred KB: {}", schema.len());
    // Longer than a schema may be: refused before it is parsed...
    quickly(
        Duration::from_secs(10),
        assert_refused_everywhere(
            &c.url,
            &one_chunk("top", &schema, vec![2], 1),
            Code::InvalidArgument,
            413,
            "--max-schema-bytes",
        ),
    )
    .await;
    // ...and with room for it, refused for its depth, in linear time.
    let c = Collector::start(&["--max-schema-bytes", "1000000", "--max-columns", "1990"]);
    quickly(
        Duration::from_secs(10),
        assert_refused_everywhere(
            &c.url,
            &one_chunk("top", &chain(1990, 1), vec![2], 1),
            Code::InvalidArgument,
            400,
            "schema nests deeper than 32 levels (counted through named types; --max-schema-depth)",
        ),
    )
    .await;
    assert_served_everywhere(&c.url).await;
    assert_eq!(collections(&c.url).await.as_array().unwrap().len(), 1, "only the good rows' collection");
}

#[tokio::test]
async fn a_schema_that_doubles_per_level_is_refused_at_once() {
    // The finding: 3.7 KB, 27 levels naming the previous record twice,
    // kept a core busy for minutes.
    let c = Collector::start(&[]);
    let schema = chain(27, 2);
    assert!(schema.len() < 4096);
    quickly(
        Duration::from_secs(5),
        assert_refused_everywhere(
            &c.url,
            &one_chunk("top", &schema, vec![2], 1),
            Code::InvalidArgument,
            400,
            "schema expands to more than 10000 types (counted through named types; --max-schema-nodes)",
        ),
    )
    .await;
    assert_served_everywhere(&c.url).await;
}

const NULL_ARRAY: &str = r#"{"type":"record","name":"amp","fields":[
    {"name":"v","type":"long"},{"name":"a","type":{"type":"array","items":"null"}}]}"#;

/// v = 1, then one block of 2^25 nulls: six bytes.
fn null_array_row() -> Vec<u8> {
    vec![2, 0x80, 0x80, 0x80, 0x20, 0]
}

/// The peak memory of the collector binary after hostile requests, in MiB:
/// the process as started (about 20 MiB in a debug build) plus what the
/// requests cost. The finding used 2 GiB per row.
const PEAK_RSS_BOUND_MIB: f64 = 64.0;

#[tokio::test]
async fn zero_byte_items_are_counted_before_they_are_decoded() {
    let c = Collector::start(&[]);
    let row = null_array_row();
    assert_eq!(row.len(), 6);
    let two_rows = [row.clone(), row.clone()].concat();
    for (avro, rows) in [(row, 1), (two_rows, 2)] {
        quickly(
            Duration::from_secs(5),
            assert_refused_everywhere(
                &c.url,
                &one_chunk("amp", NULL_ARRAY, avro, rows),
                Code::InvalidArgument,
                413,
                r#"row 0, field "a": the row holds more than 65536 values (--max-values-per-row)"#,
            ),
        )
        .await;
    }
    // Rows under the row limit, too many for their few bytes together.
    let mut avro = Vec::new();
    for _ in 0..70 {
        // v = 1, a block of 60,000 nulls
        avro.push(2);
        avro.extend(zigzag(60_000));
        avro.push(0);
    }
    assert_refused_everywhere(
        &c.url,
        &one_chunk("amp", NULL_ARRAY, avro, 70),
        Code::InvalidArgument,
        413,
        "the chunk holds more than 6896 values: 8 per byte of its 350 bytes of Avro (--max-values-per-byte)",
    )
    .await;
    assert_served_everywhere(&c.url).await;
    let peak = c.peak_rss_mib();
    println!("peak RSS after the hostile requests: {peak:.1} MiB");
    assert!(peak < PEAK_RSS_BOUND_MIB, "peak RSS {peak:.1} MiB, bound {PEAK_RSS_BOUND_MIB} MiB");
    assert_eq!(collections(&c.url).await.as_array().unwrap().len(), 1, "only the good rows' collection");
}

#[tokio::test]
async fn the_values_of_a_chunk_are_capped_whatever_its_size() {
    let c = Collector::start(&["--max-values-per-chunk", "100000"]);
    // 20,000 rows of 6 values each: within 8 values per byte, over the cap.
    assert_refused_everywhere(
        &c.url,
        &[chunk(&containers(0, 20_000), None)],
        Code::InvalidArgument,
        413,
        "row 16666, field \"memory_request\": the chunk holds more than 100000 values (--max-values-per-chunk)",
    )
    .await;
    assert_served_everywhere(&c.url).await;
}

#[tokio::test]
async fn a_row_that_would_expand_past_the_row_limit_is_refused() {
    let schema =
        r#"{"type":"record","name":"wide","fields":[{"name":"tags","type":{"type":"array","items":"string"}}]}"#;
    let tag = "x".repeat(60);
    let mut avro = zigzag(3600); // a block of 3,600 strings
    for _ in 0..3600 {
        avro.push(120); // length 60
        avro.extend(tag.as_bytes());
    }
    avro.push(0);
    let c = Collector::start(&["--max-row-bytes", "200000"]);
    assert_refused_everywhere(
        &c.url,
        &one_chunk("wide", schema, avro, 1),
        Code::InvalidArgument,
        413,
        r#"row 0, field "tags": the row takes more than 200000 bytes once stored (--max-row-bytes)"#,
    )
    .await;
    assert_served_everywhere(&c.url).await;
    assert!(c.peak_rss_mib() < PEAK_RSS_BOUND_MIB);
}

#[tokio::test]
async fn rows_that_take_no_bytes_cannot_be_declared_by_the_million() {
    // No row rate here: declared rows count against it before they are
    // checked, which another test covers.
    let c = Collector::start(&["--rate-rows-per-ip", "0", "--rate-rows-per-token", "0"]);
    // The finding: a record of nulls, a million rows, no bytes: 101 bytes
    // stored a million rows.
    let nulls =
        r#"{"type":"record","name":"nothing","fields":[{"name":"a","type":"null"},{"name":"b","type":"null"}]}"#;
    let chunks = one_chunk("nothing", nulls, vec![], 1_000_000);
    assert!(prost::Message::encoded_len(&chunks[0]) < 150);
    assert_refused_everywhere(&c.url, &chunks, Code::InvalidArgument, 400, "can be encoded in zero bytes").await;
    // A record that takes a byte cannot declare more rows than bytes...
    let flags = r#"{"type":"record","name":"flags","fields":[{"name":"on","type":"boolean"}]}"#;
    let five: Vec<WriteMetricsRequest> = (0..5).map(|_| raw_chunk("flags", flags, vec![], 1_000_000, None)).collect();
    // (A stream's limit is per message: its first message is refused for
    // its bytes, below.)
    assert_refused_over(
        &["gRPC batch", "HTTP", "gRPC-web"],
        &c.url,
        &five,
        Code::InvalidArgument,
        413,
        "the request declares 5000000 rows, the limit is 2000000 (--max-rows-per-request)",
    )
    .await;
    assert_refused_everywhere(
        &c.url,
        &five[..1],
        Code::InvalidArgument,
        400,
        r#"metadata.rows is 1000000 but 0 bytes of Avro hold at most 0 rows of "flags", which take at least 1 bytes each"#,
    )
    .await;
    // ...and a chunk of no rows creates nothing.
    assert_refused_everywhere(
        &c.url,
        &one_chunk("flags", flags, vec![], 0),
        Code::InvalidArgument,
        400,
        "metadata.rows is 0: a chunk carries at least one row",
    )
    .await;
    assert_eq!(collections(&c.url).await, serde_json::json!([]));
    assert_served_everywhere(&c.url).await;
}

fn wide_schema(name: &str, fields: impl Iterator<Item = String>, nullable: bool) -> String {
    let ty = if nullable { r#"["null","long"]"# } else { r#""long""# };
    let fields: Vec<String> = fields.map(|f| format!(r#"{{"name":"{f}","type":{ty}}}"#)).collect();
    format!(r#"{{"type":"record","name":"{name}","fields":[{}]}}"#, fields.join(","))
}

#[tokio::test]
async fn wide_records_get_an_error_naming_the_limit_not_a_500() {
    let t = TestServer::start().await;
    let url = t.server.url();
    // The finding: about 2,000 fields got HTTP 500 "too many columns".
    let schema = wide_schema("wide", (0..2000).map(|i| format!("f{i}")), false);
    assert_refused_everywhere(
        &url,
        &one_chunk("wide", &schema, vec![2; 2000], 1),
        Code::InvalidArgument,
        400,
        r#"record "wide" has 2000 fields, the limit is 1000 (--max-columns)"#,
    )
    .await;
    assert_eq!(collections(&url).await, serde_json::json!([]), "no table was created");
    // Growing past the limit by schema evolution: refused too.
    let t2 = TestServer::start_with(|c| c.limits.max_columns = 10).await;
    let url2 = t2.server.url();
    let first = wide_schema("grow", (0..8).map(|i| format!("a{i}")), false);
    let a = send_over("HTTP", &url2, one_chunk("grow", &first, vec![2; 8], 1)).await;
    assert_eq!(a.code, 200, "{a:?}");
    let second = wide_schema("grow", (0..8).map(|i| format!("b{i}")), true);
    assert_refused_everywhere(
        &url2,
        &one_chunk("grow", &second, vec![0; 8], 1),
        Code::InvalidArgument,
        413,
        r#"collection "grow" would have 17 columns (9 stored, 8 new), the limit is 10 (--max-columns)"#,
    )
    .await;
    assert_served_everywhere(&url).await;
    t.stop().await;
    t2.stop().await;
}

#[tokio::test]
async fn www_serves_only_regular_files_under_its_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "the secret").unwrap();
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "<p>dashboard</p>").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), www.path().join("secret.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), www.path().join("outside")).unwrap();
    let c = Collector::start(&["--www", www.path().to_str().unwrap()]);
    let get = |path: &str| http().get(format!("{}{path}", c.url)).send();
    let res = get("/").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "<p>dashboard</p>");
    for path in ["/secret.txt", "/outside/secret.txt", "/outside/", "/..%2f..%2fetc%2fpasswd"] {
        let res = get(path).await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert!(!res.text().await.unwrap().contains("secret"), "{path}");
    }
}

#[tokio::test]
async fn a_unary_call_with_two_messages_is_refused_whole() {
    let t = TestServer::start().await;
    let batch = |id| {
        prost::Message::encode_to_vec(&edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest {
            chunks: vec![chunk(&containers(0, 3), Some(chunk_id(id)))],
        })
    };
    let body = [grpc_web_frame(&batch(1)), grpc_web_frame(&batch(2))].concat();
    // gRPC-web over HTTP/1.1, and native gRPC over HTTP/2.
    for (content_type, h2) in [("application/grpc-web+proto", false), ("application/grpc", true)] {
        let client = if h2 { reqwest::Client::builder().http2_prior_knowledge().build().unwrap() } else { http() };
        let res = client
            .post(t.url("/metrics.v1beta.IngestionAPI/WriteMetricsBatch"))
            .header("content-type", content_type)
            .header("te", "trailers")
            .header("authorization", format!("Token {TOKEN}"))
            .header("x-cluster-id", CLUSTER)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let headers = res.headers().clone();
        let reply = parse_grpc_web(&headers, &res.bytes().await.unwrap());
        assert_eq!(reply.status, Code::InvalidArgument as u32, "{content_type}: {reply:?}");
        assert!(reply.grpc_message.contains("a unary call carries one message"), "{reply:?}");
    }
    assert_eq!(t.stored_counts(), (0, 0), "neither message was stored");
    assert_served_everywhere(&t.server.url()).await;
    t.stop().await;
}

#[tokio::test]
async fn query_string_errors_are_json() {
    let t = TestServer::start().await;
    send_over("HTTP", &t.server.url(), vec![chunk(&containers(0, 2), None)]).await;
    for (path, needle) in [
        ("/api/collections/containerMetrics/rows?limit=many", "limit"),
        ("/api/collections/containerMetrics/rows?since_ms=yesterday", "since_ms"),
        ("/api/collections/containerMetrics/stats?since_ms=1e99", "since_ms"),
        ("/api/collections/containerMetrics/rows?limit=0", "limit must be 1..=10000"),
        ("/api/collections/containerMetrics/latest?cluster_id=caf%C3%A9", "cluster_id \"café\""),
    ] {
        let (status, body) = t.get_json(path).await;
        assert_eq!(status, 400, "{path}");
        let error = body["error"].as_str().unwrap_or_else(|| panic!("{path}: not a JSON error: {body}"));
        assert!(error.contains(needle), "{path}: {error}");
    }
    t.stop().await;
}

#[tokio::test]
async fn a_cluster_id_that_is_not_ascii_is_named_as_such() {
    let t = TestServer::start().await;
    let value = reqwest::header::HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap();
    for (path, content_type) in [
        ("/v1/metrics", "application/x-protobuf"),
        ("/metrics.v1beta.IngestionAPI/WriteMetricsBatch", "application/grpc-web+proto"),
    ] {
        let body =
            prost::Message::encode_to_vec(&edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest {
                chunks: vec![chunk(&containers(0, 1), None)],
            });
        let body = if path == "/v1/metrics" { body } else { grpc_web_frame(&body) };
        let res = http()
            .post(t.url(path))
            .header("content-type", content_type)
            .header("authorization", format!("Token {TOKEN}"))
            .header("x-cluster-id", value.clone())
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let message = if path == "/v1/metrics" {
            assert_eq!(status, 401);
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            let reply = parse_grpc_web(&headers, &bytes);
            assert_eq!(reply.status, Code::Unauthenticated as u32);
            reply.grpc_message
        };
        assert!(message.contains("invalid x-cluster-id: character '\u{e9}' is not allowed"), "{path}: {message}");
    }
    t.stop().await;
}

#[tokio::test]
async fn answers_of_the_query_api_are_bounded_in_size_and_time() {
    let t = TestServer::start_with(|c| {
        c.limits.max_response_bytes = 4000;
        c.limits.query_timeout = Duration::from_millis(1);
    })
    .await;
    let a = send_over("HTTP", &t.server.url(), vec![chunk(&containers(0, 30_000), None)]).await;
    assert_eq!(a.code, 200, "{a:?}");
    // Collections whose schema texts (kept as sent, 1 KB of doc each) add up
    // to more than the limit: the list stops at it too.
    for i in 0..8 {
        let schema = format!(
            r#"{{"type":"record","name":"c{i}","doc":"{}","fields":[{{"name":"a","type":"int"}}]}}"#,
            "x".repeat(1000)
        );
        let a = send_over("HTTP", &t.server.url(), one_chunk(&format!("c{i}"), &schema, vec![0], 1)).await;
        assert_eq!(a.code, 200, "{a:?}");
    }
    // Some of the `key` items of the answer, not all `of` them, and the mark.
    let cut = |body: &serde_json::Value, key: &str, of: usize| {
        let items = body[key].as_array().unwrap();
        assert!(!items.is_empty() && items.len() < of, "{} {key}", items.len());
        assert_eq!(body["truncated"], true);
        assert!(serde_json::to_vec(body).unwrap().len() <= 4000);
    };
    let (status, body) = t.get_json("/api/collections").await;
    assert_eq!(status, 200, "{body}");
    cut(&body, "collections", 9);
    let (status, body) = t.get_json("/api/collections/containerMetrics/rows?limit=100").await;
    assert_eq!(status, 200, "{body}");
    cut(&body, "rows", 100);
    // A summary of 30,000 rows takes longer than a millisecond.
    let (status, body) = t.get_json("/api/collections/containerMetrics/stats").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("it ran longer than 1ms (--query-timeout)"), "{body}");
    t.stop().await;
}

#[tokio::test]
async fn a_name_given_twice_cannot_make_the_decoder_read_other_bytes_than_the_walk() {
    // An alias of a fixed that is also a record's name: a reference would be
    // walked as 64 opaque bytes and decoded as a record of 2^25-null arrays.
    let c = Collector::start(&[]);
    let schema = r#"{"type":"record","name":"top","fields":[
        {"name":"a","type":{"type":"record","name":"A","fields":[{"name":"n","type":{"type":"array","items":"null"}}]}},
        {"name":"f","type":{"type":"fixed","name":"F","size":64,"aliases":["A"]}},
        {"name":"r","type":"A"}]}"#;
    let mut avro = vec![0u8]; // a: an empty array
    avro.extend([0u8; 64]); // f
    avro.extend([0x80, 0x80, 0x80, 0x20].repeat(16)); // r, read as 16 blocks of 2^25 nulls
    assert_refused_everywhere(
        &c.url,
        &one_chunk("top", schema, avro, 1),
        Code::InvalidArgument,
        400,
        r#"field "f": alias "A" of "F" is already a name or an alias"#,
    )
    .await;
    assert_served_everywhere(&c.url).await;
    assert!(c.peak_rss_mib() < PEAK_RSS_BOUND_MIB, "{}", c.peak_rss_mib());
}

#[tokio::test]
async fn a_batch_of_millions_of_empty_chunks_is_refused_before_it_is_decoded() {
    let c = Collector::start(&[]);
    // 2 bytes per empty chunk; prost would make each a struct of ~140 bytes.
    let body = [0x0a, 0x00].repeat(16 << 20);
    let post = |body: Vec<u8>, gzip: bool| {
        let mut req = http()
            .post(format!("{}/v1/metrics", c.url))
            .header("authorization", format!("Token {TOKEN}"))
            .header("x-cluster-id", CLUSTER);
        if gzip {
            req = req.header("content-encoding", "gzip");
        }
        req.body(body).send()
    };
    let needle = "the batch holds more than 1024 chunks (--max-chunks-per-request)";
    let res = post(body.clone(), false).await.unwrap();
    assert_eq!(res.status(), 413);
    assert!(res.text().await.unwrap().contains(needle));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &body).unwrap();
    let small = gz.finish().unwrap();
    assert!(small.len() < 64 * 1024, "{}", small.len());
    let res = post(small, true).await.unwrap();
    assert_eq!(res.status(), 413);
    assert!(res.text().await.unwrap().contains(needle));
    // Over gRPC: counted on the wire as the message arrives.
    let chunks = vec![WriteMetricsRequest::default(); 100_000];
    for transport in ["gRPC batch", "gRPC-web"] {
        let a = send_over(transport, &c.url, chunks.clone()).await;
        assert_eq!(a.code, Code::InvalidArgument as i32, "{a:?}");
        assert!(a.message.contains(needle), "{a:?}");
    }
    assert_served_everywhere(&c.url).await;
    let peak = c.peak_rss_mib();
    assert!(peak < 2.0 * PEAK_RSS_BOUND_MIB, "peak RSS {peak:.1} MiB");
}

#[tokio::test]
async fn names_symbols_and_big_decimals_cannot_amplify() {
    let c = Collector::start(&["--max-stored-bytes-per-chunk", "8000000"]);
    let long = "s".repeat(129);
    let enum_schema = format!(
        r#"{{"type":"record","name":"e","fields":[{{"name":"v","type":{{"type":"enum","name":"E","symbols":["{long}"]}}}}]}}"#
    );
    assert_refused_everywhere(
        &c.url,
        &one_chunk("e", &enum_schema, vec![0], 1),
        Code::InvalidArgument,
        400,
        r#"field "v": enum "E" has a symbol of 129 bytes, the limit is 128"#,
    )
    .await;
    let decimal =
        r#"{"type":"record","name":"d","fields":[{"name":"v","type":{"type":"bytes","logicalType":"big-decimal"}}]}"#;
    let mut avro = zigzag(100_000);
    avro.extend(vec![7u8; 100_000]);
    assert_refused_everywhere(
        &c.url,
        &one_chunk("d", decimal, avro, 1),
        Code::InvalidArgument,
        400,
        "big-decimal of 100000 bytes, the limit is 64",
    )
    .await;
    // Field names of 128 bytes in a JSON column: 3,000 items of one byte
    // each store about 450 KB per row; 40 rows pass the row limit and the
    // values per byte, not the chunk's stored limit.
    let name = "n".repeat(128);
    let json_schema = format!(
        r#"{{"type":"record","name":"j","fields":[{{"name":"items","type":{{"type":"array","items":
            {{"type":"record","name":"I","fields":[{{"name":"{name}","type":"null"}},{{"name":"b","type":"boolean"}}]}}}}}}]}}"#
    );
    let mut row = zigzag(3000);
    row.extend(vec![1u8; 3000]);
    row.push(0);
    assert_refused_everywhere(
        &c.url,
        &one_chunk("j", &json_schema, row.repeat(40), 40),
        Code::InvalidArgument,
        413,
        "the chunk takes more than 8000000 bytes once stored (--max-stored-bytes-per-chunk)",
    )
    .await;
    assert_served_everywhere(&c.url).await;
    assert!(c.peak_rss_mib() < PEAK_RSS_BOUND_MIB, "{}", c.peak_rss_mib());
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_costs_no_more_than_its_bytes() {
    // One byte per HTTP/1.1 chunk: each arrives as its own frame.
    let c = Collector::start(&[]);
    let body = prost::Message::encode_to_vec(&edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest {
        chunks: vec![chunk(&containers(0, 40_000), None)],
    });
    let mut wire = format!(
        "POST /v1/metrics HTTP/1.1\r\nhost: x\r\nauthorization: Token {TOKEN}\r\nx-cluster-id: {CLUSTER}\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    for byte in &body {
        wire.extend(b"1\r\n");
        wire.push(*byte);
        wire.extend(b"\r\n");
    }
    wire.extend(b"0\r\n\r\n");
    let mut conn = tokio::net::TcpStream::connect(c.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut conn, &wire).await.unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    let peak = c.peak_rss_mib();
    println!("{} bytes in one-byte chunks: peak RSS {peak:.1} MiB", body.len());
    assert!(peak < PEAK_RSS_BOUND_MIB, "peak RSS {peak:.1} MiB");
}

#[tokio::test]
async fn what_one_request_decodes_into_is_capped() {
    let c = Collector::start(&["--max-stored-bytes-per-request", "2000000"]);
    // Four chunks of 20,000 rows: each well under the chunk's limits,
    // together over the request's.
    let chunks: Vec<WriteMetricsRequest> = (0..4).map(|i| chunk(&containers(i * 20_000, 20_000), None)).collect();
    assert_refused_over(
        &["gRPC batch", "HTTP", "gRPC-web"],
        &c.url,
        &chunks,
        Code::InvalidArgument,
        413,
        "the request takes more than 1 MiB once decoded (--max-stored-bytes-per-request)",
    )
    .await;
    // A stream gives back each chunk's bytes once it is stored: together
    // they may take more than one request may hold at once.
    let stream: Vec<WriteMetricsRequest> = (0..8).map(|i| chunk(&containers(i * 10_000, 10_000), None)).collect();
    let a = send_over("gRPC stream", &c.url, stream).await;
    assert_eq!(a.code, 0, "{a:?}");
    assert_served_everywhere(&c.url).await;
}

/// gRPC message compression cannot amplify: a compressed batch of a
/// million empty chunks (140 MB once prost made them structs) is counted through its own decompressor
/// and refused before prost sees it, and a message that decompresses past
/// `--max-message-bytes` is cut there, over the batch and the stream.
#[tokio::test]
async fn compressed_messages_are_bounded_before_they_are_decompressed() {
    use edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest;
    use edgemetrics_collector::pb::metrics::v1beta::ingestion_api_client::IngestionApiClient;
    use tonic::codec::CompressionEncoding;

    let c = Collector::start(&["--max-message-bytes", "1048576", "--max-stored-bytes-per-request", "1048576"]);
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut client = IngestionApiClient::connect(c.url.clone()).await.unwrap().send_compressed(encoding);
        let many = vec![WriteMetricsRequest::default(); 1_000_000];
        let status = client.write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: many })).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{encoding}: {status:?}");
        assert!(status.message().contains("--max-chunks-per-request"), "{encoding}: {status:?}");

        // 64 MiB of zeros: a few KiB compressed.
        let huge = one_chunk("zeros", NULL_ARRAY, vec![0; 64 << 20], 1);
        let status =
            client.write_metrics_batch(authed(WriteMetricsBatchRequest { chunks: huge.clone() })).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{encoding}: {status:?}");
        assert!(status.message().contains("(--max-message-bytes) once decompressed"), "{encoding}: {status:?}");
        let status = client.write_metrics(authed(futures_util::stream::iter(huge))).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{encoding} stream: {status:?}");
        assert!(status.message().contains("--max-message-bytes"), "{encoding} stream: {status:?}");
    }
    assert_served_everywhere(&c.url).await;
    let peak = c.peak_rss_mib();
    assert!(peak < PEAK_RSS_BOUND_MIB, "peak RSS {peak:.1} MiB");
}
