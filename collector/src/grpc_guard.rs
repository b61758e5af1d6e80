//! What the gRPC service sees of a request, checked before and as it
//! arrives.
//!
//! - The token, cluster id and the token's request rate are checked from
//!   the headers before any of the body is read (the handler gets the
//!   [`Writer`] as a request extension): a client without a token cannot
//!   make the collector receive or decode anything.
//! - A unary call (`WriteMetricsBatch`) carries exactly one message. tonic
//!   reads the first and then decodes and drops any others while it looks
//!   for trailers, so a second message would be ignored without a word, and
//!   a body could go on for ever. Here the second message's header fails the
//!   call with INVALID_ARGUMENT. Its chunks are counted on the wire
//!   ([`crate::wire_scan`]) before tonic decodes them.
//! - A message must arrive within `--body-timeout` once its first byte did
//!   (and a unary call's whole body within it of the request), so a client
//!   trickling bytes cannot hold a request open: DEADLINE_EXCEEDED. The
//!   pause between two messages of a stream is the handler's
//!   `--stream-idle-timeout`.
//! - The body's bytes are held on the request's in-flight [`Ticket`] as
//!   they arrive ([`crate::inflight`]); the ticket is a request extension
//!   and lives until the answer is sent.
//! - tonic's own "message length too large" (OUT_OF_RANGE, returned before
//!   the handler runs for unary calls) and its refusal to decompress past
//!   the limit become RESOURCE_EXHAUSTED naming the limit.
//! - A compressed message (gzip or zstd) is decompressed as it arrives by a
//!   decompressor of the guard's own ([`crate::inflate_count`]), into a
//!   count only: what it decompresses to is held on the ticket as it is
//!   made, before tonic decompresses it for real, and a message past
//!   `--max-message-bytes` once decompressed (or a batch past
//!   `--max-chunks-per-request`) is refused at that byte.
//!
//! The body is passed through untouched; only the 5-byte frame headers of
//! the gRPC framing (and a batch's top-level protobuf tags) are read.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;
use tonic::Status;
use tonic::codegen::{BoxFuture, Service};

use crate::auth::Writer;
use crate::grpc::GrpcWebMarker;
use crate::inflate_count::{InflateCounter, Refusal};
use crate::inflight::{HoldError, Ticket};
use crate::listen::{AddrKey, ClientAddr};
use crate::metrics::Transport;
use crate::server::App;
use crate::wire_scan::ChunkCounter;

/// The client-streaming method; every other method is unary.
const STREAMING_PATH: &str = "/metrics.v1beta.IngestionAPI/WriteMetrics";

/// The unary method whose message is a batch of chunks.
const BATCH_PATH: &str = "/metrics.v1beta.IngestionAPI/WriteMetricsBatch";

/// The gRPC service with its requests guarded.
#[derive(Clone)]
pub struct GrpcGuard<S> {
    inner: S,
    app: Arc<App>,
}

impl<S> GrpcGuard<S> {
    /// Wraps the gRPC service.
    pub fn new(inner: S, app: Arc<App>) -> Self {
        Self { inner, app }
    }
}

impl<S, B, RB> Service<Request<B>> for GrpcGuard<S>
where
    S: Service<Request<GuardedBody<B>>, Response = Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes>,
    RB: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let app = self.app.clone();
        let header = |name: &str| req.headers().get(name).map(HeaderValue::as_bytes);
        let path = req.uri().path();
        let writer = match app.authenticate(header("authorization"), header("x-cluster-id")) {
            Ok(writer) => writer,
            Err(e) => {
                let transport = if req.extensions().get::<GrpcWebMarker>().is_some() {
                    Transport::GrpcWeb
                } else if path == STREAMING_PATH {
                    Transport::GrpcStream
                } else {
                    Transport::GrpcBatch
                };
                app.metrics.request(transport, e.outcome());
                let status = e.to_status();
                return Box::pin(async move { Ok(status.into_http()) });
            }
        };
        let unary = path != STREAMING_PATH;
        if header("grpc-encoding").is_some_and(|e| e != b"identity") {
            app.metrics.grpc_compressed_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let counting = Counting {
            max_chunks: (path == BATCH_PATH).then_some(app.limits.max_chunks_per_request),
            plain: (path == BATCH_PATH).then(|| ChunkCounter::new(app.limits.max_chunks_per_request)),
            encoding: header("grpc-encoding").map(<[u8]>::to_vec),
            inflater: None,
            max_message: app.limits.max_message_bytes,
        };
        let addr = req.extensions().get::<ClientAddr>().map(|a| AddrKey::of(a.0.ip()));
        let ticket = app.inflight.ticket(addr);
        req.extensions_mut().insert::<Writer>(writer);
        req.extensions_mut().insert(ticket.clone());
        let timeout = app.body_timeout;
        let limit = app.limits.max_message_bytes;
        let fut = self.inner.call(req.map(|body| GuardedBody::new(body, unary, timeout, ticket.clone(), counting)));
        Box::pin(async move {
            let mut res = fut.await?;
            // What the request held is given back once its answer is ready.
            drop(ticket);
            let h = res.headers_mut();
            let message = h.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let is_too_large = (h.get("grpc-status").is_some_and(|v| v == "11")
                && message.contains("message%20length%20too%20large"))
                || (h.get("grpc-status").is_some_and(|v| v == "8")
                    && message.contains("exceeded%20while%20decompressing"));
            if is_too_large {
                h.insert("grpc-status", HeaderValue::from_static("8"));
                let msg = format!(
                    "message exceeds the limit of {limit} bytes (--max-message-bytes), decompressed if it was compressed"
                )
                .replace(' ', "%20");
                if let Ok(v) = HeaderValue::from_str(&msg) {
                    h.insert("grpc-message", v);
                }
            }
            Ok(res)
        })
    }
}

/// How messages are measured as they arrive.
pub struct Counting {
    /// A batch's chunks in an uncompressed message, on the wire (None: not
    /// a batch).
    plain: Option<ChunkCounter>,
    /// A batch's limit on chunks.
    max_chunks: Option<u64>,
    /// The request's `grpc-encoding`.
    encoding: Option<Vec<u8>>,
    /// A compressed message's decompressed bytes (and a batch's chunks),
    /// through a decompressor of their own.
    inflater: Option<InflateCounter>,
    /// What a message may decompress to (`--max-message-bytes`).
    max_message: usize,
}

pin_project_lite::pin_project! {
    /// A request body that fails when it breaks the rules above.
    pub struct GuardedBody<B> {
        #[pin]
        inner: B,
        unary: bool,
        timeout: Duration,
        // Armed while a message is due: for a unary call from the start to
        // the end of the body, for a stream from a message's first byte to
        // its last.
        deadline: Option<Pin<Box<Sleep>>>,
        header: [u8; 5],
        header_len: usize,
        remaining: u64,
        messages: u32,
        ticket: Arc<Ticket>,
        counting: Counting,
        // The message being received is compressed.
        compressed: bool,
    }
}

impl<B> GuardedBody<B> {
    fn new(inner: B, unary: bool, timeout: Duration, ticket: Arc<Ticket>, counting: Counting) -> Self {
        let deadline = unary.then(|| Box::pin(tokio::time::sleep(timeout)));
        Self {
            inner,
            unary,
            timeout,
            deadline,
            header: [0; 5],
            header_len: 0,
            remaining: 0,
            messages: 0,
            ticket,
            counting,
            compressed: false,
        }
    }
}

fn fail(status: Status) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    Poll::Ready(Some(Err(Box::new(status))))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let frame = match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                if let Some(deadline) = this.deadline.as_mut() {
                    ready!(deadline.as_mut().poll(cx));
                    let what = if *this.unary { "the request body" } else { "a message of the stream" };
                    let status = Status::deadline_exceeded(format!(
                        "{what} did not arrive within {:?} (--body-timeout)",
                        this.timeout
                    ));
                    *this.deadline = None;
                    return Poll::Ready(Some(Err(Box::new(status))));
                }
                return Poll::Pending;
            }
        };
        let frame = match frame {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let mut rest = &data[..];
            while !rest.is_empty() {
                if *this.remaining > 0 {
                    let n = rest.len().min(usize::try_from(*this.remaining).unwrap_or(usize::MAX));
                    if let Err(HoldError::Busy(busy) | HoldError::TooLarge(busy)) = this.ticket.receive(n) {
                        let mut status = Status::unavailable(busy);
                        status.metadata_mut().insert("retry-after", tonic::metadata::MetadataValue::from(1u64));
                        return fail(status);
                    }
                    let counting = &mut *this.counting;
                    let last = n as u64 == *this.remaining;
                    let counted = match (&mut counting.inflater, &mut counting.plain) {
                        (Some(inflater), _) => inflater
                            .feed(&rest[..n])
                            .and_then(|made| Ok(made + if last { inflater.finish()? } else { 0 })),
                        (None, Some(plain)) if !*this.compressed => {
                            plain.feed(&rest[..n]).map(|()| 0).map_err(Refusal::TooManyChunks)
                        }
                        _ => Ok(0),
                    };
                    if last {
                        // Its decompressor's window would stay resident until the next message.
                        counting.inflater = None;
                    }
                    match counted {
                        // What the compressed bytes decompress to is held as it is made.
                        Ok(made) => {
                            if let Err(HoldError::Busy(busy) | HoldError::TooLarge(busy)) = this.ticket.receive(made) {
                                let mut status = Status::unavailable(format!("once decompressed, {busy}"));
                                status.metadata_mut().insert("retry-after", tonic::metadata::MetadataValue::from(1u64));
                                return fail(status);
                            }
                        }
                        Err(Refusal::TooManyChunks(too_many)) => return fail(Status::invalid_argument(too_many)),
                        Err(Refusal::TooLarge) => {
                            return fail(Status::resource_exhausted(format!(
                                "message exceeds the limit of {} bytes (--max-message-bytes) once decompressed",
                                counting.max_message
                            )));
                        }
                        Err(Refusal::Corrupt(why)) => {
                            return fail(Status::invalid_argument(format!(
                                "the compressed message does not decompress: {why}"
                            )));
                        }
                    }
                    rest = &rest[n..];
                    *this.remaining -= n as u64;
                    if *this.remaining == 0 {
                        this.ticket.message_received();
                    }
                } else {
                    if *this.header_len == 0 {
                        *this.messages += 1;
                        if *this.unary && *this.messages > 1 {
                            let status = Status::invalid_argument(
                                "a unary call carries one message; this request carries more (send a batch's chunks \
                                 in one WriteMetricsBatchRequest, or stream them with WriteMetrics)",
                            );
                            return fail(status);
                        }
                        if !*this.unary {
                            *this.deadline = Some(Box::pin(tokio::time::sleep(*this.timeout)));
                        }
                    }
                    let n = rest.len().min(5 - *this.header_len);
                    this.header[*this.header_len..*this.header_len + n].copy_from_slice(&rest[..n]);
                    *this.header_len += n;
                    rest = &rest[n..];
                    if *this.header_len == 5 {
                        *this.header_len = 0;
                        let h = *this.header;
                        *this.remaining = u64::from(u32::from_be_bytes([h[1], h[2], h[3], h[4]]));
                        *this.compressed = h[0] & 1 == 1;
                        let counting = &mut *this.counting;
                        counting.inflater = match (&counting.encoding, *this.compressed) {
                            (Some(encoding), true) => {
                                InflateCounter::new(encoding, counting.max_chunks, counting.max_message)
                            }
                            _ => None,
                        };
                        if *this.remaining == 0 {
                            this.ticket.message_received();
                        }
                    }
                }
                let message_done = *this.remaining == 0 && *this.header_len == 0;
                if message_done && !*this.unary {
                    *this.deadline = None;
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
