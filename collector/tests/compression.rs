//! gRPC message compression, negotiated as gRPC does: gzip and zstd
//! requests are stored as plain ones are, answers come compressed to a
//! client that accepts it, and an encoding the collector does not take is
//! refused with the ones it does.

mod common;

use common::*;
use edgemetrics_collector::pb::metrics::v1beta::WriteMetricsBatchRequest;
use edgemetrics_collector::pb::metrics::v1beta::ingestion_api_client::IngestionApiClient;
use tonic::codec::CompressionEncoding;

#[tokio::test]
async fn gzip_and_zstd_requests_are_stored_over_the_batch_and_the_stream() {
    let t = TestServer::start().await;
    let mut sent = Vec::new();
    for (i, encoding) in [CompressionEncoding::Gzip, CompressionEncoding::Zstd].into_iter().enumerate() {
        let mut client = IngestionApiClient::connect(t.server.url())
            .await
            .unwrap()
            .send_compressed(encoding)
            .accept_compressed(encoding);
        let batch = containers(i as i64 * 1000, 500);
        let stream = containers(i as i64 * 1000 + 500, 500);
        let request = WriteMetricsBatchRequest { chunks: vec![chunk(&batch, Some(chunk_id(2 * i as u8)))] };
        let answer = client.write_metrics_batch(authed(request)).await.expect("a compressed batch").into_inner();
        assert_eq!(answer.rows_stored, 500);
        let chunks = futures_util::stream::iter(vec![chunk(&stream, Some(chunk_id(2 * i as u8 + 1)))]);
        let answer = client.write_metrics(authed(chunks)).await.expect("a compressed stream").into_inner();
        assert_eq!(answer.rows_stored, 500);
        sent.extend(batch);
        sent.extend(stream);
    }
    let (_, body) = t.get_json("/api/collections/containerMetrics/rows?limit=5000").await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), sent.len());
    for (row, expected) in rows.iter().zip(&sent) {
        expected.assert_json(row);
    }
    t.stop().await;
}

/// The answer is compressed when the client says it accepts it, and a
/// request in an encoding the collector does not take is UNIMPLEMENTED
/// with `grpc-accept-encoding` naming gzip and zstd (what a gRPC client
/// falls back on).
#[tokio::test]
async fn encodings_are_negotiated() {
    let t = TestServer::start().await;
    let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let body = |compressed: bool, payload: &[u8]| {
        let mut frame = vec![u8::from(compressed)];
        frame.extend((payload.len() as u32).to_be_bytes());
        frame.extend(payload);
        frame
    };
    let post = |encoding: Option<&str>, accept: &str, frame: Vec<u8>| {
        let mut req = client
            .post(t.url("/metrics.v1beta.IngestionAPI/WriteMetricsBatch"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("authorization", format!("Token {TOKEN}"))
            .header("x-cluster-id", CLUSTER)
            .header("grpc-accept-encoding", accept);
        if let Some(encoding) = encoding {
            req = req.header("grpc-encoding", encoding);
        }
        req.body(frame).send()
    };
    use prost::Message as _;
    let plain = WriteMetricsBatchRequest { chunks: vec![chunk(&containers(0, 3), None)] }.encode_to_vec();
    let res = post(None, "zstd", body(false, &plain)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("grpc-encoding").map(|v| v.to_str().unwrap()), Some("zstd"));
    let answer = res.bytes().await.unwrap();
    assert_eq!(answer[0], 1, "the answer's frame is compressed");

    let res = post(Some("snappy"), "gzip", body(true, &plain)).await.unwrap();
    let status = res.headers().get("grpc-status").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(status.as_deref(), Some("12"), "UNIMPLEMENTED: {:?}", res.headers());
    let accepted = res.headers().get("grpc-accept-encoding").map(|v| v.to_str().unwrap().to_owned()).unwrap();
    assert!(accepted.contains("gzip") && accepted.contains("zstd"), "{accepted}");
    t.stop().await;
}
