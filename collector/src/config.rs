//! Configuration: command-line flags with environment variables, also
//! constructible in code.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

/// Default listen address of the binary (keep in sync with `Config::default`).
pub const DEFAULT_ADDR: &str = "127.0.0.1:7070";

/// Everything the collector needs to start.
///
/// Parse it from the command line with [`clap::Parser::parse`], or build it in
/// code with [`Config::for_tests`] or [`Config::default`] and set the fields.
#[derive(Clone, Parser)]
#[command(
    name = "edgemetrics-collector",
    version,
    long_about = None,
    about = "Reference ingestion server for edgemetrics: gRPC, gRPC-web, HTTP POST, \
             WebSocket subscriptions and a query API on one port, stored in SQLite."
)]
pub struct Config {
    /// Address to listen on (gRPC, gRPC-web, HTTP and WebSocket share it);
    /// port 0 picks a free port.
    #[arg(long, env = "EDGEMETRICS_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,

    /// SQLite database file, or `:memory:` for a database that lives as long
    /// as the process.
    #[arg(long, env = "EDGEMETRICS_DB", default_value = "edgemetrics.db")]
    pub db: String,

    /// API token that may write and read (repeat the flag for several; the
    /// environment variable takes a comma-separated list). At least one
    /// token of any kind is required.
    #[arg(long = "token", env = "EDGEMETRICS_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub tokens: Vec<String>,

    /// API token that may only write metrics: what a web page or a Worker
    /// ships, since anyone can read it there.
    #[arg(long = "write-token", env = "EDGEMETRICS_WRITE_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub write_tokens: Vec<String>,

    /// API token that may only read: the query API and subscriptions, for
    /// dashboards.
    #[arg(long = "read-token", env = "EDGEMETRICS_READ_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub read_tokens: Vec<String>,

    /// JSON file of tokens with scopes and restrictions:
    /// `{"tokens":[{"token":"..","scopes":["write"],"clusters":[..],"collections":[..]}]}`.
    #[arg(long, env = "EDGEMETRICS_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,

    /// Directory served as static files at `/` (index.html for directories).
    #[arg(long, env = "EDGEMETRICS_WWW")]
    pub www: Option<PathBuf>,

    /// PEM certificate chain to serve TLS with, on the same port for every
    /// transport; needs --tls-key. Without both, the collector serves
    /// plaintext.
    #[arg(long, env = "EDGEMETRICS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "EDGEMETRICS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Where rows are stored.
    #[command(flatten)]
    pub sink: crate::sink::SinkConfig,

    /// Limits on requests and subscriptions.
    #[command(flatten)]
    pub limits: Limits,

    /// Limits on connections and slow clients.
    #[command(flatten)]
    pub connections: ConnectionLimits,

    /// Request and row rates per client address and per token.
    #[command(flatten)]
    pub rates: RateLimits,

    /// gRPC message encodings taken from clients and used for answers to
    /// clients that take them: `gzip`, `zstd`, comma-separated, or `none`.
    #[arg(long, env = "EDGEMETRICS_GRPC_COMPRESSION", value_enum, value_delimiter = ',', default_value = "gzip,zstd")]
    pub grpc_compression: Vec<GrpcEncoding>,

    /// Testing aid: enable `POST /admin/faults`, which makes the next N
    /// ingestion requests fail with UNAVAILABLE / HTTP 503. Off by default.
    #[arg(long, env = "EDGEMETRICS_ENABLE_FAULT_INJECTION")]
    pub enable_fault_injection: bool,
}

/// A gRPC message encoding (`--grpc-compression`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GrpcEncoding {
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
    /// None: messages are taken and answered uncompressed only.
    None,
}

/// Limits on what one request may carry; every one has a default and a
/// flag, and each is checked before the work it bounds.
#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message in bytes: one gRPC message (a chunk, or a
    /// whole batch), or an HTTP POST body both before and after gzip
    /// decompression.
    #[arg(long, env = "EDGEMETRICS_MAX_MESSAGE_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Largest accepted `metadata.rows` of one chunk.
    #[arg(long, env = "EDGEMETRICS_MAX_ROWS_PER_CHUNK", default_value_t = 1_000_000)]
    pub max_rows_per_chunk: u64,

    /// Most chunks in one batch (counted on the wire, before decoding).
    #[arg(long, env = "EDGEMETRICS_MAX_CHUNKS_PER_REQUEST", default_value_t = 1024)]
    pub max_chunks_per_request: u64,

    /// Most rows in one request: the chunks of a batch together, or one
    /// message of a stream.
    #[arg(long, env = "EDGEMETRICS_MAX_ROWS_PER_REQUEST", default_value_t = 2_000_000)]
    pub max_rows_per_request: u64,

    /// Longest accepted schema JSON, in bytes.
    #[arg(long, env = "EDGEMETRICS_MAX_SCHEMA_BYTES", default_value_t = 64 * 1024)]
    pub max_schema_bytes: usize,

    /// Deepest nesting of records, arrays, maps and unions in a schema,
    /// counted through named types (the top record is level 1).
    #[arg(long, env = "EDGEMETRICS_MAX_SCHEMA_DEPTH", default_value_t = 32)]
    pub max_schema_depth: u32,

    /// Most types in a schema with every named type expanded where it is
    /// used.
    #[arg(long, env = "EDGEMETRICS_MAX_SCHEMA_NODES", default_value_t = 10_000)]
    pub max_schema_nodes: u64,

    /// Most columns of one collection: the record's fields, fields of
    /// earlier schemas kept, and server timestamp columns (SQLite allows
    /// 2000 with its own columns).
    #[arg(long, env = "EDGEMETRICS_MAX_COLUMNS", default_value_t = 1000, value_parser = parse_max_columns)]
    pub max_columns: usize,

    /// Most collections (tables) the collector creates.
    #[arg(long, env = "EDGEMETRICS_MAX_COLLECTIONS", default_value_t = 1000)]
    pub max_collections: usize,

    /// Most Avro values decoded from one chunk: every record, field, array
    /// item, map entry and union branch counts, including those that take
    /// no bytes.
    #[arg(long, env = "EDGEMETRICS_MAX_VALUES_PER_CHUNK", default_value_t = 32 * 1024 * 1024)]
    pub max_values_per_chunk: u64,

    /// Most Avro values per byte of a chunk's Avro (plus 4096 for any
    /// chunk): what stops a few bytes from declaring millions of values
    /// that take no bytes (nulls, empty records).
    #[arg(long, env = "EDGEMETRICS_MAX_VALUES_PER_BYTE", default_value_t = 8)]
    pub max_values_per_byte: u64,

    /// Most Avro values in one row, counted as for a chunk.
    #[arg(long, env = "EDGEMETRICS_MAX_VALUES_PER_ROW", default_value_t = 64 * 1024)]
    pub max_values_per_row: u64,

    /// Largest row once stored, in bytes: 8 per number, the length of each
    /// text, blob or JSON column (and the largest `fixed` a schema may
    /// declare).
    #[arg(long, env = "EDGEMETRICS_MAX_ROW_BYTES", default_value_t = 1024 * 1024)]
    pub max_row_bytes: usize,

    /// Largest chunk once stored, in bytes counted as for a row: names,
    /// enum symbols and JSON can make it larger than its Avro.
    #[arg(long, env = "EDGEMETRICS_MAX_STORED_BYTES_PER_CHUNK", default_value_t = 64 * 1024 * 1024)]
    pub max_stored_bytes_per_chunk: usize,

    /// Most bytes one request may take once decoded, besides its body: a
    /// decoded copy of it, gunzipped bytes, the schemas parsed for it and
    /// the cells of all its chunks.
    #[arg(long, env = "EDGEMETRICS_MAX_STORED_BYTES_PER_REQUEST", default_value_t = 128 * 1024 * 1024)]
    pub max_stored_bytes_per_request: usize,

    /// Most WebSocket subscribers at once; more are refused with an error
    /// event.
    #[arg(long, env = "EDGEMETRICS_MAX_SUBSCRIBERS", default_value_t = 256)]
    pub max_subscribers: usize,

    /// Most WebSocket subscribers from one client address at once.
    #[arg(long, env = "EDGEMETRICS_MAX_SUBSCRIBERS_PER_IP", default_value_t = 32)]
    pub max_subscribers_per_ip: usize,

    /// Chunks queued per subscriber before rows are dropped for it (and
    /// reported as `Missed`).
    #[arg(long, env = "EDGEMETRICS_SUBSCRIBER_QUEUE_CHUNKS", default_value_t = 64)]
    pub subscriber_queue_chunks: usize,

    /// Avro bytes queued per subscriber before rows are dropped for it (and
    /// reported as `Missed`); one larger chunk still goes to an empty queue.
    #[arg(long, env = "EDGEMETRICS_SUBSCRIBER_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub subscriber_queue_bytes: usize,

    /// Time a subscriber has to take one frame before it is disconnected
    /// (a client that stopped reading).
    #[arg(long, env = "EDGEMETRICS_SUBSCRIBER_SEND_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub subscriber_send_timeout: Duration,

    /// Largest accepted WebSocket frame from a subscriber, in bytes.
    #[arg(long, env = "EDGEMETRICS_MAX_SUBSCRIBE_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_subscribe_frame_bytes: usize,

    /// Time a WebSocket client has to send its SubscribeRequest
    /// (e.g. `10s`, `500ms`, `2m`; a bare number is seconds).
    #[arg(long, env = "EDGEMETRICS_SUBSCRIBE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub subscribe_timeout: Duration,

    /// Longest pause between two messages of a client-streaming
    /// `WriteMetrics` call before the call fails with DEADLINE_EXCEEDED.
    #[arg(long, env = "EDGEMETRICS_STREAM_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub stream_idle_timeout: Duration,

    /// Most collections one subscription may name (and most clusters it may
    /// filter by).
    #[arg(long, env = "EDGEMETRICS_MAX_SUBSCRIBE_COLLECTIONS", default_value_t = 256)]
    pub max_subscribe_collections: usize,

    /// Longest a query may run before it is stopped with an error.
    #[arg(long, env = "EDGEMETRICS_QUERY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub query_timeout: Duration,

    /// Largest JSON body the rows endpoint answers; past it the answer has
    /// fewer rows than asked for.
    #[arg(long, env = "EDGEMETRICS_MAX_RESPONSE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_response_bytes: usize,

    /// Most instrument series `/metrics/instruments` keeps totals of;
    /// rows of further series are left out of it (and counted in its text).
    #[arg(long, env = "EDGEMETRICS_MAX_INSTRUMENT_SERIES", default_value_t = 100_000)]
    pub max_instrument_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 32 * 1024 * 1024,
            max_rows_per_chunk: 1_000_000,
            max_chunks_per_request: 1024,
            max_rows_per_request: 2_000_000,
            max_schema_bytes: 64 * 1024,
            max_schema_depth: 32,
            max_schema_nodes: 10_000,
            max_columns: 1000,
            max_collections: 1000,
            max_values_per_chunk: 32 * 1024 * 1024,
            max_values_per_byte: 8,
            max_values_per_row: 64 * 1024,
            max_row_bytes: 1024 * 1024,
            max_stored_bytes_per_chunk: 64 * 1024 * 1024,
            max_stored_bytes_per_request: 128 * 1024 * 1024,
            max_subscribers: 256,
            max_subscribers_per_ip: 32,
            subscriber_queue_chunks: 64,
            subscriber_queue_bytes: 4 * 1024 * 1024,
            subscriber_send_timeout: Duration::from_secs(30),
            max_subscribe_frame_bytes: 64 * 1024,
            subscribe_timeout: Duration::from_secs(10),
            stream_idle_timeout: Duration::from_secs(60),
            max_subscribe_collections: 256,
            query_timeout: Duration::from_secs(10),
            max_response_bytes: 16 * 1024 * 1024,
            max_instrument_series: 100_000,
        }
    }
}

/// Limits on connections and how long a client may take; each has a default
/// and a flag.
#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most open connections; more are closed as they are accepted.
    #[arg(long, env = "EDGEMETRICS_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Most open connections from one client address (an IPv6 client is
    /// its /64).
    #[arg(long, env = "EDGEMETRICS_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Bytes of requests being received or processed at once, over every
    /// connection: bodies as they arrive, and the rows they decode into;
    /// past it a request is answered UNAVAILABLE (HTTP 503) with
    /// `retry-after`. At least --max-message-bytes plus
    /// --max-stored-bytes-per-request (so that one request of the largest
    /// size fits); 0 turns it off.
    #[arg(long, env = "EDGEMETRICS_MAX_INFLIGHT_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_inflight_bytes: usize,

    /// The share of `--max-inflight-bytes` one client address may hold (a
    /// request larger than that passes when the address holds nothing
    /// else); 0 turns it off.
    #[arg(long, env = "EDGEMETRICS_MAX_INFLIGHT_BYTES_PER_IP", default_value_t = 64 * 1024 * 1024)]
    pub max_inflight_bytes_per_ip: usize,

    /// Most concurrent requests (HTTP/2 streams) on one connection.
    #[arg(long, env = "EDGEMETRICS_MAX_STREAMS_PER_CONNECTION", default_value_t = 100)]
    pub max_streams_per_connection: u32,

    /// Time a client has to send a request's headers, and longest an
    /// HTTP/1.1 connection waits idle for its next request.
    #[arg(long, env = "EDGEMETRICS_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Time a client has to send a whole request body, or one message of a
    /// gRPC stream once it started.
    #[arg(long, env = "EDGEMETRICS_BODY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// Longest a connection stays open with no request on it.
    #[arg(long, env = "EDGEMETRICS_IDLE_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Time requests get to finish at shutdown before their connections
    /// are closed.
    #[arg(long, env = "EDGEMETRICS_SHUTDOWN_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_ip: 256,
            max_inflight_bytes: 256 * 1024 * 1024,
            max_inflight_bytes_per_ip: 64 * 1024 * 1024,
            max_streams_per_connection: 100,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Request and row rates, per client address and per token (token buckets
/// holding two seconds' worth); 0 turns one off. Past a rate, requests get
/// HTTP 429 or RESOURCE_EXHAUSTED with `retry-after`.
#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per second from one client address (every endpoint).
    #[arg(long = "rate-requests-per-ip", env = "EDGEMETRICS_RATE_REQUESTS_PER_IP", default_value_t = 200)]
    pub requests_per_ip: u64,

    /// Rows per second written from one client address.
    #[arg(long = "rate-rows-per-ip", env = "EDGEMETRICS_RATE_ROWS_PER_IP", default_value_t = 2_000_000)]
    pub rows_per_ip: u64,

    /// Requests per second with one token (every endpoint).
    #[arg(long = "rate-requests-per-token", env = "EDGEMETRICS_RATE_REQUESTS_PER_TOKEN", default_value_t = 2000)]
    pub requests_per_token: u64,

    /// Rows per second written with one token.
    #[arg(long = "rate-rows-per-token", env = "EDGEMETRICS_RATE_ROWS_PER_TOKEN", default_value_t = 10_000_000)]
    pub rows_per_token: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { requests_per_ip: 200, rows_per_ip: 2_000_000, requests_per_token: 2000, rows_per_token: 10_000_000 }
    }
}

impl Default for Config {
    /// The binary's defaults, without any token (which [`crate::Server::start`]
    /// refuses).
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 7070)),
            db: "edgemetrics.db".to_owned(),
            sink: crate::sink::SinkConfig::default(),
            grpc_compression: vec![GrpcEncoding::Gzip, GrpcEncoding::Zstd],
            tokens: Vec::new(),
            write_tokens: Vec::new(),
            read_tokens: Vec::new(),
            tokens_file: None,
            www: None,
            tls_cert: None,
            tls_key: None,
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
            rates: RateLimits::default(),
            enable_fault_injection: false,
        }
    }
}

impl Config {
    /// Checks how the limits fit together; says which flags do not.
    pub fn check(&self) -> Result<(), String> {
        let (l, c) = (&self.limits, &self.connections);
        // A compressed message holds its wire bytes and what they decompress
        // to, each up to --max-message-bytes.
        let compressed = self.grpc_compression.iter().any(|e| *e != GrpcEncoding::None);
        let message = l.max_message_bytes.saturating_mul(if compressed { 2 } else { 1 });
        let one_request = message.saturating_add(l.max_stored_bytes_per_request);
        if c.max_inflight_bytes != 0 && c.max_inflight_bytes < one_request {
            return Err(format!(
                "--max-inflight-bytes ({}) must be at least {}--max-message-bytes ({}) plus \
                 --max-stored-bytes-per-request ({}), so that one request of the largest size fits{}",
                c.max_inflight_bytes,
                if compressed { "twice " } else { "" },
                l.max_message_bytes,
                l.max_stored_bytes_per_request,
                if compressed { " (a compressed message holds its bytes and what they decompress to)" } else { "" }
            ));
        }
        if c.idle_timeout <= l.stream_idle_timeout || c.idle_timeout <= c.body_timeout {
            return Err(format!(
                "--idle-timeout ({:?}) must be longer than --stream-idle-timeout ({:?}) and --body-timeout ({:?}): \
                 a connection that moves no byte for --idle-timeout is dropped",
                c.idle_timeout, l.stream_idle_timeout, c.body_timeout
            ));
        }
        Ok(())
    }

    /// A configuration for tests: a free port on 127.0.0.1, an in-memory
    /// database, the given tokens and fault injection enabled.
    pub fn for_tests<I, T>(tokens: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: ":memory:".to_owned(),
            tokens: tokens.into_iter().map(Into::into).collect(),
            enable_fault_injection: true,
            ..Self::default()
        }
    }
}

impl fmt::Debug for Config {
    /// Tokens are never printed, only counted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .field("tokens", &format_args!("<{} redacted>", self.tokens.len()))
            .field("write_tokens", &format_args!("<{} redacted>", self.write_tokens.len()))
            .field("read_tokens", &format_args!("<{} redacted>", self.read_tokens.len()))
            .field("tokens_file", &self.tokens_file)
            .field("www", &self.www)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("limits", &self.limits)
            .field("connections", &self.connections)
            .field("rates", &self.rates)
            .field("enable_fault_injection", &self.enable_fault_injection)
            .finish()
    }
}

/// SQLite allows 2000 columns; a collection table adds up to ten of its own.
fn parse_max_columns(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n @ 1..=1990) => Ok(n),
        _ => Err(format!("`{s}` is not a column count from 1 to 1990")),
    }
}

/// Parses `500ms`, `10s`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{s}` is not a duration (use e.g. 500ms, 10s, 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        other => Err(format!("unknown duration unit `{other}` in `{s}` (use ms, s or m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("7h").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn flags_and_defaults_agree() {
        let parsed = Config::try_parse_from(["edgemetrics-collector", "--token", "a"]).unwrap();
        assert_eq!(parsed.limits, Limits::default());
        assert_eq!(parsed.connections, ConnectionLimits::default());
        assert_eq!(parsed.rates, RateLimits::default());
        assert_eq!(parsed.addr, Config::default().addr);
        assert_eq!(parsed.tokens, vec!["a".to_owned()]);
    }

    #[test]
    fn every_limit_has_the_flag_the_readme_names() {
        let args = [
            "--max-rows-per-request=1",
            "--max-schema-bytes=2",
            "--max-schema-depth=3",
            "--max-schema-nodes=4",
            "--max-columns=5",
            "--max-collections=6",
            "--max-values-per-chunk=7",
            "--max-values-per-byte=8",
            "--max-values-per-row=9",
            "--max-row-bytes=10",
            "--max-subscribers-per-ip=11",
            "--subscriber-send-timeout=12s",
            "--query-timeout=13s",
            "--max-response-bytes=14",
            "--max-instrument-series=15",
            "--max-connections=15",
            "--max-connections-per-ip=16",
            "--max-inflight-bytes=26",
            "--max-inflight-bytes-per-ip=27",
            "--max-chunks-per-request=28",
            "--max-stored-bytes-per-chunk=29",
            "--subscriber-queue-bytes=30",
            "--max-stored-bytes-per-request=31",
            "--max-streams-per-connection=17",
            "--header-timeout=18s",
            "--body-timeout=19s",
            "--idle-timeout=20s",
            "--shutdown-grace=21s",
            "--rate-requests-per-ip=22",
            "--rate-rows-per-ip=23",
            "--rate-requests-per-token=24",
            "--rate-rows-per-token=25",
            "--write-token=w",
            "--read-token=r",
            "--tokens-file=t.json",
        ];
        let c = Config::try_parse_from(["edgemetrics-collector"].into_iter().chain(args)).unwrap();
        let l = &c.limits;
        assert_eq!(
            (l.max_rows_per_request, l.max_schema_bytes, l.max_schema_depth, l.max_schema_nodes, l.max_columns),
            (1, 2, 3, 4, 5)
        );
        assert_eq!(
            (l.max_collections, l.max_values_per_chunk, l.max_values_per_byte, l.max_values_per_row, l.max_row_bytes),
            (6, 7, 8, 9, 10)
        );
        assert_eq!(l.max_subscribers_per_ip, 11);
        assert_eq!((l.subscriber_send_timeout, l.query_timeout), (Duration::from_secs(12), Duration::from_secs(13)));
        assert_eq!(l.max_response_bytes, 14);
        assert_eq!(l.max_instrument_series, 15);
        let n = &c.connections;
        assert_eq!((n.max_connections, n.max_connections_per_ip, n.max_streams_per_connection), (15, 16, 17));
        assert_eq!((n.max_inflight_bytes, n.max_inflight_bytes_per_ip), (26, 27));
        assert_eq!((l.max_chunks_per_request, l.max_stored_bytes_per_chunk, l.subscriber_queue_bytes), (28, 29, 30));
        assert_eq!(l.max_stored_bytes_per_request, 31);
        let secs = [n.header_timeout, n.body_timeout, n.idle_timeout, n.shutdown_grace].map(|d| d.as_secs());
        assert_eq!(secs, [18, 19, 20, 21]);
        let r = &c.rates;
        assert_eq!((r.requests_per_ip, r.rows_per_ip, r.requests_per_token, r.rows_per_token), (22, 23, 24, 25));
        assert_eq!((c.write_tokens, c.read_tokens), (vec!["w".to_owned()], vec!["r".to_owned()]));
        assert!(Config::try_parse_from(["edgemetrics-collector", "--max-columns=1991"]).is_err());
    }

    #[test]
    fn tls_takes_a_certificate_and_its_key_or_neither() {
        let both = ["edgemetrics-collector", "--token", "a", "--tls-cert", "c.pem", "--tls-key", "k.pem"];
        let parsed = Config::try_parse_from(both).unwrap();
        assert_eq!(parsed.tls_cert.as_deref(), Some(std::path::Path::new("c.pem")));
        assert_eq!(parsed.tls_key.as_deref(), Some(std::path::Path::new("k.pem")));
        for half in [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"]] {
            let args = ["edgemetrics-collector", "--token", "a"].into_iter().chain(half);
            let error = Config::try_parse_from(args).unwrap_err().to_string();
            assert!(error.contains("--tls-"), "{error}");
        }
    }

    #[test]
    fn debug_redacts_tokens() {
        let c = Config::for_tests(["secret-token"]);
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
