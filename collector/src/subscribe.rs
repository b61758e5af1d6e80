//! Live subscriptions over a WebSocket (`GET /v1/subscribe`).
//!
//! The client's first frame is a binary `SubscribeRequest` (within
//! `subscribe_timeout`); the server answers `Subscribed` or an `error` event
//! and a close. Afterwards every chunk stored in a subscribed collection (by
//! one of the subscribed clusters, when it names some) is pushed as a `Rows`
//! event. Each subscriber has a bounded queue; ingestion
//! never waits for it: when it is full the chunk is dropped for that
//! subscriber and counted, and the subscriber receives `Missed{collection,
//! rows}` with the exact number of rows it did not get.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use prost::Message as _;
use tokio::sync::mpsc;

use crate::listen::{AddrKey, ClientAddr};
use crate::metrics::Metrics;
use crate::pb::edgemetrics::v1::{
    Missed, Rows, SubscribeEvent, SubscribeRequest, Subscribed, SubscriptionError, subscribe_event::Event,
};
use crate::schema_map;
use crate::server::App;
use crate::store::Stored;

/// One stored chunk, as pushed to subscribers. Its frames are encoded once,
/// on first use, and shared by every subscriber.
#[derive(Debug)]
pub struct ChunkEvent {
    collection: String,
    rows: u64,
    fingerprint: u64,
    stored: Stored,
    with_schema: OnceLock<Bytes>,
    without_schema: OnceLock<Bytes>,
}

impl ChunkEvent {
    /// Wraps a stored chunk.
    pub fn new(stored: Stored) -> Self {
        Self {
            collection: stored.collection.clone(),
            rows: stored.rows,
            fingerprint: stored.schema.fingerprint,
            stored,
            with_schema: OnceLock::new(),
            without_schema: OnceLock::new(),
        }
    }

    /// Avro bytes the chunk carries.
    fn bytes(&self) -> usize {
        self.stored.avro.len()
    }

    fn frame(&self, include_schema: bool) -> Bytes {
        let cell = if include_schema { &self.with_schema } else { &self.without_schema };
        cell.get_or_init(|| {
            let ev = SubscribeEvent {
                event: Some(Event::Rows(Rows {
                    collection: self.collection.clone(),
                    schema_fingerprint: self.fingerprint,
                    schema: if include_schema { self.stored.schema.json.clone().into_bytes() } else { Vec::new() },
                    avro: self.stored.avro.clone(),
                    rows: self.rows,
                    received_at_ms: self.stored.received_at_ms,
                    cluster_id: self.stored.cluster_id.clone(),
                })),
            };
            Bytes::from(ev.encode_to_vec())
        })
        .clone()
    }
}

struct Subscriber {
    id: u64,
    collections: HashSet<String>,
    /// The clusters whose rows it receives; all when empty.
    clusters: HashSet<String>,
    /// Where it connected from, for the per-address cap.
    addr: Option<AddrKey>,
    tx: mpsc::Sender<Arc<ChunkEvent>>,
    missed: Mutex<BTreeMap<String, u64>>,
    /// Avro bytes of the chunks in its queue.
    queued_bytes: AtomicUsize,
}

/// The set of live subscribers.
pub struct Hub {
    subscribers: Mutex<Vec<Arc<Subscriber>>>,
    next_id: AtomicU64,
    max: usize,
    max_per_addr: usize,
    queue: usize,
    queue_bytes: usize,
    metrics: Arc<Metrics>,
}

/// Removes its subscriber from the hub when dropped.
struct Registration<'a> {
    hub: &'a Hub,
    sub: Arc<Subscriber>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Ok(mut subs) = self.hub.subscribers.lock() {
            subs.retain(|s| s.id != self.sub.id);
            self.hub.metrics.subscribers.store(subs.len() as u64, Ordering::Relaxed);
        }
    }
}

impl Hub {
    /// A hub for at most `max` subscribers (`max_per_addr` from one client
    /// address) with `queue` chunks and `queue_bytes` bytes of Avro each.
    pub fn new(max: usize, max_per_addr: usize, queue: usize, queue_bytes: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            subscribers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            max,
            max_per_addr,
            queue: queue.max(1),
            queue_bytes,
            metrics,
        }
    }

    /// Subscribers connected now.
    pub fn len(&self) -> usize {
        self.subscribers.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// True when no subscriber is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn register(
        &self,
        Wanted { collections, clusters }: Wanted,
        addr: Option<AddrKey>,
    ) -> Result<(Registration<'_>, mpsc::Receiver<Arc<ChunkEvent>>), String> {
        let mut subs =
            self.subscribers.lock().map_err(|_| "internal error: subscriber registry poisoned".to_owned())?;
        if subs.len() >= self.max {
            return Err(format!("too many subscribers: the limit is {} (--max-subscribers)", self.max));
        }
        if addr.is_some() && subs.iter().filter(|s| s.addr == addr).count() >= self.max_per_addr {
            return Err(format!(
                "too many subscribers from this address: the limit is {} (--max-subscribers-per-ip)",
                self.max_per_addr
            ));
        }
        let (tx, rx) = mpsc::channel(self.queue);
        let sub = Arc::new(Subscriber {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            collections,
            clusters,
            addr,
            tx,
            missed: Mutex::new(BTreeMap::new()),
            queued_bytes: AtomicUsize::new(0),
        });
        subs.push(sub.clone());
        self.metrics.subscribers.store(subs.len() as u64, Ordering::Relaxed);
        Ok((Registration { hub: self, sub }, rx))
    }

    /// Offers a stored chunk to every subscriber of its collection, never
    /// waiting: a full queue turns into a `Missed` count.
    pub fn publish(&self, event: Arc<ChunkEvent>) {
        let Ok(subs) = self.subscribers.lock() else {
            return;
        };
        for sub in subs.iter() {
            let from_cluster = sub.clusters.is_empty() || sub.clusters.contains(&event.stored.cluster_id);
            if !from_cluster || !sub.collections.contains(&event.collection) {
                continue;
            }
            // Over its bytes, the queue counts as full (one chunk larger than
            // that still goes to an empty queue).
            // Counted before it is sent, so that the subscriber taking it
            // never counts below zero.
            let queued = sub.queued_bytes.fetch_add(event.bytes(), Ordering::Relaxed);
            let sent = if queued > 0 && queued + event.bytes() > self.queue_bytes {
                Err(mpsc::error::TrySendError::Full(event.clone()))
            } else {
                sub.tx.try_send(event.clone())
            };
            if sent.is_err() {
                sub.queued_bytes.fetch_sub(event.bytes(), Ordering::Relaxed);
            }
            match sent {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if let Ok(mut missed) = sub.missed.lock() {
                        *missed.entry(event.collection.clone()).or_default() += event.rows;
                    }
                    self.metrics.missed_rows.fetch_add(event.rows, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}

fn event_frame(event: Event) -> Message {
    Message::Binary(Bytes::from(SubscribeEvent { event: Some(event) }.encode_to_vec()))
}

async fn fail(socket: &mut WebSocket, metrics: &Metrics, code: u16, message: String) {
    metrics.subscriptions_rejected.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(%message, "subscription refused");
    let mut reason = message.clone();
    // A close reason is limited to 123 bytes.
    while reason.len() > 120 {
        reason.pop();
    }
    let farewell = async {
        socket.send(event_frame(Event::Error(SubscriptionError { message }))).await?;
        socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await
    };
    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, farewell).await;
}

/// Time a client has to take the last frames before its socket is dropped.
const FAREWELL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_TRY_LATER: u16 = 1013;

/// `GET /v1/subscribe`.
pub async fn handler(
    State(app): State<Arc<App>>,
    peer: Option<Extension<ClientAddr>>,
    ws: WebSocketUpgrade,
) -> Response {
    let addr = peer.map(|p| AddrKey::of(p.0.0.ip()));
    // Let frames up to twice the limit through the WebSocket layer, so that
    // an oversized frame gets a clear error event rather than a dropped
    // connection.
    let limit = app.limits.max_subscribe_frame_bytes.saturating_mul(2).max(1024);
    ws.max_message_size(limit).max_frame_size(limit).on_upgrade(move |socket| run(app, socket, addr))
}

async fn read_request(app: &App, socket: &mut WebSocket) -> Result<SubscribeRequest, (u16, String)> {
    let deadline = tokio::time::Instant::now() + app.limits.subscribe_timeout;
    loop {
        let msg = tokio::time::timeout_at(deadline, socket.recv()).await.map_err(|_| {
            (
                CLOSE_POLICY,
                format!("no SubscribeRequest within {:?} (--subscribe-timeout)", app.limits.subscribe_timeout),
            )
        })?;
        let data = match msg {
            None => return Err((CLOSE_NORMAL, "connection closed".into())),
            Some(Err(e)) => {
                let text = e.to_string();
                if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                    let max = app.limits.max_subscribe_frame_bytes;
                    return Err((
                        CLOSE_TOO_BIG,
                        format!("frame exceeds the limit of {max} bytes (--max-subscribe-frame-bytes)"),
                    ));
                }
                return Err((CLOSE_PROTOCOL, format!("bad WebSocket frame: {text}")));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) => return Err((CLOSE_NORMAL, "connection closed".into())),
            Some(Ok(Message::Text(_))) => {
                return Err((
                    CLOSE_PROTOCOL,
                    "the first frame must be a binary protobuf SubscribeRequest, got a text frame".into(),
                ));
            }
            Some(Ok(Message::Binary(b))) => b,
        };
        let max = app.limits.max_subscribe_frame_bytes;
        if data.len() > max {
            return Err((
                CLOSE_TOO_BIG,
                format!("frame of {} bytes exceeds the limit of {max} bytes (--max-subscribe-frame-bytes)", data.len()),
            ));
        }
        return SubscribeRequest::decode(data.as_ref())
            .map_err(|e| (CLOSE_PROTOCOL, format!("the first frame is not a protobuf SubscribeRequest: {e}")));
    }
}

/// What a subscriber asked for: collections, and the clusters whose rows it
/// wants (all when empty).
struct Wanted {
    collections: HashSet<String>,
    clusters: HashSet<String>,
}

fn check_request(app: &App, req: &SubscribeRequest) -> Result<Wanted, (u16, String)> {
    let grant = app
        .tokens
        .check_reader(app.tokens.check(&req.token))
        .and_then(|grant| crate::auth::validate_cluster_id(&req.cluster_id).map(|()| grant))
        .map_err(|e| (CLOSE_POLICY, e.to_string()))?;
    app.rates.request_with(grant.id).map_err(|l| (CLOSE_TRY_LATER, l.message))?;
    if req.collections.is_empty() {
        return Err((CLOSE_POLICY, "no collections named in the SubscribeRequest".into()));
    }
    let max = app.limits.max_subscribe_collections;
    if req.collections.len() > max {
        return Err((
            CLOSE_POLICY,
            format!("{} collections named, the limit is {max} (--max-subscribe-collections)", req.collections.len()),
        ));
    }
    let mut collections = HashSet::new();
    for c in &req.collections {
        schema_map::check_collection_name(c).map_err(|e| (CLOSE_POLICY, e))?;
        grant.check_collection(c).map_err(|e| (CLOSE_POLICY, e.to_string()))?;
        collections.insert(c.clone());
    }
    if req.from_clusters.len() > max {
        return Err((
            CLOSE_POLICY,
            format!("{} clusters named, the limit is {max} (--max-subscribe-collections)", req.from_clusters.len()),
        ));
    }
    let mut clusters = HashSet::new();
    for (i, cluster) in req.from_clusters.iter().enumerate() {
        if let Some(problem) = crate::auth::cluster_id_problem(cluster) {
            return Err((CLOSE_POLICY, format!("from_clusters[{i}] {cluster:?}: {problem}")));
        }
        grant.check_cluster(cluster).map_err(|e| (CLOSE_POLICY, e.to_string()))?;
        clusters.insert(cluster.clone());
    }
    // A token limited to some clusters sees only their rows.
    if clusters.is_empty()
        && let Some(allowed) = &grant.clusters
    {
        clusters.clone_from(allowed);
    }
    Ok(Wanted { collections, clusters })
}

async fn run(app: Arc<App>, mut socket: WebSocket, addr: Option<AddrKey>) {
    let metrics = app.metrics.clone();
    let req = match read_request(&app, &mut socket).await {
        Ok(r) => r,
        Err((CLOSE_NORMAL, _)) => return,
        Err((code, msg)) => return fail(&mut socket, &metrics, code, msg).await,
    };
    let wanted = match check_request(&app, &req) {
        Ok(wanted) => wanted,
        Err((code, msg)) => return fail(&mut socket, &metrics, code, msg).await,
    };
    let (registration, mut rx) = match app.hub.register(wanted, addr) {
        Ok(r) => r,
        Err(msg) => return fail(&mut socket, &metrics, CLOSE_TRY_LATER, msg).await,
    };
    let mut names: Vec<String> = registration.sub.collections.iter().cloned().collect();
    names.sort();
    if socket.send(event_frame(Event::Subscribed(Subscribed { collections: names }))).await.is_err() {
        return;
    }
    let mut sent_fingerprints: HashSet<u64> = HashSet::new();
    let mut shutdown = app.shutdown.clone();
    let send_timeout = app.limits.subscriber_send_timeout;
    // A subscriber that does not take a frame in time has stopped reading:
    // its connection is dropped rather than held open.
    let stalled = || {
        metrics.subscribers_dropped.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("dropping a subscriber that stopped reading");
    };
    loop {
        match tokio::time::timeout(send_timeout, send_missed(&mut socket, &registration.sub)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => return stalled(),
        }
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { return };
                registration.sub.queued_bytes.fetch_sub(ev.bytes(), Ordering::Relaxed);
                let first = sent_fingerprints.insert(ev.fingerprint);
                match tokio::time::timeout(send_timeout, socket.send(Message::Binary(ev.frame(first)))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => return stalled(),
                }
                metrics.frames_sent.fetch_add(1, Ordering::Relaxed);
            }
            msg = socket.recv() => match msg {
                None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(_)) => {
                    return fail(
                        &mut socket,
                        &metrics,
                        CLOSE_PROTOCOL,
                        "unexpected frame after the subscription started".into(),
                    )
                    .await;
                }
            },
            _ = crate::server::stopped(&mut shutdown) => {
                let close = Message::Close(Some(CloseFrame { code: CLOSE_GOING_AWAY, reason: "server shutting down".into() }));
                let _ = tokio::time::timeout(FAREWELL_TIMEOUT, socket.send(close)).await;
                return;
            }
        }
    }
}

async fn send_missed(socket: &mut WebSocket, sub: &Subscriber) -> Result<(), axum::Error> {
    let missed = match sub.missed.lock() {
        Ok(mut m) if !m.is_empty() => std::mem::take(&mut *m),
        _ => return Ok(()),
    };
    for (collection, rows) in missed {
        socket.send(event_frame(Event::Missed(Missed { collection, rows }))).await?;
    }
    Ok(())
}
