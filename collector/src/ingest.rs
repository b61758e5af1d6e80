//! The ingestion path shared by every transport: authenticate, apply fault
//! injection, validate, store, count, publish to subscribers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::auth::AuthError;
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
    /// RESOURCE_EXHAUSTED / 413.
    #[error("{0}")]
    TooLarge(String),
    /// UNAVAILABLE / 503 (retryable).
    #[error("{0}")]
    Unavailable(String),
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
            Self::Unavailable(_) => Outcome::Unavailable,
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
            Self::Unavailable(_) => tonic::Status::unavailable(m),
            Self::Internal(_) => tonic::Status::internal(m),
        }
    }

    /// Prefixes the message (keeping the class).
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            Self::Unauthenticated(m) => Self::Unauthenticated(format!("{prefix}{m}")),
            Self::Invalid(m) => Self::Invalid(format!("{prefix}{m}")),
            Self::TooLarge(m) => Self::TooLarge(format!("{prefix}{m}")),
            Self::Unavailable(m) => Self::Unavailable(format!("{prefix}{m}")),
            Self::Internal(m) => Self::Internal(format!("{prefix}{m}")),
        }
    }
}

impl From<AuthError> for IngestError {
    fn from(e: AuthError) -> Self {
        Self::Unauthenticated(e.to_string())
    }
}

impl From<Rejection> for IngestError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Invalid(m) => Self::Invalid(m),
            Rejection::TooLarge(m) => Self::TooLarge(m),
        }
    }
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(r) => r.into(),
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
    /// Checks the `authorization` and `x-cluster-id` values; returns the
    /// cluster id.
    pub fn authenticate(&self, authorization: Option<&str>, cluster_id: Option<&str>) -> Result<String, IngestError> {
        Ok(self.tokens.authenticate(authorization, cluster_id)?.to_owned())
    }

    /// Consumes an injected failure, if any is pending.
    pub fn injected_fault(&self) -> Result<(), IngestError> {
        if self.faults.take_unavailable() {
            Err(IngestError::Unavailable("unavailable (injected fault; retry)".into()))
        } else {
            Ok(())
        }
    }

    /// Validates every chunk, then stores all of them in one transaction
    /// (all or nothing), then publishes them to subscribers. Chunk indexes in
    /// error messages start at `first_index`.
    pub async fn ingest(
        self: &Arc<Self>,
        cluster_id: &str,
        chunks: Vec<WriteMetricsRequest>,
        first_index: usize,
    ) -> Result<Ack, IngestError> {
        let valid = self.validate(chunks, first_index).await?;
        self.store(cluster_id, valid, first_index).await
    }

    /// Validates chunks (decoding them) on the blocking pool.
    pub async fn validate(
        self: &Arc<Self>,
        chunks: Vec<WriteMetricsRequest>,
        first_index: usize,
    ) -> Result<Vec<ValidChunk>, IngestError> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut valid = Vec::with_capacity(chunks.len());
            for (i, chunk) in chunks.into_iter().enumerate() {
                let v = validate::validate_chunk(chunk, &app.limits, &app.schemas)
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
        let app = self.clone();
        let cluster = cluster_id.to_owned();
        let stored = tokio::task::spawn_blocking(move || app.store.store(&cluster, valid, first_index))
            .await
            .map_err(|e| IngestError::Internal(format!("storage task failed: {e}")))??;
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
