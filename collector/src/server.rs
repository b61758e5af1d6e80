//! Starting and stopping the collector: shared state, the router that puts
//! every transport on one port, and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any_service, get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::cors::{Any, CorsLayer};

use crate::auth::Tokens;
use crate::config::GrpcEncoding;
use crate::config::{Config, Limits};
use crate::faults::Faults;
use crate::grpc::{GrpcWebMarker, IngestionService};
use crate::grpc_guard::GrpcGuard;
use crate::inflight::Inflight;
use crate::listen::{self, ClientAddr, ConnectionGate, TcpAccept};
use crate::metrics::Metrics;
use crate::pb::metrics::v1beta::ingestion_api_server::{IngestionApiServer, SERVICE_NAME};
use crate::rate::RateLimiter;
use crate::sink::{Sink, SinkKind};
use crate::store::{StoreError, StoreLimits};
use crate::subscribe::Hub;
use crate::tls::TlsListener;
use crate::validate::SchemaCache;
use crate::www::StaticRoot;
use crate::{http, instruments, query, subscribe};
use tonic::codec::CompressionEncoding;

/// Why the collector could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No API token configured.
    #[error(
        "no API token configured: pass --token <TOKEN>, --write-token, --read-token (each repeatable) or --tokens-file"
    )]
    NoToken,
    /// Limits that do not fit together.
    #[error("{0}")]
    Config(String),
    /// `--tokens-file` cannot be used.
    #[error("--tokens-file {path:?} {reason}")]
    Tokens {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be opened.
    #[error("cannot open database {path:?}: {source}")]
    Db {
        /// The `--db` value.
        path: String,
        /// What failed.
        source: StoreError,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The `--addr` value.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// `--www` is not a directory.
    #[error("--www {0:?} is not a directory")]
    Www(PathBuf),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {path:?} {reason}")]
    Tls {
        /// The `--tls-cert` or `--tls-key` file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The server task failed.
    #[error("server failed: {0}")]
    Serve(String),
}

/// State shared by every handler.
pub struct App {
    pub(crate) limits: Limits,
    pub(crate) tokens: Tokens,
    pub(crate) store: Arc<Sink>,
    pub(crate) hub: Hub,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) faults: Faults,
    pub(crate) schemas: SchemaCache,
    pub(crate) rates: RateLimiter,
    pub(crate) body_timeout: Duration,
    pub(crate) inflight: Arc<Inflight>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) instruments: crate::instruments::exposition::Exposition,
}

/// The collector.
pub struct Server;

/// A collector that is serving; dropping it signals shutdown without
/// waiting, [`RunningServer::shutdown`] waits.
pub struct RunningServer {
    addr: SocketAddr,
    /// `https` when serving TLS, else `http`.
    scheme: &'static str,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    grace: Duration,
}

impl Server {
    /// Opens the database, binds the address and starts serving.
    pub async fn start(config: Config) -> Result<RunningServer, Error> {
        config.check().map_err(Error::Config)?;
        let mut tokens = Tokens::scoped(&config.tokens, &config.write_tokens, &config.read_tokens);
        if let Some(path) = &config.tokens_file {
            tokens = tokens.with_file(path).map_err(|reason| Error::Tokens { path: path.clone(), reason })?;
        }
        if tokens.is_empty() {
            return Err(Error::NoToken);
        }
        let www = match &config.www {
            Some(dir) => Some(StaticRoot::new(dir).map_err(|_| Error::Www(dir.clone()))?),
            None => None,
        };
        // No single Avro value can be larger than a message; this bounds what
        // a forged length prefix can make the decoder allocate. (A process-wide
        // setting: the first server started sets it.)
        apache_avro::util::max_allocation_bytes(config.limits.max_message_bytes.max(1024));

        let db = config.db.clone();
        // Before the database, so that a bad certificate fails fast.
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
            _ => None,
        };
        let store_limits = StoreLimits::from(&config.limits);
        let store = Sink::open(&config.sink, &db, store_limits).await.map_err(|source| Error::Db {
            path: match config.sink.sink {
                SinkKind::Sqlite => config.db.clone(),
                SinkKind::Clickhouse => crate::clickhouse::redacted(&config.sink.clickhouse_url),
            },
            source,
        })?;
        let listener =
            TcpListener::bind(config.addr).await.map_err(|source| Error::Bind { addr: config.addr, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind { addr: config.addr, source })?;
        let metrics = Arc::new(Metrics::default());
        let gate = ConnectionGate::new(&config.connections, metrics.clone());
        let (stop, shutdown) = watch::channel(false);
        let app = Arc::new(App {
            hub: Hub::new(
                config.limits.max_subscribers,
                config.limits.max_subscribers_per_ip,
                config.limits.subscriber_queue_chunks,
                config.limits.subscriber_queue_bytes,
                metrics.clone(),
            ),
            limits: config.limits.clone(),
            tokens,
            store: Arc::new(store),
            metrics,
            faults: Faults::new(config.enable_fault_injection),
            schemas: SchemaCache::default(),
            rates: RateLimiter::new(&config.rates),
            body_timeout: config.connections.body_timeout,
            inflight: Inflight::new(
                config.connections.max_inflight_bytes,
                config.connections.max_inflight_bytes_per_ip,
                config.limits.max_stored_bytes_per_request,
            ),
            shutdown: shutdown.clone(),
            instruments: Default::default(),
        });
        let router = router(app.clone(), &config, www);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let limits = config.connections.clone();
        let task = match tls {
            Some(acceptor) => {
                let listener = TlsListener::new(listener, acceptor, gate);
                tokio::spawn(listen::serve(listener, router, limits, shutdown))
            }
            None => tokio::spawn(listen::serve(TcpAccept { listener, gate }, router, limits, shutdown)),
        };
        tracing::info!(%addr, db = %config.db, scheme, "collector listening");
        Ok(RunningServer { addr, scheme, app, stop, task: Some(task), grace: config.connections.shutdown_grace })
    }
}

impl RunningServer {
    /// The bound address (the real port when started with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<local_addr>`, or `https://` when serving TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The fault-injection handle (inert unless fault injection is enabled).
    pub fn faults(&self) -> Faults {
        self.app.faults.clone()
    }

    /// The collector's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.app.metrics
    }

    /// Stops accepting, closes subscriptions and streams, stops running
    /// queries, and waits up to `--shutdown-grace` for open requests before
    /// closing their connections.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        self.app.store.interrupt();
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        // The serving loop drops what is left after the grace itself; this
        // bound only guards against a loop that would not end.
        match tokio::time::timeout(self.grace + Duration::from_secs(2), &mut task).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Serve(e.to_string())),
            Err(_) => {
                task.abort();
                tracing::warn!("the server did not stop within its shutdown grace; stopped it");
                Ok(())
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Resolves once shutdown has been signalled (or the signal is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            HeaderName::from_static("x-cluster-id"),
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
        ])
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
            HeaderName::from_static("x-chunks-acked"),
            HeaderName::from_static("x-rows-stored"),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
}

async fn mark_grpc_web(mut req: Request<Body>) -> Request<Body> {
    let is_web = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web"));
    if is_web {
        req.extensions_mut().insert(GrpcWebMarker);
    }
    req
}

fn router(app: Arc<App>, config: &Config, www: Option<StaticRoot>) -> Router {
    let limit = config.limits.max_message_bytes;
    // gzip and zstd both ways, as gRPC negotiates them (`grpc-encoding`,
    // `grpc-accept-encoding`). The guard measures a compressed message as it
    // arrives (what it decompresses to is held on the in-flight budget, up
    // to `limit`) before tonic decompresses it.
    let mut grpc = IngestionApiServer::new(IngestionService::new(app.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(64 * 1024);
    for encoding in &config.grpc_compression {
        let encoding = match encoding {
            GrpcEncoding::Gzip => CompressionEncoding::Gzip,
            GrpcEncoding::Zstd => CompressionEncoding::Zstd,
            GrpcEncoding::None => continue,
        };
        grpc = grpc.accept_compressed(encoding).send_compressed(encoding);
    }
    // Layers go on the method router (not on a Router), so they wrap only
    // the gRPC path and never the fallback.
    let grpc = any_service(GrpcGuard::new(grpc, app.clone()))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(axum::middleware::map_request(mark_grpc_web));

    let mut api = Router::new()
        .route("/v1/metrics", post(http::post_metrics))
        .route("/v1/subscribe", get(subscribe::handler))
        .route("/api/collections", get(query::list))
        .route("/api/collections/{name}/rows", get(query::rows))
        .route("/api/collections/{name}/latest", get(query::latest))
        .route("/api/collections/{name}/stats", get(query::stats))
        .route("/api/collections/{name}/series", get(crate::series::series))
        .route("/api/instruments", get(instruments::chart::list))
        .route("/api/instruments/{collection}/{name}", get(instruments::chart::points))
        .route("/metrics/instruments", get(instruments::exposition::handler))
        .route("/healthz", get(http::healthz))
        .route("/metrics", get(http::metrics));
    if config.enable_fault_injection {
        api = api.route("/admin/faults", post(http::set_faults).get(http::get_faults));
    }
    let mut router = api.route(&format!("/{SERVICE_NAME}/{{*method}}"), grpc).with_state(app.clone());
    if let Some(root) = www {
        router = router.fallback(move |req: Request<Body>| root.clone().serve(req));
    }
    // The rate is outermost, so that CORS preflights count too.
    router.layer(cors()).layer(axum::middleware::from_fn_with_state(app, limit_rate))
}

/// Every request counts against its client address's request rate, before
/// any other work; past it the answer is 429 (or RESOURCE_EXHAUSTED for a
/// gRPC call) with `retry-after`.
async fn limit_rate(State(app): State<Arc<App>>, req: Request<Body>, next: Next) -> Response {
    let Some(ClientAddr(peer)) = req.extensions().get::<ClientAddr>().copied() else {
        return next.run(req).await;
    };
    let Err(limited) = app.rates.request_from(peer.ip()) else {
        return next.run(req).await;
    };
    app.metrics.rate_limited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let retry_after = (header::RETRY_AFTER, HeaderValue::from(limited.retry_after_secs));
    let mut res = refusal(&req, content_type, retry_after, limited);
    // Outside the CORS layer: a page must still be able to read the answer.
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after, grpc-status, grpc-message"));
    res
}

fn refusal(
    req: &Request<Body>,
    content_type: &str,
    retry_after: (HeaderName, HeaderValue),
    limited: crate::rate::Limited,
) -> Response {
    if content_type.starts_with("application/grpc") {
        // A trailers-only gRPC answer; gRPC-web clients read it too.
        let message = limited.message.replace('%', "%25").replace(' ', "%20");
        let headers = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/grpc")),
            ),
            (HeaderName::from_static("grpc-status"), HeaderValue::from_static("8")),
            (
                HeaderName::from_static("grpc-message"),
                HeaderValue::from_str(&message).unwrap_or(HeaderValue::from_static("")),
            ),
            retry_after,
        ];
        return (StatusCode::OK, headers).into_response();
    }
    if req.uri().path().starts_with("/api/") {
        return query::ApiError::rate(limited).into_response();
    }
    (StatusCode::TOO_MANY_REQUESTS, [retry_after], format!("{}\n", limited.message)).into_response()
}
