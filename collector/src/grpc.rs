//! `metrics.v1beta.IngestionAPI` over gRPC and gRPC-web.
//!
//! - `WriteMetrics` (client streaming): every message is validated and stored
//!   in its own transaction as it arrives. On a bad message the call fails
//!   with the chunk's index and problem; the chunks before it stay stored
//!   (they were processed, so acknowledged). The failure carries
//!   `x-chunks-acked` and `x-rows-stored` metadata (trailers) and its message
//!   says how many earlier chunks were stored.
//! - `WriteMetricsBatch` (unary): all chunks are validated, then stored in ONE
//!   transaction; a bad chunk rejects the whole batch (`chunk <i>: ...`) and
//!   nothing of it is stored.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status, Streaming};

use crate::auth::Writer;
use crate::inflight::Ticket;
use crate::ingest::{Ack, IngestError};
use crate::listen::ClientAddr;
use crate::metrics::{Outcome, Transport};
use crate::pb::metrics::v1beta::ingestion_api_server::IngestionApi;
use crate::pb::metrics::v1beta::{WriteMetricsBatchRequest, WriteMetricsRequest, WriteMetricsResponse};
use crate::server::App;

/// Request extension set for gRPC-web requests (before tonic-web rewrites
/// the content type), so that metrics can tell the transports apart.
#[derive(Clone, Copy, Debug)]
pub struct GrpcWebMarker;

/// The gRPC service.
pub struct IngestionService {
    app: Arc<App>,
}

impl IngestionService {
    /// A service over the shared state.
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    /// The writer [`crate::grpc_guard`] authenticated from the headers, or
    /// (served without the guard) the metadata's.
    fn writer<T>(&self, request: &tonic::Request<T>) -> Result<Writer, IngestError> {
        if let Some(writer) = request.extensions().get::<Writer>() {
            return Ok(writer.clone());
        }
        let md: &MetadataMap = request.metadata();
        let auth = md.get("authorization").map(|v| v.as_bytes());
        let cluster = md.get("x-cluster-id").map(|v| v.as_bytes());
        self.app.authenticate(auth, cluster)
    }

    fn finish(
        &self,
        transport: Transport,
        result: Result<Ack, IngestError>,
    ) -> Result<tonic::Response<WriteMetricsResponse>, IngestError> {
        match result {
            Ok(ack) => {
                self.app.metrics.request(transport, Outcome::Ok);
                Ok(tonic::Response::new(WriteMetricsResponse {
                    success: true,
                    error: None,
                    rows_stored: ack.rows_stored,
                    chunks_acked: ack.chunks_acked,
                }))
            }
            Err(e) => {
                self.app.metrics.request(transport, e.outcome());
                Err(e)
            }
        }
    }
}

fn transport_of<T>(req: &tonic::Request<T>, native: Transport) -> Transport {
    if req.extensions().get::<GrpcWebMarker>().is_some() { Transport::GrpcWeb } else { native }
}

fn peer_of<T>(req: &tonic::Request<T>) -> Option<IpAddr> {
    req.extensions().get::<ClientAddr>().map(|a| a.0.ip())
}

/// The refusal of a message over `--max-message-bytes`: tonic's on the wire
/// or once decompressed, or the guard's once decompressed.
fn too_large(status: &Status) -> bool {
    (status.code() == Code::OutOfRange && status.message().contains("message length too large"))
        || (status.code() == Code::ResourceExhausted
            && (status.message().contains("exceeded while decompressing")
                || status.message().contains("(--max-message-bytes) once decompressed")))
}

fn with_progress(mut status: Status, ack: Ack) -> Status {
    let md = status.metadata_mut();
    md.insert("x-chunks-acked", MetadataValue::from(ack.chunks_acked));
    md.insert("x-rows-stored", MetadataValue::from(ack.rows_stored));
    status
}

#[tonic::async_trait]
impl IngestionApi for IngestionService {
    async fn write_metrics(
        &self,
        request: tonic::Request<Streaming<WriteMetricsRequest>>,
    ) -> Result<tonic::Response<WriteMetricsResponse>, Status> {
        let transport = transport_of(&request, Transport::GrpcStream);
        let peer = peer_of(&request);
        let ticket = request.extensions().get::<Arc<Ticket>>().cloned();
        let result = async {
            let writer = self.writer(&request)?;
            self.app.injected_fault()?;
            Ok(writer)
        }
        .await;
        let writer = match result {
            Ok(w) => w,
            Err(e) => return self.finish(transport, Err(e)).map_err(|e| e.to_status()),
        };
        let mut stream = request.into_inner();
        let mut ack = Ack::default();
        let mut index = 0usize;
        let idle = self.app.limits.stream_idle_timeout;
        let mut shutdown = self.app.shutdown.clone();
        // Pipelining: chunk N is stored while chunk N+1 is received and
        // validated. SQLite stores one at a time (its own transaction, in
        // order); ClickHouse takes several of a stream's chunks in one insert
        // (see clickhouse::batcher), so more are in flight. They are counted
        // in order: a failure acknowledges the chunks before it only.
        let depth = self.app.store.stream_depth();
        let mut in_flight: VecDeque<JoinHandle<Result<Ack, IngestError>>> = VecDeque::with_capacity(depth);
        let fail = |e: IngestError, ack: Ack| {
            self.app.metrics.request(transport, e.outcome());
            Err(with_progress(stored_before(e, ack).to_status(), ack))
        };
        loop {
            let next = tokio::select! {
                r = tokio::time::timeout(idle, stream.message()) => r,
                _ = crate::server::stopped(&mut shutdown) => {
                    if let Err(e) = settle(&mut in_flight, &mut ack, &ticket).await {
                        return fail(e, ack);
                    }
                    return fail(IngestError::Unavailable("server shutting down".into()), ack);
                }
            };
            let msg = match next {
                Err(_) => {
                    if let Err(e) = settle(&mut in_flight, &mut ack, &ticket).await {
                        return fail(e, ack);
                    }
                    self.app.metrics.request(transport, Outcome::DeadlineExceeded);
                    return Err(with_progress(
                        Status::deadline_exceeded(format!(
                            "no message for {idle:?} (--stream-idle-timeout) after chunk {index}; \
                             {} earlier chunks of this stream were stored",
                            ack.chunks_acked
                        )),
                        ack,
                    ));
                }
                Ok(Ok(Some(msg))) => msg,
                Ok(Ok(None)) => break,
                Ok(Err(status)) => {
                    if let Err(e) = settle(&mut in_flight, &mut ack, &ticket).await {
                        return fail(e, ack);
                    }
                    if status.code() == Code::DeadlineExceeded {
                        self.app.metrics.request(transport, Outcome::DeadlineExceeded);
                        let message = format!(
                            "chunk {index}: {}; {} earlier chunks of this stream were stored",
                            status.message(),
                            ack.chunks_acked
                        );
                        return Err(with_progress(Status::deadline_exceeded(message), ack));
                    }
                    let e = if too_large(&status) {
                        IngestError::TooLarge(format!(
                            "chunk {index}: message exceeds the limit of {} bytes (--max-message-bytes), \
                             decompressed if it was compressed",
                            self.app.limits.max_message_bytes
                        ))
                    } else if status.code() == Code::InvalidArgument {
                        IngestError::Invalid(format!("chunk {index}: {}", status.message()))
                    } else if status.code() == Code::Unavailable {
                        IngestError::Busy(format!("chunk {index}: {}", status.message()))
                    } else {
                        IngestError::Invalid(format!("chunk {index}: cannot read the message: {}", status.message()))
                    };
                    return fail(e, ack);
                }
            };
            let messages = vec![msg];
            let validated = match self.app.admit(&writer, peer, &messages, index) {
                Ok(()) => self.app.validate(messages, index, ticket.clone()).await,
                Err(e) => Err(e),
            };
            while in_flight.len() >= depth {
                if let Err(e) = settle_oldest(&mut in_flight, &mut ack, &ticket).await {
                    drain(&mut in_flight).await;
                    return fail(e, ack);
                }
            }
            let valid = match validated {
                Ok(v) => v,
                Err(e) => {
                    // The chunks before it are stored (or failed first) before the answer.
                    return match settle(&mut in_flight, &mut ack, &ticket).await {
                        Err(earlier) => fail(earlier, ack),
                        Ok(()) => fail(e, ack),
                    };
                }
            };
            let (app, cluster) = (self.app.clone(), writer.cluster.clone());
            in_flight.push_back(tokio::spawn(async move { app.store(&cluster, valid, index).await }));
            index += 1;
        }
        if let Err(e) = settle(&mut in_flight, &mut ack, &ticket).await {
            return fail(e, ack);
        }
        self.finish(transport, Ok(ack)).map_err(|e| e.to_status())
    }

    async fn write_metrics_batch(
        &self,
        request: tonic::Request<WriteMetricsBatchRequest>,
    ) -> Result<tonic::Response<WriteMetricsResponse>, Status> {
        let transport = transport_of(&request, Transport::GrpcBatch);
        let peer = peer_of(&request);
        let ticket = request.extensions().get::<Arc<Ticket>>().cloned();
        let result = async {
            let writer = self.writer(&request)?;
            self.app.injected_fault()?;
            self.app.ingest(&writer, peer, request.into_inner().chunks, 0, ticket).await
        }
        .await;
        self.finish(transport, result).map_err(|e| e.to_status())
    }
}

/// Waits for every chunk being stored, oldest first, counting them.
async fn settle(
    in_flight: &mut VecDeque<JoinHandle<Result<Ack, IngestError>>>,
    ack: &mut Ack,
    ticket: &Option<Arc<Ticket>>,
) -> Result<(), IngestError> {
    while !in_flight.is_empty() {
        if let Err(e) = settle_oldest(in_flight, ack, ticket).await {
            drain(in_flight).await;
            return Err(e);
        }
    }
    Ok(())
}

/// Waits for the chunks still being stored after one failed, without
/// counting them (a stream acknowledges the chunks before its first
/// failure): nothing goes on storing after the answer.
async fn drain(in_flight: &mut VecDeque<JoinHandle<Result<Ack, IngestError>>>) {
    for handle in in_flight.drain(..) {
        let _ = handle.await;
    }
}

/// Waits for the oldest chunk being stored, if any, counts it, and gives
/// back what its message held of the in-flight budget.
async fn settle_oldest(
    in_flight: &mut VecDeque<JoinHandle<Result<Ack, IngestError>>>,
    ack: &mut Ack,
    ticket: &Option<Arc<Ticket>>,
) -> Result<(), IngestError> {
    if let Some(handle) = in_flight.pop_front() {
        let stored = handle.await.map_err(|e| IngestError::Internal(format!("storage task failed: {e}")))??;
        ack.add(stored);
        if let Some(ticket) = ticket {
            ticket.release_message();
        }
    }
    Ok(())
}

fn stored_before(e: IngestError, ack: Ack) -> IngestError {
    if matches!(e, IngestError::Unauthenticated(_)) {
        return e;
    }
    e.map(|m| format!("{m} ({} earlier chunks of this stream were stored, {} rows)", ack.chunks_acked, ack.rows_stored))
}
