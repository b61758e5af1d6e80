//! The collector stopped and started again during a test loses no rows:
//! rows written while it is away are retried until it is back, and each is
//! stored once.

use edgemetrics::wasm::MetricClient;
use edgemetrics_browser_tests::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

async fn survives_a_restart(transport: &str) {
    let _collector = collector_exclusive().await;
    let collection = unique(&format!("restart_{}", transport.replace('-', "_")));
    let options = client_options(transport, &[("maxRetryIntervalMs", 400.into()), ("drainTimeoutMs", 15_000.into())]);
    let client = MetricClient::new(options).expect("options");
    let metric = client.metric(metric_options(&collection)).expect("the sample schema");
    let rows: Vec<_> = (0..300).map(sample).collect();
    for row in &rows[..100] {
        metric.write(&sample_object(row)).expect("a good row");
    }
    wait(client.flush()).await.expect("flush before the restart");

    control("/stop").await;
    // Written while the collector is away, over several flush intervals.
    for (i, row) in rows[100..200].iter().enumerate() {
        metric.write(&sample_object(row)).expect("a good row");
        if i % 25 == 0 {
            sleep(60).await;
        }
    }
    sleep(700).await;
    let stats = client.stats();
    assert!(get(&stats, "retries").as_f64().unwrap_or(0.0) >= 1.0, "sends failed and were retried");
    assert_eq!(get(&stats, "rowsAcked").as_f64(), Some(100.0), "nothing acknowledged while away");
    control("/start").await;
    for row in &rows[200..] {
        metric.write(&sample_object(row)).expect("a good row");
    }
    wait(client.flush()).await.expect("flush after the restart");
    let stats = client.stats();
    assert_eq!(get(&stats, "rowsAcked").as_f64(), Some(300.0));
    assert_eq!(get(&stats, "rowsDropped").as_f64(), Some(0.0));
    assert_rows_equal(&query_rows(&collection).await, &rows);
    let report = wait(client.close()).await.expect("close");
    assert_eq!(get(&report, "undeliveredRows"), JsValue::from(0.0));
}

#[wasm_bindgen_test]
async fn fetch_loses_no_rows_when_the_collector_restarts() {
    survives_a_restart("fetch").await;
}

#[cfg(feature = "grpc-web")]
#[wasm_bindgen_test]
async fn grpc_web_loses_no_rows_when_the_collector_restarts() {
    survives_a_restart("grpc-web").await;
}
