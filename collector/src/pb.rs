//! Protobuf messages and gRPC stubs generated from `proto/`.
//!
//! `metrics.v1beta` is wire-compatible with castai/metrics; `edgemetrics.v1`
//! holds the WebSocket subscription frames.

/// Generated code is not held to the crate's documentation lints.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod metrics {
    /// The castai-compatible ingestion API (`metrics.v1beta.IngestionAPI`).
    pub mod v1beta {
        tonic::include_proto!("metrics.v1beta");
    }
}

/// Generated code is not held to the crate's documentation lints.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod edgemetrics {
    /// The WebSocket subscription frames (`edgemetrics.v1`).
    pub mod v1 {
        tonic::include_proto!("edgemetrics.v1");
    }
}
