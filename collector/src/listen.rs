//! Accepting and serving connections: caps on how many are open (in all
//! and per client address), deadlines for slow clients, and a shutdown
//! bounded in time.
//!
//! `axum::serve` runs hyper without a timer, so no deadline of hyper's ever
//! fires: a client that sends a header byte every few seconds, or connects
//! and says nothing, keeps its connection as long as it likes. This loop
//! drives hyper-util's connection builder itself, with a timer, so that
//! - an HTTP/1.1 request's headers must arrive within `--header-timeout`,
//!   which also closes a keep-alive connection idle that long;
//! - a connection that has not sent a first request within
//!   `--header-timeout`, or has had no request in flight for
//!   `--idle-timeout` (HTTP/2 has no header deadline), is asked to close,
//!   and dropped if it is still open `--shutdown-grace` later;
//! - a connection that moved no byte either way for `--idle-timeout`, even
//!   with a request in flight (a client that stopped reading its answer),
//!   or whose answers gave hyper no frame for that long (an HTTP/2 client
//!   that keeps its window shut while it answers pings), is dropped;
//! - the connection's place under the caps lives in its stream, so a
//!   WebSocket keeps it after the upgrade;
//! - HTTP/2 connections carry at most `--max-streams-per-connection`
//!   requests at once;
//! - at shutdown every connection is asked to finish, and whatever is still
//!   open after `--shutdown-grace` is dropped.
//!
//! Request bodies have their own deadline (`--body-timeout`), enforced where
//! they are read ([`crate::http`], [`crate::grpc`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::ConnectionLimits;
use crate::metrics::Metrics;

/// The client address of a request, as a request extension.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// The part of a client address that limits count against: an IPv4
/// address, or an IPv6 address's /64 (what one subscriber is usually given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrKey(u128);

impl AddrKey {
    /// The key of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u128::from(u32::from(v4))),
                None => Self(u128::from(v6) & !((1u128 << 64) - 1) | 1 << 32),
            },
        }
    }
}

/// Counts open connections, in all and per client address.
pub struct ConnectionGate {
    max: usize,
    max_per_addr: usize,
    open: AtomicUsize,
    per_addr: Mutex<HashMap<AddrKey, usize>>,
    metrics: Arc<Metrics>,
}

/// An admitted connection; dropping it gives its place back.
pub struct Admission {
    gate: Arc<ConnectionGate>,
    key: AddrKey,
}

impl ConnectionGate {
    /// A gate for at most `max` connections, `max_per_addr` from one address.
    pub fn new(limits: &ConnectionLimits, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            max: limits.max_connections,
            max_per_addr: limits.max_connections_per_ip,
            open: AtomicUsize::new(0),
            per_addr: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// Admits a connection from `peer`, or closes it (by dropping it) and
    /// counts it when a cap is reached.
    pub fn admit<Io>(self: &Arc<Self>, io: Io, peer: SocketAddr) -> Option<Accepted<Io>> {
        match self.try_admit(peer.ip()) {
            Ok(admission) => Some(Accepted { io, peer, admission }),
            Err(cap) => {
                self.metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, cap, "connection refused");
                None
            }
        }
    }

    fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, &'static str> {
        let key = AddrKey::of(ip);
        let mut per_addr = self.per_addr.lock().map_err(|_| "poisoned")?;
        if self.open.load(Ordering::Relaxed) >= self.max {
            return Err("--max-connections");
        }
        let count = per_addr.entry(key).or_default();
        if *count >= self.max_per_addr {
            return Err("--max-connections-per-ip");
        }
        *count += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        self.metrics.connections.fetch_add(1, Ordering::Relaxed);
        Ok(Admission { gate: self.clone(), key })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Ok(mut per_addr) = self.gate.per_addr.lock()
            && let Some(count) = per_addr.get_mut(&self.key)
        {
            *count -= 1;
            if *count == 0 {
                per_addr.remove(&self.key);
            }
        }
        self.gate.open.fetch_sub(1, Ordering::Relaxed);
        self.gate.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection past the gate: its stream, client address and place.
pub struct Accepted<Io> {
    /// The stream.
    pub io: Io,
    /// The client address.
    pub peer: SocketAddr,
    /// Its place under the caps, held as long as the connection is open.
    pub admission: Admission,
}

/// What a connection is doing: requests in flight, and when the last one
/// started or ended (milliseconds since the connection opened).
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    last_ms: AtomicU64,
    /// Response bodies being sent, and when one last gave hyper a frame.
    responding: AtomicUsize,
    body_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn touch_body(&self) {
        self.body_ms.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// When the response bodies being sent count as stuck: none gave hyper
    /// a frame for `idle` (an HTTP/2 client that keeps its window shut
    /// while answering pings). None when no body is being sent.
    fn body_stuck_at(&self, idle: Duration) -> Option<Instant> {
        (self.responding.load(Ordering::Relaxed) > 0)
            .then(|| self.opened + Duration::from_millis(self.body_ms.load(Ordering::Relaxed)) + idle)
    }

    /// When the connection counts as idle: `header` after it opened if no
    /// request came, `idle` after the last request ended otherwise; None
    /// while a request is in flight.
    fn idle_at(&self, header: Duration, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Some(if self.requests.load(Ordering::Relaxed) == 0 { last + header } else { last + idle })
    }
}

/// Marks a request in flight until its response body is done or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.requests.fetch_add(1, Ordering::Relaxed);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.touch();
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A response body that holds its request's [`InFlight`] mark and notes
/// when it gives hyper a frame.
struct Tracked {
    inner: Body,
    in_flight: InFlight,
}

impl Tracked {
    fn new(inner: Body, in_flight: InFlight) -> Self {
        in_flight.0.responding.fetch_add(1, Ordering::Relaxed);
        in_flight.0.touch_body();
        Self { inner, in_flight }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.in_flight.0.responding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl hyper::body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if frame.is_ready() {
            self.in_flight.0.touch_body();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Something that accepts connections through a [`ConnectionGate`]: plain
/// TCP, or TLS after the handshake.
pub trait Accept: Send + 'static {
    /// The connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next admitted connection.
    fn accept(&mut self) -> impl Future<Output = Accepted<Self::Io>> + Send;
}

/// Plain TCP connections, admitted as they are accepted.
pub struct TcpAccept {
    /// The bound listener.
    pub listener: tokio::net::TcpListener,
    /// The caps.
    pub gate: Arc<ConnectionGate>,
}

impl Accept for TcpAccept {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> Accepted<Self::Io> {
        loop {
            match self.listener.accept().await {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    if let Some(accepted) = self.gate.admit(tcp, peer) {
                        return accepted;
                    }
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of
                    // spinning (as axum's own loop does).
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Serves `router` on every connection `listener` accepts until `shutdown`
/// turns true, then lets requests finish for up to the grace period.
pub async fn serve<L: Accept>(
    mut listener: L,
    router: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams_per_connection)
        .max_pending_accept_reset_streams(Some(limits.max_streams_per_connection as usize))
        .max_header_list_size(64 * 1024);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = crate::server::stopped(&mut shutdown) => break,
        };
        let Accepted { io, peer, admission } = accepted;
        let (router, builder, shutdown) = (router.clone(), builder.clone(), shutdown.clone());
        connections.spawn(connection(io, peer, router, builder, limits.clone(), shutdown, admission));
    }
    // Stop accepting, let each connection finish its requests, then drop
    // the ones that did not in time.
    drop(listener);
    let drained =
        tokio::time::timeout(limits.shutdown_grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(open = connections.len(), "connections still open after the shutdown grace; closing them");
        connections.shutdown().await;
    }
}

async fn connection<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: I,
    peer: SocketAddr,
    router: Router,
    builder: Arc<Builder<TokioExecutor>>,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    admission: Admission,
) {
    let opened = Instant::now();
    let activity = Arc::new(Activity {
        opened,
        in_flight: AtomicUsize::new(0),
        requests: AtomicU64::new(0),
        last_ms: AtomicU64::new(0),
        responding: AtomicUsize::new(0),
        body_ms: AtomicU64::new(0),
    });
    let progress = Arc::new(Progress { opened, last_ms: AtomicU64::new(0) });
    // The stream carries the connection's place under the caps: an upgraded
    // WebSocket keeps it after hyper is done with the connection.
    let io = Watched { io, progress: progress.clone(), _admission: admission };
    let tracker = activity.clone();
    let service = tower::service_fn(move |req: Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ClientAddr(peer));
        let in_flight = InFlight::start(&tracker);
        let router = router.clone();
        async move {
            let res = router.oneshot(req).await.unwrap_or_else(|never| match never {});
            Ok::<_, Infallible>(res.map(|inner| Body::new(Tracked::new(inner, in_flight))))
        }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let mut closing: Option<Instant> = None;
    loop {
        let now = Instant::now();
        // Idle: no request for a while (then asked to close). Stuck: no byte
        // read or written for --idle-timeout while a request is in flight
        // or the connection is closing (a client that stopped reading its
        // answer: hyper may hold the rest of a body after the handler is
        // done with it). Closing: asked to close and still open after the
        // grace (an HTTP/2 client that never acknowledges the GOAWAY).
        let idle_at = activity.idle_at(limits.header_timeout, limits.idle_timeout);
        let body_stuck_at = activity.body_stuck_at(limits.idle_timeout);
        let stuck_at = (progress.last() + limits.idle_timeout).min(body_stuck_at.unwrap_or(far_future()));
        let deadline = match (closing, idle_at) {
            (Some(since), _) => (since + limits.shutdown_grace).min(stuck_at),
            (None, Some(at)) => at,
            (None, None) => stuck_at,
        };
        // Requests start and end without telling this loop: it looks again
        // now and then.
        let wake = deadline.min(now + CHECK_EVERY);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = crate::server::stopped(&mut shutdown), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(now);
            }
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                let body_stuck = activity.body_stuck_at(limits.idle_timeout).is_some_and(|at| at <= now);
                let stuck = progress.last() + limits.idle_timeout <= now || body_stuck;
                let busy = activity.idle_at(limits.header_timeout, limits.idle_timeout).is_none();
                match closing {
                    Some(since) if stuck || since + limits.shutdown_grace <= now => {
                        tracing::debug!(%peer, "dropping a connection that did not close in time");
                        return;
                    }
                    None if busy && stuck => {
                        tracing::debug!(%peer, "dropping a connection that made no progress");
                        return;
                    }
                    None if activity.idle_at(limits.header_timeout, limits.idle_timeout).is_some_and(|at| at <= now) => {
                        tracing::debug!(%peer, "closing an idle connection");
                        conn.as_mut().graceful_shutdown();
                        closing = Some(now);
                    }
                    _ => {}
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// How often a connection's deadlines are looked at again.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// When a connection last read or wrote a byte (milliseconds since it
/// opened).
struct Progress {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    fn touch(&self) {
        self.last_ms.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

pin_project_lite::pin_project! {
    /// A connection's stream, noting when bytes move, and holding the
    /// connection's place under the caps as long as it lives.
    struct Watched<I> {
        #[pin]
        io: I,
        progress: Arc<Progress>,
        _admission: Admission,
    }
}

impl<I: AsyncRead> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.io.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.progress.touch();
        }
        result
    }
}

impl<I: AsyncWrite> AsyncWrite for Watched<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let result = this.io.poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.progress.touch();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let result = this.io.poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.progress.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
