//! Configuration of the native client and its metrics, checked up front so
//! that a mistake is reported by name at start-up, not at the first send.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::transport::{Endpoint, Sender};
use super::{EventCallback, Inner, MetricClient, driver, random_u64};
use crate::client::address::{Spelling, base_url, check_cluster_id};
use crate::client::{Core, Error};
use crate::engine::buffer::{DEFAULT_MAX_CHUNK_SIZE, MetricOptions, OptionError};
use crate::engine::chunk::Delivery;
use crate::engine::instruments::{RegistryConfig, Temporality};
use crate::engine::pipeline::PipelineConfig;
use crate::engine::schema::Schema;
use crate::engine::stats::Event;

/// How batches travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `IngestionAPI/WriteMetrics` client streaming, as castai/metrics sends.
    #[default]
    Grpc,
    /// `POST /v1/metrics` with a protobuf batch.
    Http,
}

/// How gRPC messages are compressed on the wire. Off by default: castai's
/// collectors take uncompressed messages only, and rows of numbers compress
/// well but cost CPU to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Messages as they are.
    #[default]
    None,
    /// gzip: every gRPC server takes it.
    Gzip,
    /// zstd: smaller and faster than gzip, where the server takes it.
    Zstd,
}

/// Configures a [`MetricClient`]; `api_addr`, `api_token` and `cluster_id`
/// are required.
pub struct ClientBuilder {
    api_addr: Option<String>,
    api_token: Option<String>,
    cluster_id: Option<String>,
    insecure: bool,
    ca_certificate_pem: Option<Vec<u8>>,
    flush_interval: Duration,
    instrument_interval: Option<Duration>,
    registry: RegistryConfig,
    max_retry_interval: Duration,
    drain_timeout: Duration,
    request_timeout: Duration,
    max_buffer_bytes: usize,
    transport: Transport,
    compression: Compression,
    on_event: Option<EventCallback>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        let pipeline = PipelineConfig::default();
        ClientBuilder {
            api_addr: None,
            api_token: None,
            cluster_id: None,
            insecure: false,
            ca_certificate_pem: None,
            flush_interval: Duration::from_millis(pipeline.flush_interval_ms),
            instrument_interval: None,
            registry: RegistryConfig::default(),
            max_retry_interval: Duration::from_millis(pipeline.max_retry_interval_ms),
            drain_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_buffer_bytes: pipeline.max_buffer_bytes,
            transport: Transport::Grpc,
            compression: Compression::None,
            on_event: None,
        }
    }
}

/// The token never appears in debug output.
impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_addr", &self.api_addr)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .field("cluster_id", &self.cluster_id)
            .field("insecure", &self.insecure)
            .field("flush_interval", &self.flush_interval)
            .field("max_retry_interval", &self.max_retry_interval)
            .field("drain_timeout", &self.drain_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_buffer_bytes", &self.max_buffer_bytes)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The collector: `host:port` (TLS, or plaintext when insecure) or a
    /// URL with `https://` (or `http://` when insecure).
    pub fn api_addr(mut self, addr: impl Into<String>) -> Self {
        self.api_addr = Some(addr.into());
        self
    }

    /// The API token, sent as `authorization: Token <token>`.
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(token.into());
        self
    }

    /// The cluster id, sent as `x-cluster-id`.
    pub fn cluster_id(mut self, id: impl Into<String>) -> Self {
        self.cluster_id = Some(id.into());
        self
    }

    /// Plaintext instead of TLS (development only; default false).
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Trusts this CA (PEM) in addition to the web PKI roots.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate_pem = Some(pem.into());
        self
    }

    /// How long rows wait in an open chunk before they are sent (default 200 ms).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// The longest wait between retries (default 15 s).
    pub fn max_retry_interval(mut self, interval: Duration) -> Self {
        self.max_retry_interval = interval;
        self
    }

    /// How long `flush` and `shutdown` wait for acknowledgements (default 10 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// How long one send may take (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The memory cap on sealed, unacknowledged bytes (default 64 MiB). A
    /// sixteenth of it more, at most, holds the buffers of acknowledged
    /// chunks for the next chunks (`Stats::spare_bytes`).
    pub fn max_buffer_bytes(mut self, bytes: usize) -> Self {
        self.max_buffer_bytes = bytes;
        self
    }

    /// gRPC streaming (default) or HTTP POST.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Compresses the gRPC messages sent (default: none). The collector's
    /// answer says which encodings it takes; a server that refuses the
    /// encoding (UNIMPLEMENTED, as gRPC negotiates) gets the same batch again
    /// uncompressed, and the client sends uncompressed from then on. The
    /// HTTP transport refuses the option.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Called with every event (rows dropped, retries scheduled), on the
    /// driver task or in `flush`/`shutdown`, one event at a time; keep it
    /// short, and do not wait in it for this client (a `flush` waits for a
    /// delivery in progress).
    pub fn on_event(mut self, callback: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Box::new(callback));
        self
    }

    /// How often instruments are collected into rows: every flush interval
    /// unless set.
    pub fn instrument_interval(mut self, interval: Duration) -> Self {
        self.instrument_interval = Some(interval);
        self
    }

    /// Whether instrument rows carry each interval's values (`Delta`, the
    /// default) or everything since a series began (`Cumulative`).
    pub fn temporality(mut self, temporality: Temporality) -> Self {
        self.registry.temporality = temporality;
        self
    }

    /// Series per instrument before values go to its overflow series
    /// (default 2000).
    pub fn cardinality_limit(mut self, series: usize) -> Self {
        self.registry.cardinality_limit = series;
        self
    }

    /// Collections without an update after which a series is dropped
    /// (default 10; a bound handle keeps its series).
    pub fn stale_after(mut self, collections: u32) -> Self {
        self.registry.stale_after = collections;
        self
    }

    /// Checks the options and starts the driver on the current tokio runtime.
    pub fn build(self) -> Result<MetricClient, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| OptionError::new("runtime", "build() must be called inside a tokio runtime"))?;
        let token = required("api_token", self.api_token)?;
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OptionError::new("api_token", "must be non-empty printable ASCII without spaces").into());
        }
        let cluster_id = required("cluster_id", self.cluster_id)?;
        check_cluster_id(&cluster_id, &SPELLING)?;
        let url = base_url(&required("api_addr", self.api_addr)?, self.insecure, &SPELLING)?;
        let instrument_interval = self.instrument_interval.unwrap_or(self.flush_interval);
        for (option, duration) in [
            ("flush_interval", self.flush_interval),
            ("instrument_interval", instrument_interval),
            ("max_retry_interval", self.max_retry_interval),
            ("request_timeout", self.request_timeout),
        ] {
            if duration.is_zero() {
                return Err(OptionError::new(option, "must be greater than 0").into());
            }
        }
        let config = PipelineConfig {
            flush_interval_ms: millis(self.flush_interval),
            max_retry_interval_ms: millis(self.max_retry_interval),
            initial_retry_interval_ms: PipelineConfig::default()
                .initial_retry_interval_ms
                .min(millis(self.max_retry_interval)),
            max_buffer_bytes: self.max_buffer_bytes,
            ..PipelineConfig::default()
        };
        let endpoint = Endpoint {
            url,
            token,
            cluster_id,
            ca_certificate_pem: self.ca_certificate_pem,
            request_timeout: self.request_timeout,
            compression: self.compression,
        };
        let sender = Sender::new(self.transport, endpoint)?;

        let wake = Arc::new(Notify::new());
        let start = Instant::now();
        let driver_wake = wake.clone();
        if self.registry.cardinality_limit == 0 || self.registry.stale_after == 0 {
            let option = if self.registry.cardinality_limit == 0 { "cardinality_limit" } else { "stale_after" };
            return Err(OptionError::new(option, "must be greater than 0").into());
        }
        let core = Core::new(
            config,
            self.registry,
            random_u64(),
            random_u64(),
            Box::new(move || start.elapsed().as_millis() as u64),
            Box::new(move || driver_wake.notify_one()),
        )?;
        let inner = Arc::new(Inner {
            core,
            wake,
            progress: watch::channel(0).0,
            stop: Notify::new(),
            drain_timeout: self.drain_timeout,
            instrument_interval,
            on_event: self.on_event,
            delivering: Mutex::new(()),
            driver: Mutex::new(None),
        });
        let handle = runtime.spawn(driver::run(inner.clone(), Arc::new(sender)));
        *inner.driver.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(handle);
        Ok(MetricClient { inner })
    }
}

const SPELLING: Spelling = Spelling { api_addr: "api_addr", cluster_id: "cluster_id", insecure: "insecure(true)" };

fn required(option: &'static str, value: Option<String>) -> Result<String, OptionError> {
    value.ok_or_else(|| OptionError::new(option, "is required"))
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Where a metric's schema comes from.
#[derive(Debug, Clone)]
enum SchemaSource {
    Text(String),
    Parsed(Arc<Schema>),
}

/// A metric's schema and chunking; the schema (text or parsed) is required.
#[derive(Debug, Clone, Default)]
pub struct MetricConfig {
    schema: Option<SchemaSource>,
    max_chunk_size: Option<usize>,
    skip_timestamp: bool,
    timestamp_column: Option<String>,
    delivery: Delivery,
}

impl MetricConfig {
    /// A metric whose rows are encoded with this Avro record schema (JSON).
    pub fn schema(text: impl Into<String>) -> Self {
        MetricConfig { schema: Some(SchemaSource::Text(text.into())), ..Default::default() }
    }

    /// A metric with an already parsed schema.
    pub fn parsed(schema: Schema) -> Self {
        MetricConfig { schema: Some(SchemaSource::Parsed(Arc::new(schema))), ..Default::default() }
    }

    /// Seal chunks before they pass this many bytes (default 1 MiB, at most 20 MiB).
    pub fn max_chunk_size(mut self, bytes: usize) -> Self {
        self.max_chunk_size = Some(bytes);
        self
    }

    /// Ask the collector not to add a receive-time column.
    pub fn skip_timestamp(mut self, skip: bool) -> Self {
        self.skip_timestamp = skip;
        self
    }

    /// Name of the collector's receive-time column (default `timestamp`).
    pub fn timestamp_column(mut self, column: impl Into<String>) -> Self {
        self.timestamp_column = Some(column.into());
        self
    }

    /// What the metric's chunks are promised: [`Delivery::ExactlyOnce`]
    /// (the default: retried, stored once), [`Delivery::AtLeastOnce`]
    /// (retried, no de-duplication record, perhaps stored twice) or
    /// [`Delivery::BestEffort`] (one attempt, dropped and counted when it
    /// fails). A name read from configuration goes through
    /// `"bestEffort".parse::<Delivery>()`, which refuses others naming the option.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// This config, with `schema` when it names none.
    pub(super) fn or_schema(mut self, schema: Arc<Schema>) -> Self {
        self.schema.get_or_insert(SchemaSource::Parsed(schema));
        self
    }

    pub(super) fn into_parts(self) -> Result<(Arc<Schema>, MetricOptions), Error> {
        let schema = match self.schema {
            Some(SchemaSource::Parsed(schema)) => schema,
            Some(SchemaSource::Text(text)) => Arc::new(Schema::parse(&text)?),
            None => return Err(OptionError::new("schema", "is required (a schema text or a parsed schema)").into()),
        };
        let options = MetricOptions {
            max_chunk_size: self.max_chunk_size.unwrap_or(DEFAULT_MAX_CHUNK_SIZE),
            skip_timestamp: self.skip_timestamp,
            timestamp_column: self.timestamp_column,
            delivery: self.delivery,
        };
        Ok((schema, options))
    }
}
