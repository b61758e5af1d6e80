//! Protobuf messages (and the native gRPC client) generated from `proto/`.

/// `metrics.v1beta`: wire-compatible with castai/metrics.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod metrics {
    /// The ingestion API and its messages.
    pub mod v1beta {
        include!(concat!(env!("OUT_DIR"), "/metrics.v1beta.rs"));
    }
}

/// `edgemetrics.v1`: the WebSocket subscription frames.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod edgemetrics {
    /// Subscription requests and events.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/edgemetrics.v1.rs"));
    }
}

use crate::engine::chunk::Chunk;
use metrics::v1beta::{MetricsMetadata, WriteMetricsBatchRequest, WriteMetricsRequest};

/// The request message of one chunk, as castai/metrics sends it plus the
/// chunk id (when its metric is delivered exactly once).
pub fn chunk_request(chunk: &Chunk) -> WriteMetricsRequest {
    let metric = chunk.metric();
    WriteMetricsRequest {
        collection: metric.collection.clone(),
        metrics: chunk.data().to_vec(),
        schema: metric.schema.clone().into_bytes(),
        metadata: Some(MetricsMetadata {
            rows: u64::from(chunk.rows()),
            skip_timestamp: metric.skip_timestamp,
            timestamp_column: metric.timestamp_column.clone(),
        }),
        chunk_id: chunk.wire_id().to_vec(),
    }
}

/// The unary batch message (gRPC-web and HTTP POST) of several chunks.
pub fn batch_request<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> WriteMetricsBatchRequest {
    WriteMetricsBatchRequest { chunks: chunks.into_iter().map(chunk_request).collect() }
}
