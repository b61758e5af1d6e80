//! Starting and stopping the collector: shared state, the router that puts
//! every transport on one port, and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Method, Request, header};
use axum::routing::{any_service, get, post};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

use crate::auth::Tokens;
use crate::config::{Config, Limits};
use crate::faults::Faults;
use crate::grpc::{GrpcWebMarker, IngestionService, TooLargeAsResourceExhausted};
use crate::metrics::Metrics;
use crate::pb::metrics::v1beta::ingestion_api_server::{IngestionApiServer, SERVICE_NAME};
use crate::store::{Store, StoreError};
use crate::subscribe::Hub;
use crate::tls::TlsListener;
use crate::validate::SchemaCache;
use crate::{http, query, subscribe};

/// Why the collector could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No API token configured.
    #[error("no API token configured: pass --token <TOKEN> (repeatable) or set EDGEMETRICS_TOKENS=t1,t2")]
    NoToken,
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
    pub(crate) store: Store,
    pub(crate) hub: Hub,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) faults: Faults,
    pub(crate) schemas: SchemaCache,
    pub(crate) shutdown: watch::Receiver<bool>,
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
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// How long [`RunningServer::shutdown`] waits for open connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl Server {
    /// Opens the database, binds the address and starts serving.
    pub async fn start(config: Config) -> Result<RunningServer, Error> {
        let tokens = Tokens::new(&config.tokens);
        if tokens.is_empty() {
            return Err(Error::NoToken);
        }
        if let Some(dir) = &config.www
            && !dir.is_dir()
        {
            return Err(Error::Www(dir.clone()));
        }
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
        let store = tokio::task::spawn_blocking(move || Store::open(&db))
            .await
            .map_err(|e| Error::Serve(e.to_string()))?
            .map_err(|source| Error::Db { path: config.db.clone(), source })?;
        let listener =
            TcpListener::bind(config.addr).await.map_err(|source| Error::Bind { addr: config.addr, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind { addr: config.addr, source })?;
        let metrics = Arc::new(Metrics::default());
        let (stop, shutdown) = watch::channel(false);
        let app = Arc::new(App {
            hub: Hub::new(config.limits.max_subscribers, config.limits.subscriber_queue_chunks, metrics.clone()),
            limits: config.limits.clone(),
            tokens,
            store,
            metrics,
            faults: Faults::new(config.enable_fault_injection),
            schemas: SchemaCache::default(),
            shutdown: shutdown.clone(),
        });
        let router = router(app.clone(), &config);
        let mut signal = shutdown;
        let shutdown = async move { stopped(&mut signal).await };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = match tls {
            Some(acceptor) => {
                let listener = TlsListener::new(listener, acceptor).map_err(|source| Error::Bind { addr, source })?;
                tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown).await })
            }
            None => {
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown).await })
            }
        };
        tracing::info!(%addr, db = %config.db, scheme, "collector listening");
        Ok(RunningServer { addr, scheme, app, stop, task: Some(task) })
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

    /// Stops accepting, closes subscriptions and streams, and waits up to
    /// [`SHUTDOWN_GRACE`] for open requests.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(Error::Serve(e.to_string())),
            Ok(Err(e)) => Err(Error::Serve(e.to_string())),
            Err(_) => {
                task.abort();
                tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closed them");
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

fn router(app: Arc<App>, config: &Config) -> Router {
    let limit = config.limits.max_message_bytes;
    let grpc = IngestionApiServer::new(IngestionService::new(app.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(64 * 1024);
    // Layers go on the method router (not on a Router), so they wrap only
    // the gRPC path and never the fallback.
    let grpc = any_service(TooLargeAsResourceExhausted::new(grpc, limit))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(axum::middleware::map_request(mark_grpc_web));

    let mut api = Router::new()
        .route("/v1/metrics", post(http::post_metrics))
        .route("/v1/subscribe", get(subscribe::handler))
        .route("/api/collections", get(query::list))
        .route("/api/collections/{name}/rows", get(query::rows))
        .route("/api/collections/{name}/latest", get(query::latest))
        .route("/api/collections/{name}/stats", get(query::stats))
        .route("/healthz", get(http::healthz))
        .route("/metrics", get(http::metrics));
    if config.enable_fault_injection {
        api = api.route("/admin/faults", post(http::set_faults).get(http::get_faults));
    }
    let mut router = api.route(&format!("/{SERVICE_NAME}/{{*method}}"), grpc).with_state(app);
    if let Some(dir) = &config.www {
        router = router.fallback_service(ServeDir::new(dir).append_index_html_on_directories(true));
    }
    router.layer(cors())
}
