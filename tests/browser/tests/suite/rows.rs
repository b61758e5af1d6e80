//! A bad row throws a JS `Error` naming the field and leaves the buffer as
//! it was: the rows around it arrive, and nothing of it.

use edgemetrics::wasm::MetricClient;
use edgemetrics_browser_tests::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn stat(client: &MetricClient, name: &str) -> f64 {
    get(&client.stats(), name).as_f64().expect("a counter")
}

#[wasm_bindgen_test]
async fn a_bad_row_throws_naming_the_field_and_buffers_nothing() {
    let _collector = collector().await;
    let collection = unique("bad_rows");
    let client = MetricClient::new(client_options("fetch", &[("flushIntervalMs", 60_000.into())])).expect("options");
    let metric = client.metric(metric_options(&collection)).expect("the sample schema");
    let good: Vec<_> = (0..6).map(sample).collect();
    for row in &good[..3] {
        metric.write(&sample_object(row)).expect("a good row");
    }

    // A string where the schema has a long.
    let bad = sample_object(&sample(100));
    set(&bad, "bytes", "lots");
    let error = metric.write(&bad).expect_err("a string for a long");
    assert!(error.is_instance_of::<js_sys::Error>(), "a real Error: {error:?}");
    let error: js_sys::Error = error.into();
    assert_eq!(String::from(error.name()), "RowError");
    assert_eq!(String::from(error.message()), r#"field "bytes": expected long, found a string"#);
    assert_eq!(get(&error, "field").as_string().as_deref(), Some("bytes"));

    // A missing field without a default; an item of the wrong kind in an array.
    let missing = sample_object(&sample(101));
    js_sys::Reflect::delete_property(missing.unchecked_ref::<js_sys::Object>(), &"host".into()).expect("delete");
    let error: js_sys::Error = metric.write(&missing).expect_err("no host").into();
    assert_eq!(String::from(error.message()), r#"field "host": missing, and the schema gives no default"#);
    let bad_tag = sample_object(&sample(102));
    set(&bad_tag, "tags", js_sys::Array::of2(&"a".into(), &JsValue::from(7)));
    let error: js_sys::Error = metric.write(&bad_tag).expect_err("a number in tags").into();
    assert_eq!(get(&error, "field").as_string().as_deref(), Some("tags[1]"));

    // writeMany is all or nothing: the bad row's index and field.
    let batch = js_sys::Array::of3(&sample_object(&sample(103)), &sample_object(&sample(104)), &bad);
    let error: js_sys::Error = metric.write_many(&batch.into()).expect_err("row 2 is bad").into();
    assert_eq!(get(&error, "index").as_f64(), Some(2.0));
    assert_eq!(get(&error, "field").as_string().as_deref(), Some("bytes"));
    assert_eq!(String::from(error.message()), r#"row 2: field "bytes": expected long, found a string"#);
    assert_eq!(stat(&client, "rowsWritten"), 3.0, "nothing of the bad rows counted");
    assert_eq!(stat(&client, "rowsOpen"), 3.0);
    assert_eq!(stat(&client, "bytesSealed"), 0.0);

    // The buffer goes on from where it was: the good rows, and only them.
    for row in &good[3..] {
        metric.write(&sample_object(row)).expect("a good row");
    }
    wait(client.flush()).await.expect("flush");
    assert_rows_equal(&query_rows(&collection).await, &good);
    wait(client.close()).await.expect("close");
}

#[wasm_bindgen_test]
async fn options_errors_name_the_option() {
    let _collector = collector().await;
    let error: js_sys::Error =
        MetricClient::new(client_options("fetch", &[("flushIntervalMs", (-5).into())])).err().expect("refused").into();
    assert_eq!(String::from(error.name()), "OptionError");
    assert_eq!(get(&error, "option").as_string().as_deref(), Some("flushIntervalMs"));
    let error: js_sys::Error = MetricClient::new(client_options("carrier-pigeon", &[])).err().expect("refused").into();
    assert!(String::from(error.message()).contains("\"carrier-pigeon\" is not a transport"), "{:?}", error.message());
    let client = MetricClient::new(client_options("fetch", &[])).expect("options");
    let schema = js_sys::Object::new();
    set(&schema, "schema", r#"{"type":"record","name":"r","fields":[{"name":"a","type":"lung"}]}"#);
    let error: js_sys::Error = client.metric(schema.into()).err().expect("refused").into();
    assert_eq!(String::from(error.name()), "SchemaError");
    assert!(String::from(error.message()).contains("lung"), "{:?}", error.message());
}
