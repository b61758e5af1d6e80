//! The ingestion path shared by every transport: authenticate, apply fault
//! injection, validate, store, count, publish to subscribers.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::auth::{AuthError, Writer};
use crate::inflight::Ticket;
use crate::metrics::Outcome;
use crate::pb::metrics::v1beta::WriteMetricsRequest;
use crate::server::App;
use crate::store::StoreError;
use crate::subscribe::ChunkEvent;
use crate::validate::{self, Rejection, ValidChunk};

/// Why an ingestion request failed, by the status it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// UNAUTHENTICATED / 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// INVALID_ARGUMENT / 400.
    #[error("{0}")]
    Invalid(String),
    /// A message over `--max-message-bytes`: RESOURCE_EXHAUSTED / 413.
    #[error("{0}")]
    TooLarge(String),
    /// Over a limit on what a request holds, which no retry will pass:
    /// INVALID_ARGUMENT / 413.
    #[error("{0}")]
    Limit(String),
    /// The token may not do this: PERMISSION_DENIED / 403.
    #[error("{0}")]
    Forbidden(String),
    /// Over a request or row rate: RESOURCE_EXHAUSTED / 429, with
    /// `retry-after` (seconds).
    #[error("{message}")]
    RateLimited {
        /// Names the rate and its flag.
        message: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The client did not send in time: DEADLINE_EXCEEDED / 408.
    #[error("{0}")]
    Timeout(String),
    /// UNAVAILABLE / 503 (retryable).
    #[error("{0}")]
    Unavailable(String),
    /// The in-flight budget is spent: UNAVAILABLE / 503 with `retry-after`.
    #[error("{0}")]
    Busy(String),
    /// INTERNAL / 500.
    #[error("{0}")]
    Internal(String),
}

impl IngestError {
    /// The metrics outcome.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Unauthenticated(_) => Outcome::Unauthenticated,
            Self::Invalid(_) => Outcome::InvalidArgument,
            Self::TooLarge(_) => Outcome::ResourceExhausted,
            Self::Limit(_) => Outcome::InvalidArgument,
            Self::Forbidden(_) => Outcome::PermissionDenied,
            Self::RateLimited { .. } => Outcome::RateLimited,
            Self::Timeout(_) => Outcome::DeadlineExceeded,
            Self::Unavailable(_) | Self::Busy(_) => Outcome::Unavailable,
            Self::Internal(_) => Outcome::Internal,
        }
    }

    /// The gRPC status.
    pub fn to_status(&self) -> tonic::Status {
        let m = self.to_string();
        match self {
            Self::Unauthenticated(_) => tonic::Status::unauthenticated(m),
            Self::Invalid(_) => tonic::Status::invalid_argument(m),
            Self::TooLarge(_) => tonic::Status::resource_exhausted(m),
            Self::Limit(_) => tonic::Status::invalid_argument(m),
            Self::Forbidden(_) => tonic::Status::permission_denied(m),
            Self::RateLimited { retry_after_secs, .. } => {
                let mut status = tonic::Status::resource_exhausted(m);
                status.metadata_mut().insert("retry-after", tonic::metadata::MetadataValue::from(*retry_after_secs));
                status
            }
            Self::Timeout(_) => tonic::Status::deadline_exceeded(m),
            Self::Unavailable(_) => tonic::Status::unavailable(m),
            Self::Busy(_) => {
                let mut status = tonic::Status::unavailable(m);
                status.metadata_mut().insert("retry-after", tonic::metadata::MetadataValue::from(1u64));
                status
            }
            Self::Internal(_) => tonic::Status::internal(m),
        }
    }

    /// The same class with another message.
    pub fn map(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Unauthenticated(m) => Self::Unauthenticated(f(m)),
            Self::Invalid(m) => Self::Invalid(f(m)),
            Self::TooLarge(m) => Self::TooLarge(f(m)),
            Self::Limit(m) => Self::Limit(f(m)),
            Self::Forbidden(m) => Self::Forbidden(f(m)),
            Self::RateLimited { message, retry_after_secs } => {
                Self::RateLimited { message: f(message), retry_after_secs }
            }
            Self::Timeout(m) => Self::Timeout(f(m)),
            Self::Unavailable(m) => Self::Unavailable(f(m)),
            Self::Busy(m) => Self::Busy(f(m)),
            Self::Internal(m) => Self::Internal(f(m)),
        }
    }
}

impl From<AuthError> for IngestError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Forbidden(m) => Self::Forbidden(m),
            e => Self::Unauthenticated(e.to_string()),
        }
    }
}

impl From<crate::inflight::HoldError> for IngestError {
    fn from(e: crate::inflight::HoldError) -> Self {
        match e {
            crate::inflight::HoldError::Busy(m) => Self::Busy(m),
            crate::inflight::HoldError::TooLarge(m) => Self::Limit(m),
        }
    }
}

impl From<crate::rate::Limited> for IngestError {
    fn from(l: crate::rate::Limited) -> Self {
        Self::RateLimited { message: l.message, retry_after_secs: l.retry_after_secs }
    }
}

impl From<Rejection> for IngestError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Invalid(m) => Self::Invalid(m),
            Rejection::TooLarge(m) => Self::TooLarge(m),
            Rejection::Limit(m) => Self::Limit(m),
            Rejection::Busy(m) => Self::Busy(m),
        }
    }
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(r) => r.into(),
            // The detail (the store's address, its error text) is for the
            // log, not for a client holding a write token.
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "storing a chunk failed; answered UNAVAILABLE");
                Self::Unavailable("the store is unavailable; retry (the collector's log says why)".into())
            }
            e => {
                tracing::error!(error = %e, "storing a chunk failed");
                Self::Internal(e.to_string())
            }
        }
    }
}

/// What a request stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Rows stored by this request (duplicates count zero).
    pub rows_stored: u64,
    /// Chunks acknowledged (stored now or before).
    pub chunks_acked: u64,
}

impl Ack {
    /// Adds another acknowledgement.
    pub fn add(&mut self, other: Ack) {
        self.rows_stored += other.rows_stored;
        self.chunks_acked += other.chunks_acked;
    }
}

impl App {
    /// Checks the `authorization` and `x-cluster-id` header values (raw
    /// bytes) and the token's request rate; returns the writer.
    pub fn authenticate(&self, authorization: Option<&[u8]>, cluster_id: Option<&[u8]>) -> Result<Writer, IngestError> {
        let writer = self.tokens.authenticate_writer(authorization, cluster_id).inspect_err(|e| {
            if matches!(e, AuthError::Forbidden(_)) {
                self.metrics.forbidden.fetch_add(1, Ordering::Relaxed);
            }
        })?;
        self.rates.request_with(writer.grant.id).inspect_err(|_| self.count_rate_limited())?;
        Ok(writer)
    }

    fn count_rate_limited(&self) {
        self.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// What is checked of a request before any chunk is decoded: the rows
    /// it declares (a limit, and the row rates of its address and token)
    /// and that its token may write its collections.
    pub fn admit(
        &self,
        writer: &Writer,
        peer: Option<IpAddr>,
        chunks: &[WriteMetricsRequest],
        first_index: usize,
    ) -> Result<(), IngestError> {
        validate::check_request(chunks, &self.limits)?;
        for (i, chunk) in chunks.iter().enumerate() {
            writer.grant.check_collection(&chunk.collection).map_err(|e| {
                self.metrics.forbidden.fetch_add(1, Ordering::Relaxed);
                IngestError::from(e).map(|m| format!("chunk {}: {m}", first_index + i))
            })?;
        }
        let rows = chunks.iter().map(|c| c.metadata.as_ref().map_or(0, |m| m.rows)).fold(0u64, u64::saturating_add);
        self.rates.rows(peer, writer.grant.id, rows).inspect_err(|_| self.count_rate_limited())?;
        Ok(())
    }

    /// Consumes an injected failure, if any is pending.
    pub fn injected_fault(&self) -> Result<(), IngestError> {
        if self.faults.take_unavailable() {
            Err(IngestError::Unavailable("unavailable (injected fault; retry)".into()))
        } else {
            Ok(())
        }
    }

    /// Admits the request, validates every chunk, then stores all of them
    /// in one transaction (all or nothing), then publishes them to
    /// subscribers. Chunk indexes in error messages start at `first_index`.
    pub async fn ingest(
        self: &Arc<Self>,
        writer: &Writer,
        peer: Option<IpAddr>,
        chunks: Vec<WriteMetricsRequest>,
        first_index: usize,
        ticket: Option<Arc<Ticket>>,
    ) -> Result<Ack, IngestError> {
        self.admit(writer, peer, &chunks, first_index)?;
        let valid = self.validate(chunks, first_index, ticket).await?;
        self.store(&writer.cluster, valid, first_index).await
    }

    /// Validates chunks (decoding them) on the blocking pool, charging what
    /// they decode into to the request's in-flight ticket.
    pub async fn validate(
        self: &Arc<Self>,
        chunks: Vec<WriteMetricsRequest>,
        first_index: usize,
        ticket: Option<Arc<Ticket>>,
    ) -> Result<Vec<ValidChunk>, IngestError> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut valid = Vec::with_capacity(chunks.len());
            for (i, chunk) in chunks.into_iter().enumerate() {
                let v = validate::validate_chunk(chunk, &app.limits, &app.schemas, ticket.as_deref())
                    .map_err(|r| r.in_chunk(first_index + i))?;
                valid.push(v);
            }
            Ok(valid)
        })
        .await
        .map_err(|e| IngestError::Internal(format!("validation task failed: {e}")))?
    }

    /// Stores validated chunks in one transaction, counts them and publishes
    /// them to subscribers.
    pub async fn store(
        self: &Arc<Self>,
        cluster_id: &str,
        valid: Vec<ValidChunk>,
        first_index: usize,
    ) -> Result<Ack, IngestError> {
        let stored = self.store.store(cluster_id, valid, first_index).await?;
        let mut ack = Ack::default();
        for s in stored {
            ack.chunks_acked += 1;
            if s.duplicate {
                self.metrics.duplicate_chunks.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            ack.rows_stored += s.rows;
            self.metrics.chunks_stored.fetch_add(1, Ordering::Relaxed);
            self.metrics.rows_stored.fetch_add(s.rows, Ordering::Relaxed);
            self.metrics.bytes_stored.fetch_add(s.avro.len() as u64, Ordering::Relaxed);
            self.hub.publish(Arc::new(ChunkEvent::new(s)));
        }
        Ok(ack)
    }
}
