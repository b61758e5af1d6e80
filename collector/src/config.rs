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

    /// Accepted API token (repeat the flag for several; the environment
    /// variable takes a comma-separated list). At least one is required.
    #[arg(long = "token", env = "EDGEMETRICS_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub tokens: Vec<String>,

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

    /// Limits on requests and subscriptions.
    #[command(flatten)]
    pub limits: Limits,

    /// Testing aid: enable `POST /admin/faults`, which makes the next N
    /// ingestion requests fail with UNAVAILABLE / HTTP 503. Off by default.
    #[arg(long, env = "EDGEMETRICS_ENABLE_FAULT_INJECTION")]
    pub enable_fault_injection: bool,
}

/// Limits enforced by the collector; every one has a default and a flag.
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

    /// Most WebSocket subscribers at once; more are refused with an error
    /// event.
    #[arg(long, env = "EDGEMETRICS_MAX_SUBSCRIBERS", default_value_t = 256)]
    pub max_subscribers: usize,

    /// Chunks queued per subscriber before rows are dropped for it (and
    /// reported as `Missed`).
    #[arg(long, env = "EDGEMETRICS_SUBSCRIBER_QUEUE_CHUNKS", default_value_t = 64)]
    pub subscriber_queue_chunks: usize,

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 32 * 1024 * 1024,
            max_rows_per_chunk: 1_000_000,
            max_subscribers: 256,
            subscriber_queue_chunks: 64,
            max_subscribe_frame_bytes: 64 * 1024,
            subscribe_timeout: Duration::from_secs(10),
            stream_idle_timeout: Duration::from_secs(60),
            max_subscribe_collections: 256,
        }
    }
}

impl Default for Config {
    /// The binary's defaults, without any token (which [`crate::Server::start`]
    /// refuses).
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 7070)),
            db: "edgemetrics.db".to_owned(),
            tokens: Vec::new(),
            www: None,
            tls_cert: None,
            tls_key: None,
            limits: Limits::default(),
            enable_fault_injection: false,
        }
    }
}

impl Config {
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
            .field("www", &self.www)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("limits", &self.limits)
            .field("enable_fault_injection", &self.enable_fault_injection)
            .finish()
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
        assert_eq!(parsed.addr, Config::default().addr);
        assert_eq!(parsed.tokens, vec!["a".to_owned()]);
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
