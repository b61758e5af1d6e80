//! The suites' helpers in the browser: options, rows as JS objects, the
//! harness's control server and the collector's query API (through `fetch`,
//! as a dashboard would read it).

use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::Sample;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_with(url: &str, init: &JsValue) -> Promise;

    type FetchResponse;

    #[wasm_bindgen(method, getter)]
    fn status(this: &FetchResponse) -> u16;

    #[wasm_bindgen(method)]
    fn text(this: &FetchResponse) -> Promise;
}

/// The collector the harness started (`EDGEMETRICS_COLLECTOR_URL` at build time).
pub fn collector_url() -> &'static str {
    env!(
        "EDGEMETRICS_COLLECTOR_URL",
        "build the suites through scripts/test-wasm.sh (the harness sets EDGEMETRICS_COLLECTOR_URL)"
    )
}

/// The harness's control server (`EDGEMETRICS_CONTROL_URL` at build time).
pub fn control_url() -> &'static str {
    env!(
        "EDGEMETRICS_CONTROL_URL",
        "build the suites through scripts/test-wasm.sh (the harness sets EDGEMETRICS_CONTROL_URL)"
    )
}

/// The collector's token (`EDGEMETRICS_TOKEN` at build time).
pub fn token() -> &'static str {
    env!("EDGEMETRICS_TOKEN", "build the suites through scripts/test-wasm.sh (the harness sets EDGEMETRICS_TOKEN)")
}

/// A collection name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{:08x}", (js_sys::Math::random() * 4_294_967_295.0) as u32)
}

/// `object[key] = value`.
pub fn set(object: &JsValue, key: &str, value: impl Into<JsValue>) {
    Reflect::set(object, &JsValue::from_str(key), &value.into()).expect("an object");
}

/// `object[key]`.
pub fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).expect("an object")
}

/// Client options for the harness's collector: `transport`, a short flush
/// interval, and `extra` on top.
pub fn client_options(transport: &str, extra: &[(&str, JsValue)]) -> JsValue {
    let options: JsValue = Object::new().into();
    set(&options, "apiAddr", collector_url());
    set(&options, "apiToken", token());
    set(&options, "clusterId", "browser");
    set(&options, "insecure", true);
    set(&options, "transport", transport);
    set(&options, "flushIntervalMs", 50);
    for (key, value) in extra {
        set(&options, key, value.clone());
    }
    options
}

/// `{ schema }` for [`Sample`] rows of `collection`.
pub fn metric_options(collection: &str) -> JsValue {
    let options: JsValue = Object::new().into();
    set(&options, "schema", crate::sample_schema(collection));
    options
}

/// A sample row as the plain JS object a page would write.
pub fn sample_object(row: &Sample) -> JsValue {
    let object: JsValue = Object::new().into();
    set(&object, "host", row.host.as_str());
    set(&object, "seq", row.seq as f64);
    set(&object, "bytes", row.bytes as f64);
    set(&object, "ratio", row.ratio);
    set(&object, "ok", row.ok);
    set(&object, "tags", row.tags.iter().map(|t| JsValue::from_str(t)).collect::<Array>());
    set(&object, "note", row.note.as_deref().map_or(JsValue::NULL, JsValue::from_str));
    set(&object, "level", row.level.as_str());
    object
}

/// Checks that `rows` (JS objects from the query API or a subscription)
/// are exactly `expected`, in any order.
pub fn assert_rows_equal(rows: &[JsValue], expected: &[Sample]) {
    let mut rows: Vec<&JsValue> = rows.iter().collect();
    rows.sort_by(|a, b| get(a, "seq").as_f64().partial_cmp(&get(b, "seq").as_f64()).expect("numbers"));
    let seqs: Vec<f64> = rows.iter().map(|r| get(r, "seq").as_f64().unwrap_or(-1.0)).collect();
    assert_eq!(rows.len(), expected.len(), "row count; seqs present: {seqs:?}");
    for (row, want) in rows.iter().zip(expected) {
        let context = format!("row seq {}", want.seq);
        assert_eq!(get(row, "host").as_string().as_deref(), Some(want.host.as_str()), "{context}: host");
        assert_eq!(get(row, "seq").as_f64(), Some(want.seq as f64), "{context}: seq");
        assert_eq!(get(row, "bytes").as_f64(), Some(want.bytes as f64), "{context}: bytes");
        assert_eq!(get(row, "ratio").as_f64(), Some(want.ratio), "{context}: ratio");
        assert_eq!(get(row, "ok").as_bool(), Some(want.ok), "{context}: ok");
        let tags: Vec<String> = Array::from(&get(row, "tags")).iter().filter_map(|t| t.as_string()).collect();
        assert_eq!(tags, want.tags, "{context}: tags");
        assert_eq!(get(row, "note").as_string(), want.note, "{context}: note");
        assert_eq!(get(row, "level").as_string().as_deref(), Some(want.level.as_str()), "{context}: level");
    }
}

/// Awaits a promise.
pub async fn wait(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

/// Sleeps `ms` milliseconds.
pub async fn sleep(ms: u32) {
    TimeoutFuture::new(ms).await;
}

async fn request(method: &str, url: &str) -> (u16, JsValue) {
    let init: JsValue = Object::new().into();
    set(&init, "method", method);
    let response: FetchResponse =
        wait(fetch_with(url, &init)).await.unwrap_or_else(|e| panic!("{method} {url}: {e:?}")).unchecked_into();
    let body = wait(response.text()).await.expect("a body");
    (response.status(), body)
}

/// Asks the harness to do something (`/stop`, `/start`, `/native-write?...`);
/// panics unless it answers 200. Returns its answer.
pub async fn control(path_and_query: &str) -> String {
    let url = format!("{}{path_and_query}", control_url());
    let (status, body) = request("POST", &url).await;
    let body = body.as_string().unwrap_or_default();
    assert_eq!(status, 200, "POST {url}: {body}");
    body
}

/// The rows of `collection` stored so far, through the query API (an
/// empty list before the collection exists).
pub async fn query_rows(collection: &str) -> Vec<JsValue> {
    let url = format!("{}/api/collections/{collection}/rows?limit=10000&token={}", collector_url(), token());
    let (status, body) = request("GET", &url).await;
    if status == 404 {
        return Vec::new();
    }
    let text = body.as_string().unwrap_or_default();
    assert_eq!(status, 200, "GET {url}: {text}");
    let json = js_sys::JSON::parse(&text).expect("JSON rows");
    Array::from(&get(&json, "rows")).iter().collect()
}

/// Polls the query API until `collection` holds at least `count` rows or
/// `timeout_ms` pass; returns what it holds then.
pub async fn wait_for_rows(collection: &str, count: usize, timeout_ms: u32) -> Vec<JsValue> {
    let mut waited = 0;
    loop {
        let rows = query_rows(collection).await;
        if rows.len() >= count || waited >= timeout_ms {
            return rows;
        }
        sleep(100).await;
        waited += 100;
    }
}

thread_local! {
    /// Tests in one wasm module run concurrently: > 0 is that many tests
    /// that need the collector up, -1 is one test that stops it.
    static COLLECTOR_USERS: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// Held while a test needs the collector (see [`collector`] and
/// [`collector_exclusive`]).
pub struct CollectorGuard {
    exclusive: bool,
}

impl Drop for CollectorGuard {
    fn drop(&mut self) {
        COLLECTOR_USERS.with(|users| users.set(if self.exclusive { 0 } else { users.get() - 1 }));
    }
}

/// Waits until no test has stopped the collector, and keeps others from
/// stopping it until the guard is dropped.
pub async fn collector() -> CollectorGuard {
    loop {
        if COLLECTOR_USERS.with(|users| {
            users.get() >= 0 && {
                users.set(users.get() + 1);
                true
            }
        }) {
            return CollectorGuard { exclusive: false };
        }
        sleep(10).await;
    }
}

/// Waits until no other test uses the collector, for a test that stops it.
pub async fn collector_exclusive() -> CollectorGuard {
    loop {
        if COLLECTOR_USERS.with(|users| {
            users.get() == 0 && {
                users.set(-1);
                true
            }
        }) {
            return CollectorGuard { exclusive: true };
        }
        sleep(10).await;
    }
}
