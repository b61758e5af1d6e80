//! `MetricClient` for JavaScript: the native client's API in JS
//! conventions, on the shared client core, driven by a task on the JS event
//! loop.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use super::driver::{self, Signal};
use super::error;
use super::js;
use super::lifecycle::PageHooks;
use super::metric::Metric;
use super::options::{self, ClientOptions, Endpoint, SubscribeOptions};
use super::row::Plan;
use super::subscription::Subscription;
use super::transport::Sender;
use crate::client::Core;
use crate::engine::pipeline::Failure;
use crate::engine::stats::{Event, Stats};

/// Sends rows of typed metrics to the collector: buffered, chunked, flushed
/// on an interval and retried until acknowledged.
///
/// ```js
/// const client = new MetricClient({ apiAddr: "https://collector:443", apiToken, clusterId: "web" });
/// const requests = client.metric({ schema: { type: "record", name: "requests", fields: [...] } });
/// requests.write({ route: "/", status: 200 });
/// await client.flush();
/// ```
#[wasm_bindgen]
pub struct MetricClient {
    inner: Rc<Inner>,
}

/// What the client's handles, its driver task and its page hooks share.
pub(crate) struct Inner {
    pub(crate) core: Core,
    /// Wakes the driver: something was pushed, or a send finished.
    pub(crate) wake: Signal,
    /// Counts finished sends, so flushes can wait for progress.
    pub(crate) progress: Signal,
    pub(crate) sender: Sender,
    pub(crate) endpoint: Endpoint,
    pub(crate) request_timeout_ms: u64,
    pub(crate) drain_timeout_ms: u64,
    /// Whether a driver task runs; without one, `flush()` drives.
    pub(crate) background: bool,
    /// Bytes of `keepalive` requests not answered yet (browsers allow 64 KiB).
    pub(crate) keepalive_bytes: Cell<usize>,
    stopped: Cell<bool>,
    on_event: Option<Function>,
    page: RefCell<Option<PageHooks>>,
}

impl Inner {
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Reports how sending batch `id` ended, and wakes whoever waits on it.
    pub(crate) fn finish(&self, id: u64, outcome: Result<(), Failure>) {
        self.core.complete(id, outcome);
        self.progress.notify();
        self.wake.notify();
    }

    /// Hands the pipeline's events to `onEvent`; drops are also logged with
    /// `console.warn` when there is no callback, so none goes unnoticed.
    pub(crate) fn deliver_events(&self) {
        while let Some(event) = self.core.pop_event() {
            match &self.on_event {
                Some(callback) => {
                    // A throwing callback must not stop the driver.
                    let _ = callback.call1(&JsValue::NULL, &event_to_js(&event));
                }
                None if matches!(event, Event::Dropped { .. }) => js::warn(&format!("edgemetrics: {event}")),
                None => {}
            }
        }
    }
}

#[wasm_bindgen]
impl MetricClient {
    /// Checks the options and starts sending in the background.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<MetricClient, JsValue> {
        let options = ClientOptions::parse(&options).map_err(|e| error::to_js(&e))?;
        let wake = Signal::default();
        let driver_wake = wake.clone();
        let core = Core::new(
            options.pipeline.clone(),
            random_u64(),
            random_u64(),
            Box::new(|| js::performance_now() as u64),
            Box::new(move || driver_wake.notify()),
        )
        .map_err(|e| error::to_js(&e))?;
        let inner = Rc::new(Inner {
            core,
            wake,
            progress: Signal::default(),
            sender: Sender::new(&options),
            endpoint: options.endpoint.clone(),
            request_timeout_ms: options.request_timeout_ms,
            drain_timeout_ms: options.drain_timeout_ms,
            background: options.background,
            keepalive_bytes: Cell::new(0),
            stopped: Cell::new(false),
            on_event: options.on_event,
            page: RefCell::new(None),
        });
        if options.background {
            spawn_local(driver::run(inner.clone()));
        }
        if options.flush_on_page_hide {
            *inner.page.borrow_mut() = PageHooks::install(Rc::downgrade(&inner));
        }
        Ok(MetricClient { inner })
    }

    /// A metric whose rows are encoded with `options.schema` (an Avro
    /// record schema, as an object or JSON text).
    pub fn metric(&self, options: JsValue) -> Result<Metric, JsValue> {
        let (schema, metric_options) = options::metric_options(&options).map_err(|e| error::to_js(&e))?;
        let slot = self.inner.core.add_metric(schema.clone(), metric_options).map_err(|e| error::to_js(&e))?;
        Ok(Metric::new(self.inner.clone(), slot, Plan::new(schema)))
    }

    /// Seals every open chunk and resolves when all rows written before the
    /// call are acknowledged; rejects with `NotDeliveredError` after
    /// `drainTimeoutMs` (the rows stay buffered and keep being retried) or
    /// `DroppedError` when some were dropped instead.
    pub fn flush(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let before = inner.core.stats();
            let target = inner.core.seal_all();
            inner.wake.notify();
            let delivered =
                driver::drive_until(&inner, inner.drain_timeout_ms, |i| !i.core.pending_before(target)).await;
            inner.deliver_events();
            inner.core.flush_result(&before, delivered).map(|()| JsValue::UNDEFINED).map_err(|e| error::to_js(&e))
        })
    }

    /// Stops taking rows, delivers what is buffered within `drainTimeoutMs`,
    /// drops and counts the rest, and stops sending. Resolves with
    /// `{ stats, undeliveredRows }`.
    pub fn close(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            inner.core.close();
            inner.core.seal_all();
            inner.wake.notify();
            driver::drive_until(&inner, inner.drain_timeout_ms, |i| i.core.is_empty()).await;
            let undelivered = inner.core.abandon("closed before the collector acknowledged the rows");
            inner.stopped.set(true);
            inner.wake.notify();
            inner.page.borrow_mut().take();
            inner.deliver_events();
            let report = js::object();
            js::put(&report, "stats", stats_to_js(&inner.core.stats()));
            js::put(&report, "undeliveredRows", undelivered as f64);
            Ok(report.into())
        })
    }

    /// The counters so far (see `Stats` in the TypeScript declarations).
    pub fn stats(&self) -> Object {
        stats_to_js(&self.inner.core.stats())
    }

    /// Receives rows of `options.collections` as the collector stores them,
    /// over a WebSocket; `options.onRows` is called with each batch.
    pub fn subscribe(&self, options: JsValue) -> Result<Subscription, JsValue> {
        let options = SubscribeOptions::parse(&options).map_err(|e| error::to_js(&e))?;
        Subscription::open(&self.inner.endpoint, options).map_err(error::option)
    }
}

/// The counters as a plain object with camelCase names.
fn stats_to_js(stats: &Stats) -> Object {
    let object = js::object();
    let fields: [(&str, u64); 21] = [
        ("rowsWritten", stats.rows_written),
        ("rowsOpen", stats.rows_open),
        ("chunksSealed", stats.chunks_sealed),
        ("rowsSealed", stats.rows_sealed),
        ("bytesSealed", stats.bytes_sealed),
        ("batchesSent", stats.batches_sent),
        ("chunksSent", stats.chunks_sent),
        ("chunksAcked", stats.chunks_acked),
        ("rowsAcked", stats.rows_acked),
        ("bytesAcked", stats.bytes_acked),
        ("retries", stats.retries),
        ("chunksDroppedMemoryCap", stats.chunks_dropped_memory_cap),
        ("rowsDroppedMemoryCap", stats.rows_dropped_memory_cap),
        ("chunksDroppedRejected", stats.chunks_dropped_rejected),
        ("rowsDroppedRejected", stats.rows_dropped_rejected),
        ("chunksDroppedShutdown", stats.chunks_dropped_shutdown),
        ("rowsDroppedShutdown", stats.rows_dropped_shutdown),
        ("chunksPending", stats.chunks_pending),
        ("rowsPending", stats.rows_pending),
        ("bytesPending", stats.bytes_pending),
        ("rowsDropped", stats.rows_dropped()),
    ];
    for (key, value) in fields {
        js::put(&object, key, value as f64);
    }
    object
}

/// An event as `{ type: "dropped", reason, collection, chunks, rows, message }`
/// or `{ type: "retry", attempt, delayMs, message }`.
fn event_to_js(event: &Event) -> Object {
    let object = js::object();
    match event {
        Event::Dropped { reason, collection, chunks, rows, message } => {
            js::put(&object, "type", "dropped");
            js::put(&object, "reason", reason.as_str());
            js::put(&object, "collection", collection.as_str());
            js::put(&object, "chunks", *chunks as f64);
            js::put(&object, "rows", *rows as f64);
            js::put(&object, "message", message.as_str());
        }
        Event::RetryScheduled { attempt, delay_ms, message } => {
            js::put(&object, "type", "retry");
            js::put(&object, "attempt", *attempt);
            js::put(&object, "delayMs", *delay_ms as f64);
            js::put(&object, "message", message.as_str());
        }
    }
    object
}

/// 64 random bits for the session id and the jitter seed: chunk ids must
/// not repeat across page loads, so the clock is mixed in as well.
fn random_u64() -> u64 {
    let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    ((high << 32) | low) ^ (js_sys::Date::now() as u64).rotate_left(17)
}
