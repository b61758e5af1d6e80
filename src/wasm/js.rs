//! The few JavaScript functions the wasm build calls that neither js-sys nor
//! web-sys binds the way it needs: global `fetch` (windows, workers and
//! Node 18+ alike), property access without exception glue, and the
//! `Response` and `CompressionStream` members the fetch transport uses.

use js_sys::{Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `Reflect.get(target, key)`; `target` must be an object.
    #[wasm_bindgen(js_namespace = Reflect, js_name = get)]
    pub(crate) fn get(target: &JsValue, key: &JsValue) -> JsValue;

    /// `Reflect.set(target, key, value)`; `target` must be an object.
    #[wasm_bindgen(js_namespace = Reflect, js_name = set)]
    pub(crate) fn set(target: &JsValue, key: &JsValue, value: &JsValue) -> bool;

    /// `Object.keys(object)`.
    #[wasm_bindgen(js_namespace = Object, js_name = keys)]
    pub(crate) fn keys(object: &JsValue) -> js_sys::Array;

    /// `performance.now()`: a monotonic clock in every runtime we support.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub(crate) fn performance_now() -> f64;

    /// `console.warn(message)`.
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    pub(crate) fn warn(message: &str);

    /// The global `fetch(url, init)`.
    #[wasm_bindgen(js_name = fetch)]
    pub(crate) fn fetch(url: &str, init: &Object) -> Promise;

    /// A fetch `Response`.
    pub(crate) type FetchResponse;

    #[wasm_bindgen(method, getter)]
    pub(crate) fn status(this: &FetchResponse) -> u16;

    #[wasm_bindgen(method, getter)]
    pub(crate) fn headers(this: &FetchResponse) -> ResponseHeaders;

    #[wasm_bindgen(method, js_name = arrayBuffer)]
    pub(crate) fn array_buffer(this: &FetchResponse) -> Promise;

    /// A response's `Headers`.
    pub(crate) type ResponseHeaders;

    #[wasm_bindgen(method)]
    pub(crate) fn get(this: &ResponseHeaders, name: &str) -> Option<String>;

    /// `new Response(body)`, to stream bytes through a `CompressionStream`.
    #[wasm_bindgen(js_name = Response)]
    pub(crate) type BodyResponse;

    #[wasm_bindgen(constructor, js_class = Response)]
    pub(crate) fn from_bytes(body: &Uint8Array) -> BodyResponse;

    #[wasm_bindgen(constructor, js_class = Response)]
    pub(crate) fn from_stream(body: &JsValue) -> BodyResponse;

    #[wasm_bindgen(method, getter, js_class = Response)]
    pub(crate) fn body(this: &BodyResponse) -> ReadableStream;

    #[wasm_bindgen(method, js_class = Response, js_name = arrayBuffer)]
    pub(crate) fn array_buffer(this: &BodyResponse) -> Promise;

    /// A `ReadableStream`.
    pub(crate) type ReadableStream;

    #[wasm_bindgen(method, js_name = pipeThrough)]
    pub(crate) fn pipe_through(this: &ReadableStream, transform: &CompressionStream) -> JsValue;

    /// `new CompressionStream("gzip")`.
    pub(crate) type CompressionStream;

    #[wasm_bindgen(constructor)]
    pub(crate) fn new(format: &str) -> CompressionStream;
}

/// Whether the global object has a property `name` (a constructor the
/// runtime may lack, such as `CompressionStream` or `WebSocket`).
pub(crate) fn has_global(name: &str) -> bool {
    !get(&js_sys::global(), &JsValue::from_str(name)).is_undefined()
}

/// A plain object `{}`.
pub(crate) fn object() -> Object {
    Object::new()
}

/// Sets `object[key] = value`.
pub(crate) fn put(object: &Object, key: &str, value: impl Into<JsValue>) {
    set(object, &JsValue::from_str(key), &value.into());
}
