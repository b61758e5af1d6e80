//! Rows written through each transport arrive equal, read back through the
//! collector's query API.

use edgemetrics::wasm::MetricClient;
use edgemetrics_browser_tests::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

/// Writes rows 0..n (half with `write`, half with one `writeMany`),
/// flushes, and checks the stored rows.
async fn round_trip(transport: &str, extra: &[(&str, JsValue)], n: i64) {
    let _collector = collector().await;
    let collection = unique(&format!("{}_rows", transport.replace('-', "_")));
    let client = MetricClient::new(client_options(transport, extra)).expect("client options");
    let metric = client.metric(metric_options(&collection)).expect("the sample schema");
    let rows: Vec<_> = (0..n).map(sample).collect();
    let half = rows.len() / 2;
    for row in &rows[..half] {
        metric.write(&sample_object(row)).expect("a good row");
    }
    let many: js_sys::Array = rows[half..].iter().map(sample_object).collect();
    assert_eq!(metric.write_many(&many.into()).expect("good rows"), (rows.len() - half) as u32);
    wait(client.flush()).await.expect("flush");
    let stats = client.stats();
    assert_eq!(get(&stats, "rowsAcked").as_f64(), Some(n as f64), "stats after flush");
    let stored = query_rows(&collection).await;
    assert_rows_equal(&stored, &rows);
    wait(client.close()).await.expect("close");
}

#[wasm_bindgen_test]
async fn fetch_rows_arrive_equal() {
    // 300 rows make a body of several KB: gzip through CompressionStream.
    round_trip("fetch", &[], 300).await;
}

#[wasm_bindgen_test]
async fn fetch_without_compression_rows_arrive_equal() {
    round_trip("fetch", &[("compression", "none".into())], 40).await;
}

#[cfg(feature = "grpc-web")]
#[wasm_bindgen_test]
async fn grpc_web_rows_arrive_equal() {
    round_trip("grpc-web", &[], 300).await;
}

#[wasm_bindgen_test]
async fn a_flush_interval_sends_without_flush() {
    let _collector = collector().await;
    let collection = unique("interval");
    let client = MetricClient::new(client_options("fetch", &[])).expect("client options");
    let metric = client.metric(metric_options(&collection)).expect("the sample schema");
    let rows: Vec<_> = (0..5).map(sample).collect();
    for row in &rows {
        metric.write(&sample_object(row)).expect("a good row");
    }
    // No flush: the 50 ms interval sends them.
    let stored = wait_for_rows(&collection, rows.len(), 5_000).await;
    assert_rows_equal(&stored, &rows);
    wait(client.close()).await.expect("close");
}
