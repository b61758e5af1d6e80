//! The options objects of `new MetricClient(...)`, `client.metric(...)` and
//! `client.subscribe(...)`, read from plain JS objects and checked up front,
//! so that a mistake is reported by the option's name when it is made.

use std::sync::Arc;

use js_sys::Function;
use wasm_bindgen::{JsCast, JsValue};

use super::js;
use crate::client::Error;
use crate::client::address::{Spelling, base_url, check_cluster_id};
use crate::engine::buffer::{DEFAULT_MAX_CHUNK_SIZE, MetricOptions, OptionError};
use crate::engine::float::Text;
use crate::engine::pipeline::PipelineConfig;
use crate::engine::schema::Schema;

/// How batches travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportKind {
    /// `POST /v1/metrics` with the protobuf batch.
    Fetch,
    /// `IngestionAPI/WriteMetricsBatch` over gRPC-web.
    GrpcWeb,
}

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `https://host:port` (or `http://` when insecure), no trailing slash.
    pub url: String,
    pub token: String,
    pub cluster_id: String,
}

/// `new MetricClient(options)`, checked.
pub(crate) struct ClientOptions {
    pub endpoint: Endpoint,
    pub transport: TransportKind,
    pub pipeline: PipelineConfig,
    pub drain_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub gzip: bool,
    pub flush_on_page_hide: bool,
    pub background: bool,
    pub on_event: Option<Function>,
}

/// How the JS client spells its options in errors.
const JS: Spelling = Spelling { api_addr: "apiAddr", cluster_id: "clusterId", insecure: "insecure: true" };

const CLIENT_OPTIONS: &[&str] = &[
    "apiAddr",
    "apiToken",
    "clusterId",
    "transport",
    "insecure",
    "flushIntervalMs",
    "maxRetryIntervalMs",
    "maxBufferBytes",
    "drainTimeoutMs",
    "requestTimeoutMs",
    "compression",
    "flushOnPageHide",
    "background",
    "onEvent",
];

/// Sends in flight at once: browsers open six connections per host, and a
/// page that is being hidden needs a free one for its last batch.
const MAX_IN_FLIGHT: usize = 4;

impl ClientOptions {
    pub(crate) fn parse(options: &JsValue) -> Result<ClientOptions, Error> {
        let reader = Reader::new(options, "options", CLIENT_OPTIONS)?;
        let token = reader.string("apiToken")?.ok_or_else(|| required("apiToken"))?;
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OptionError::new("apiToken", "must be non-empty printable ASCII without spaces").into());
        }
        let cluster_id = reader.string("clusterId")?.ok_or_else(|| required("clusterId"))?;
        check_cluster_id(&cluster_id, &JS)?;
        let insecure = reader.boolean("insecure")?.unwrap_or(false);
        let addr = reader.string("apiAddr")?.ok_or_else(|| required("apiAddr"))?;
        let url = base_url(&addr, insecure, &JS)?;
        let transport = match reader.string("transport")?.as_deref() {
            None | Some("fetch") => TransportKind::Fetch,
            Some("grpc-web") if cfg!(feature = "grpc-web") => TransportKind::GrpcWeb,
            Some("grpc-web") => {
                let message = "\"grpc-web\" is not in this build; import \"edgemetrics/grpc-web\" for it";
                return Err(OptionError::new("transport", message).into());
            }
            Some(other) => {
                let message = format!("\"{other}\" is not a transport (\"fetch\" or \"grpc-web\")");
                return Err(OptionError::new("transport", message).into());
            }
        };
        let gzip = match reader.string("compression")?.as_deref() {
            None | Some("gzip") => true,
            Some("none") => false,
            Some(other) => {
                let message = format!("\"{other}\" is not a compression (\"gzip\" or \"none\")");
                return Err(OptionError::new("compression", message).into());
            }
        };
        let defaults = PipelineConfig::default();
        let flush_interval_ms = reader.positive("flushIntervalMs")?.unwrap_or(defaults.flush_interval_ms);
        let max_retry_interval_ms = reader.positive("maxRetryIntervalMs")?.unwrap_or(defaults.max_retry_interval_ms);
        let max_buffer_bytes = reader.positive("maxBufferBytes")?.map_or(defaults.max_buffer_bytes, |b| b as usize);
        let pipeline = PipelineConfig {
            flush_interval_ms,
            max_retry_interval_ms,
            initial_retry_interval_ms: defaults.initial_retry_interval_ms.min(max_retry_interval_ms),
            max_buffer_bytes,
            max_in_flight: MAX_IN_FLIGHT,
            ..defaults
        };
        pipeline.validate()?;
        Ok(ClientOptions {
            endpoint: Endpoint { url, token, cluster_id },
            transport,
            pipeline,
            drain_timeout_ms: reader.positive("drainTimeoutMs")?.unwrap_or(10_000),
            request_timeout_ms: reader.positive("requestTimeoutMs")?.unwrap_or(30_000),
            gzip,
            flush_on_page_hide: reader.boolean("flushOnPageHide")?.unwrap_or(true),
            background: reader.boolean("background")?.unwrap_or(true),
            on_event: reader.function("onEvent")?,
        })
    }
}

const METRIC_OPTIONS: &[&str] = &["schema", "maxChunkSize", "skipTimestamp", "timestampColumn"];

/// `client.metric(options)`: the parsed schema and the chunking options.
pub(crate) fn metric_options(options: &JsValue) -> Result<(Arc<Schema>, MetricOptions), Error> {
    let reader = Reader::new(options, "metric options", METRIC_OPTIONS)?;
    let schema = reader.get("schema");
    let text = if let Some(text) = schema.as_string() {
        text
    } else if schema.is_object() {
        // An object is taken as the schema's JSON; it is parsed again by
        // the engine's own parser, which names the field at fault.
        js_sys::JSON::stringify(&schema)
            .ok()
            .and_then(|text| text.as_string())
            .ok_or_else(|| OptionError::new("schema", "cannot be turned into JSON"))?
    } else if schema.is_undefined() {
        return Err(required("schema").into());
    } else {
        return Err(OptionError::new("schema", "must be an Avro record schema: an object or its JSON text").into());
    };
    let schema = Arc::new(Schema::parse(&text)?);
    let max_chunk_size = reader.positive("maxChunkSize")?.map_or(DEFAULT_MAX_CHUNK_SIZE, |b| b as usize);
    let options = MetricOptions {
        max_chunk_size,
        skip_timestamp: reader.boolean("skipTimestamp")?.unwrap_or(false),
        timestamp_column: reader.string("timestampColumn")?,
    };
    Ok((schema, options))
}

/// `client.subscribe(options)`, checked.
pub(crate) struct SubscribeOptions {
    pub collections: Vec<String>,
    /// Receive only the rows these clusters wrote; all when empty.
    pub clusters: Vec<String>,
    pub on_rows: Function,
    pub on_subscribed: Option<Function>,
    pub on_error: Option<Function>,
    pub on_missed: Option<Function>,
    pub reconnect: bool,
    pub web_socket: Option<Function>,
}

const SUBSCRIBE_OPTIONS: &[&str] =
    &["collections", "clusters", "onRows", "onSubscribed", "onError", "onMissed", "reconnect", "WebSocket"];

impl SubscribeOptions {
    pub(crate) fn parse(options: &JsValue) -> Result<SubscribeOptions, Error> {
        let reader = Reader::new(options, "subscribe options", SUBSCRIBE_OPTIONS)?;
        let collections = reader.names("collections", "collection names")?.ok_or_else(|| required("collections"))?;
        let clusters = reader.names("clusters", "cluster ids")?.unwrap_or_default();
        for id in &clusters {
            check_cluster_id(id, &JS).map_err(|e| OptionError::new("clusters", e.message))?;
        }
        Ok(SubscribeOptions {
            collections,
            clusters,
            on_rows: reader.function("onRows")?.ok_or_else(|| required("onRows"))?,
            on_subscribed: reader.function("onSubscribed")?,
            on_error: reader.function("onError")?,
            on_missed: reader.function("onMissed")?,
            reconnect: reader.boolean("reconnect")?.unwrap_or(true),
            web_socket: reader.function("WebSocket")?,
        })
    }
}

/// Reads typed properties of an options object, refusing unknown names
/// (a misspelt option would otherwise be silently ignored).
struct Reader<'a> {
    object: &'a JsValue,
}

impl<'a> Reader<'a> {
    fn new(object: &'a JsValue, what: &'static str, known: &[&str]) -> Result<Self, OptionError> {
        if !object.is_object() || js_sys::Array::is_array(object) {
            return Err(OptionError::new(what, "must be an object"));
        }
        for key in js::keys(object).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                let message = format!("\"{key}\" is not an option; the options are {}", known.join(", "));
                return Err(OptionError::new(what, message));
            }
        }
        Ok(Reader { object })
    }

    fn get(&self, name: &str) -> JsValue {
        js::get(self.object, &JsValue::from_str(name))
    }

    fn string(&self, name: &'static str) -> Result<Option<String>, OptionError> {
        let value = self.get(name);
        if value.is_undefined() {
            return Ok(None);
        }
        value.as_string().map(Some).ok_or_else(|| OptionError::new(name, "must be a string"))
    }

    fn boolean(&self, name: &'static str) -> Result<Option<bool>, OptionError> {
        let value = self.get(name);
        if value.is_undefined() {
            return Ok(None);
        }
        value.as_bool().map(Some).ok_or_else(|| OptionError::new(name, "must be true or false"))
    }

    /// A whole number greater than 0 (milliseconds, bytes).
    fn positive(&self, name: &'static str) -> Result<Option<u64>, OptionError> {
        let value = self.get(name);
        if value.is_undefined() {
            return Ok(None);
        }
        match value.as_f64() {
            Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => Ok(Some(n as u64)),
            Some(n) => Err(OptionError::new(name, format!("must be a whole number greater than 0, not {}", Text(n)))),
            None => Err(OptionError::new(name, format!("must be a whole number greater than 0, not {}", kind(&value)))),
        }
    }

    /// A non-empty array of non-empty strings, if given.
    fn names(&self, name: &'static str, what: &str) -> Result<Option<Vec<String>>, OptionError> {
        let list = self.get(name);
        if list.is_undefined() {
            return Ok(None);
        }
        let bad = || OptionError::new(name, format!("must be a non-empty array of {what}"));
        if !js_sys::Array::is_array(&list) {
            return Err(bad());
        }
        let names: Vec<String> =
            js_sys::Array::from(&list).iter().map(|name| name.as_string()).collect::<Option<_>>().ok_or_else(bad)?;
        match names.is_empty() || names.iter().any(String::is_empty) {
            true => Err(bad()),
            false => Ok(Some(names)),
        }
    }

    fn function(&self, name: &'static str) -> Result<Option<Function>, OptionError> {
        let value = self.get(name);
        if value.is_undefined() {
            return Ok(None);
        }
        value.dyn_into::<Function>().map(Some).map_err(|_| OptionError::new(name, "must be a function"))
    }
}

/// The JS kind of a value, for error messages: `a string`, `null`, ...
pub(crate) fn kind(value: &JsValue) -> String {
    if value.is_null() {
        return "null".into();
    }
    let kind = value.js_typeof().as_string().unwrap_or_default();
    match kind.as_str() {
        "object" if js_sys::Array::is_array(value) => "an array".into(),
        "object" => "an object".into(),
        "undefined" => kind,
        other => format!("a {other}"),
    }
}

fn required(option: &'static str) -> OptionError {
    OptionError::new(option, "is required")
}
