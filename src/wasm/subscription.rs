//! Live rows over a WebSocket (`GET /v1/subscribe`): the first frame names
//! the collections and carries the credentials (browsers cannot set headers
//! on a WebSocket); every `Rows` frame is decoded with the engine's Avro
//! decoder against the schema sent with it (cached by fingerprint, as the
//! collector sends each schema once per connection) into plain JS objects.
//! A dropped connection is reopened with backoff unless the collector
//! refused the subscription.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use super::js;
use super::options::{Endpoint, SubscribeOptions};
use super::row::Plan;
use super::value::to_js;
use crate::engine::avro::decode_all;
use crate::engine::buffer::OptionError;
use crate::engine::schema::Schema;
use crate::wire::{self, Event, Rows};

/// The first reconnect waits this long, doubling up to the maximum.
const RECONNECT_MIN_MS: u32 = 500;
const RECONNECT_MAX_MS: u32 = 15_000;

/// A live subscription; `close()` ends it.
#[wasm_bindgen]
pub struct Subscription {
    state: Rc<State>,
}

struct State {
    url: String,
    request: Vec<u8>,
    options: SubscribeOptions,
    schemas: RefCell<Vec<(u64, Rc<Plan>)>>,
    socket: RefCell<Option<Socket>>,
    closed: Cell<bool>,
    retry_ms: Cell<u32>,
    ready: Promise,
    settle: RefCell<Option<(Function, Function)>>,
    _swallow: Closure<dyn FnMut(JsValue)>,
}

/// One connection and the callbacks it holds; closed when dropped.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

impl Subscription {
    pub(crate) fn open(endpoint: &Endpoint, options: SubscribeOptions) -> Result<Subscription, OptionError> {
        if options.web_socket.is_none() && !js::has_global("WebSocket") {
            let message = "this runtime has no WebSocket; pass one, e.g. { WebSocket } from the \"ws\" package";
            return Err(OptionError::new("WebSocket", message));
        }
        let url = match endpoint.url.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}/v1/subscribe"),
            None => format!("ws://{}/v1/subscribe", endpoint.url.strip_prefix("http://").unwrap_or(&endpoint.url)),
        };
        let request =
            wire::subscribe_request(&endpoint.token, &endpoint.cluster_id, &options.collections, &options.clusters);
        let settle = RefCell::new(None);
        let ready = Promise::new(&mut |resolve, reject| *settle.borrow_mut() = Some((resolve, reject)));
        // Handled here, so that a refusal nobody awaits is not an unhandled
        // rejection (which ends a Node process); `onError` reports it.
        let swallow = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {});
        let _ = ready.catch(&swallow);
        let state = Rc::new(State {
            url,
            request,
            options,
            schemas: RefCell::new(Vec::new()),
            socket: RefCell::new(None),
            closed: Cell::new(false),
            retry_ms: Cell::new(RECONNECT_MIN_MS),
            ready,
            settle,
            _swallow: swallow,
        });
        // Live until closed, even when the JS object is garbage collected.
        // Before connecting: a first connection that fails for good ends the
        // subscription, which takes it out of the live ones again.
        LIVE.with(|live| live.borrow_mut().push(state.clone()));
        // The first connection's errors are reported like later ones.
        connect(&state);
        Ok(Subscription { state })
    }
}

#[wasm_bindgen]
impl Subscription {
    /// Resolves once the collector confirmed the subscription; rejects if it
    /// refused it (bad token, unknown request).
    #[wasm_bindgen(getter)]
    pub fn ready(&self) -> Promise {
        self.state.ready.clone()
    }

    /// Ends the subscription and closes its WebSocket.
    pub fn close(&self) {
        self.state.end();
        self.state.socket.borrow_mut().take();
        self.state.settle(Err(subscription_error(Kind::Closed, "the subscription was closed", false)));
    }
}

thread_local! {
    /// The subscriptions not closed yet.
    static LIVE: RefCell<Vec<Rc<State>>> = const { RefCell::new(Vec::new()) };
}

impl State {
    /// Stops for good: no more reconnects, and no longer kept alive.
    fn end(&self) {
        self.closed.set(true);
        LIVE.with(|live| live.borrow_mut().retain(|state| !std::ptr::eq(&**state, self)));
    }

    fn settle(&self, outcome: Result<(), JsValue>) {
        if let Some((resolve, reject)) = self.settle.borrow_mut().take() {
            let _ = match outcome {
                Ok(()) => resolve.call0(&JsValue::NULL),
                Err(error) => reject.call1(&JsValue::NULL, &error),
            };
        }
    }

    fn report(&self, error: JsValue) {
        if let Some(on_error) = &self.options.on_error {
            let _ = on_error.call1(&JsValue::NULL, &error);
        }
    }

    fn handle(&self, frame: &[u8]) {
        let event = match wire::event(frame) {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(error) => {
                return self.report(subscription_error(Kind::Unreadable, &format!("unreadable frame: {error}"), false));
            }
        };
        match event {
            Event::Subscribed => {
                self.retry_ms.set(RECONNECT_MIN_MS);
                self.settle(Ok(()));
                if let Some(on_subscribed) = &self.options.on_subscribed {
                    let _ = on_subscribed.call0(&JsValue::NULL);
                }
            }
            Event::Rows(rows) => {
                if let Err(message) = self.rows(rows) {
                    self.report(subscription_error(Kind::Unreadable, &message, false));
                }
            }
            Event::Missed { collection, rows } => {
                let message =
                    format!("{} rows of \"{}\" were not delivered: the subscriber fell behind", rows, collection);
                match &self.options.on_missed {
                    Some(on_missed) => {
                        let object = js::object();
                        js::put(&object, "collection", collection.as_str());
                        js::put(&object, "rows", rows as f64);
                        let _ = on_missed.call1(&JsValue::NULL, &object);
                    }
                    None => self.report(subscription_error(Kind::Missed, &message, false)),
                }
            }
            Event::Error { message } => {
                // The collector refused the subscription and closes the socket.
                self.end();
                let error = subscription_error(Kind::Refused, &format!("refused by the collector: {message}"), false);
                self.report(error.clone());
                self.settle(Err(error));
            }
        }
    }

    /// Decodes one `Rows` frame and hands the rows to `onRows`.
    fn rows(&self, rows: Rows) -> Result<(), String> {
        // A collector that predates the cluster filter sends every cluster's
        // rows (without their cluster): the filter holds all the same.
        let clusters = &self.options.clusters;
        if !clusters.is_empty() && !clusters.contains(&rows.cluster_id) {
            return Ok(());
        }
        let plan = self.plan(rows.schema_fingerprint, &rows.schema)?;
        let count = usize::try_from(rows.rows).map_err(|_| "implausible row count".to_string())?;
        let values = decode_all(plan.schema(), &rows.avro, count)
            .map_err(|error| format!("rows of \"{}\": {error}", rows.collection))?;
        let root = plan.schema().root();
        let array: Array = values.iter().map(|value| to_js(&plan, root, value)).collect();
        let batch = js::object();
        js::put(&batch, "collection", rows.collection.as_str());
        js::put(&batch, "clusterId", rows.cluster_id.as_str());
        js::put(&batch, "rows", array);
        js::put(&batch, "receivedAtMs", rows.received_at_ms as f64);
        let _ = self.options.on_rows.call1(&JsValue::NULL, &batch);
        Ok(())
    }

    /// The schema of `fingerprint`: parsed from `text` when the frame
    /// carries it, cached otherwise.
    fn plan(&self, fingerprint: u64, text: &[u8]) -> Result<Rc<Plan>, String> {
        let mut schemas = self.schemas.borrow_mut();
        if let Some((_, plan)) = schemas.iter().find(|(known, _)| *known == fingerprint) {
            return Ok(plan.clone());
        }
        if text.is_empty() {
            return Err(format!("rows of unknown schema fingerprint {fingerprint:016x}"));
        }
        let text = std::str::from_utf8(text).map_err(|_| "a schema that is not UTF-8".to_string())?;
        let schema = Schema::parse(text).map_err(|error| format!("unreadable schema: {error}"))?;
        let plan = Rc::new(Plan::new(Arc::new(schema)));
        schemas.push((fingerprint, plan.clone()));
        Ok(plan)
    }
}

/// Opens a connection and wires its callbacks to `state`.
fn connect(state: &Rc<State>) {
    let weak = Rc::downgrade(state);
    let ws = match open_socket(state) {
        Ok(ws) => ws,
        Err(error) => {
            // Not `{:?}`: JsValue's Debug links wasm-bindgen's debug printer
            // (0.8 KB gzip of JS and wasm).
            let reason = error.dyn_ref::<js_sys::Error>().map_or("an exception".into(), |e| String::from(e.message()));
            return dropped(state, format!("the subscription could not open {}: {reason}", state.url));
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let on_open = {
        let weak = weak.clone();
        Closure::<dyn FnMut()>::new(move || {
            if let Some(state) = weak.upgrade() {
                if let Some(socket) = state.socket.borrow().as_ref() {
                    let _ = socket.ws.send_with_u8_array(&state.request);
                }
            }
        })
    };
    let on_message = {
        let weak = weak.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(state) = weak.upgrade() {
                let data = event.data();
                if data.is_instance_of::<js_sys::ArrayBuffer>() {
                    state.handle(&js_sys::Uint8Array::new(&data).to_vec());
                }
            }
        })
    };
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        let Some(state) = weak.upgrade() else { return };
        if state.closed.get() {
            return;
        }
        let mut message = format!("the subscription to {} closed (code {})", state.url, event.code());
        if !event.reason().is_empty() {
            message.push_str(&format!(": {}", event.reason()));
        }
        dropped(&state, message);
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    *state.socket.borrow_mut() = Some(Socket { ws, _on_open: on_open, _on_message: on_message, _on_close: on_close });
}

fn open_socket(state: &State) -> Result<WebSocket, JsValue> {
    match &state.options.web_socket {
        Some(constructor) => js_sys::Reflect::construct(constructor, &Array::of1(&JsValue::from_str(&state.url)))
            .map(JsCast::unchecked_into),
        None => WebSocket::new(&state.url),
    }
}

/// The connection closed or could not be opened: reports it, then connects
/// again after the backoff or, without `reconnect`, ends the subscription.
fn dropped(state: &Rc<State>, mut message: String) {
    let reconnecting = state.options.reconnect;
    if reconnecting {
        message.push_str(&format!("; reconnecting in {} ms", state.retry_ms.get()));
    }
    state.report(subscription_error(Kind::Disconnected, &message, reconnecting));
    match reconnecting {
        true => reconnect_later(Rc::downgrade(state)),
        false => {
            state.end();
            state.settle(Err(subscription_error(Kind::Disconnected, &message, false)));
        }
    }
}

/// Connects again after the backoff, unless closed meanwhile.
fn reconnect_later(weak: Weak<State>) {
    let Some(state) = weak.upgrade() else { return };
    let delay = state.retry_ms.get();
    state.retry_ms.set(delay.saturating_mul(2).min(RECONNECT_MAX_MS));
    drop(state);
    spawn_local(async move {
        TimeoutFuture::new(delay).await;
        if let Some(state) = weak.upgrade() {
            if !state.closed.get() {
                state.socket.borrow_mut().take();
                connect(&state);
            }
        }
    });
}

/// What went wrong with a subscription, for code that handles each case
/// (a dashboard shows "reconnecting" for one and asks for a new token for
/// another) rather than parsing messages.
#[derive(Clone, Copy)]
enum Kind {
    /// The collector refused it (a bad token, an invalid collection name or
    /// cluster id).
    Refused,
    /// The connection dropped or could not be opened.
    Disconnected,
    /// `close()` was called.
    Closed,
    /// A frame, a schema or rows that could not be read.
    Unreadable,
    /// The collector skipped rows because the subscriber fell behind.
    Missed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Refused => "refused",
            Kind::Disconnected => "disconnected",
            Kind::Closed => "closed",
            Kind::Unreadable => "unreadable",
            Kind::Missed => "missed",
        }
    }
}

/// A JS `Error` named `SubscriptionError` with its `kind`; `reconnecting`
/// says whether the subscription goes on.
fn subscription_error(kind: Kind, message: &str, reconnecting: bool) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("SubscriptionError");
    js::put(&error, "kind", kind.name());
    js::put(&error, "reconnecting", reconnecting);
    error.into()
}
