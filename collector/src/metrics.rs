//! The collector's own counters, rendered in the Prometheus text format at
//! `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// How an ingestion request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Native gRPC, client streaming `WriteMetrics`.
    GrpcStream,
    /// Native gRPC, unary `WriteMetricsBatch`.
    GrpcBatch,
    /// gRPC-web (either method).
    GrpcWeb,
    /// `POST /v1/metrics`.
    Http,
}

impl Transport {
    const ALL: [Self; 4] = [Self::GrpcStream, Self::GrpcBatch, Self::GrpcWeb, Self::Http];

    fn label(self) -> &'static str {
        match self {
            Self::GrpcStream => "grpc_stream",
            Self::GrpcBatch => "grpc_batch",
            Self::GrpcWeb => "grpc_web",
            Self::Http => "http",
        }
    }
}

/// How an ingestion request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or acknowledged as a duplicate).
    Ok,
    /// Bad or missing token or cluster id.
    Unauthenticated,
    /// Invalid input.
    InvalidArgument,
    /// A message over `--max-message-bytes`.
    ResourceExhausted,
    /// The token may not do this.
    PermissionDenied,
    /// Over a request or row rate.
    RateLimited,
    /// Refused by fault injection, or shutting down.
    Unavailable,
    /// A client stream went idle.
    DeadlineExceeded,
    /// A server-side failure.
    Internal,
}

impl Outcome {
    const ALL: [Self; 9] = [
        Self::Ok,
        Self::Unauthenticated,
        Self::InvalidArgument,
        Self::ResourceExhausted,
        Self::PermissionDenied,
        Self::RateLimited,
        Self::Unavailable,
        Self::DeadlineExceeded,
        Self::Internal,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidArgument => "invalid_argument",
            Self::ResourceExhausted => "resource_exhausted",
            Self::PermissionDenied => "permission_denied",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Internal => "internal",
        }
    }
}

/// Counters (atomics; cheap to hit from any task).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 9]; 4],
    /// Chunks stored.
    pub chunks_stored: AtomicU64,
    /// Rows stored.
    pub rows_stored: AtomicU64,
    /// Avro bytes stored.
    pub bytes_stored: AtomicU64,
    /// Chunks acknowledged without storing because their id was seen before.
    pub duplicate_chunks: AtomicU64,
    /// Subscribers connected now.
    pub subscribers: AtomicU64,
    /// Subscriptions refused (bad request, credentials, limit).
    pub subscriptions_rejected: AtomicU64,
    /// Rows not delivered to slow subscribers.
    pub missed_rows: AtomicU64,
    /// Row frames sent to subscribers.
    pub frames_sent: AtomicU64,
    /// Subscribers disconnected because they stopped reading.
    pub subscribers_dropped: AtomicU64,
    /// Connections open now.
    pub connections: AtomicU64,
    /// Connections closed as accepted, over a connection cap.
    pub connections_refused: AtomicU64,
    /// Requests of any endpoint refused over a request or row rate.
    pub rate_limited: AtomicU64,
    /// Requests refused because their token may not do what they ask.
    pub forbidden: AtomicU64,
    /// gRPC requests that named a message encoding (`grpc-encoding`),
    /// whether or not the collector takes it.
    pub grpc_compressed_requests: AtomicU64,
}

impl Metrics {
    /// Counts one ingestion request.
    pub fn request(&self, transport: Transport, outcome: Outcome) {
        let t = Transport::ALL.iter().position(|x| *x == transport).unwrap_or(0);
        let o = Outcome::ALL.iter().position(|x| *x == outcome).unwrap_or(0);
        self.requests[t][o].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests counted so far with this transport and outcome.
    pub fn requests(&self, transport: Transport, outcome: Outcome) -> u64 {
        let t = Transport::ALL.iter().position(|x| *x == transport).unwrap_or(0);
        let o = Outcome::ALL.iter().position(|x| *x == outcome).unwrap_or(0);
        self.requests[t][o].load(Ordering::Relaxed)
    }

    /// Renders every counter in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP edgemetrics_collector_requests_total Ingestion requests by transport and outcome.");
        let _ = writeln!(s, "# TYPE edgemetrics_collector_requests_total counter");
        let mut rejected = [0u64; 9];
        for (ti, t) in Transport::ALL.iter().enumerate() {
            for (oi, o) in Outcome::ALL.iter().enumerate() {
                let n = self.requests[ti][oi].load(Ordering::Relaxed);
                if *o != Outcome::Ok {
                    rejected[oi] += n;
                }
                let _ = writeln!(
                    s,
                    "edgemetrics_collector_requests_total{{transport=\"{}\",outcome=\"{}\"}} {n}",
                    t.label(),
                    o.label()
                );
            }
        }
        let _ =
            writeln!(s, "# HELP edgemetrics_collector_rejected_requests_total Ingestion requests rejected, by reason.");
        let _ = writeln!(s, "# TYPE edgemetrics_collector_rejected_requests_total counter");
        for (oi, o) in Outcome::ALL.iter().enumerate().skip(1) {
            let _ = writeln!(
                s,
                "edgemetrics_collector_rejected_requests_total{{reason=\"{}\"}} {}",
                o.label(),
                rejected[oi]
            );
        }
        let counters: [(&str, &str, &str, &AtomicU64); 14] = [
            (
                "grpc_compressed_requests_total",
                "counter",
                "gRPC requests that named a message encoding (grpc-encoding).",
                &self.grpc_compressed_requests,
            ),
            ("chunks_stored_total", "counter", "Chunks stored.", &self.chunks_stored),
            ("rows_stored_total", "counter", "Rows stored.", &self.rows_stored),
            ("avro_bytes_stored_total", "counter", "Avro bytes of stored chunks.", &self.bytes_stored),
            (
                "duplicate_chunks_total",
                "counter",
                "Chunks acknowledged without storing (chunk id seen before).",
                &self.duplicate_chunks,
            ),
            ("subscribers", "gauge", "WebSocket subscribers connected.", &self.subscribers),
            ("subscriptions_rejected_total", "counter", "Subscriptions refused.", &self.subscriptions_rejected),
            ("subscriber_missed_rows_total", "counter", "Rows not delivered to slow subscribers.", &self.missed_rows),
            ("subscriber_frames_sent_total", "counter", "Row frames sent to subscribers.", &self.frames_sent),
            (
                "subscribers_dropped_total",
                "counter",
                "Subscribers disconnected because they stopped reading.",
                &self.subscribers_dropped,
            ),
            ("connections", "gauge", "Connections open.", &self.connections),
            (
                "connections_refused_total",
                "counter",
                "Connections closed over a connection cap.",
                &self.connections_refused,
            ),
            ("rate_limited_total", "counter", "Requests refused over a request or row rate.", &self.rate_limited),
            ("forbidden_total", "counter", "Requests refused because their token may not do that.", &self.forbidden),
        ];
        for (name, kind, help, v) in counters {
            let _ = writeln!(s, "# HELP edgemetrics_collector_{name} {help}");
            let _ = writeln!(s, "# TYPE edgemetrics_collector_{name} {kind}");
            let _ = writeln!(s, "edgemetrics_collector_{name} {}", v.load(Ordering::Relaxed));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let m = Metrics::default();
        m.request(Transport::Http, Outcome::InvalidArgument);
        m.request(Transport::Http, Outcome::InvalidArgument);
        m.rows_stored.fetch_add(5, Ordering::Relaxed);
        let text = m.render();
        assert!(
            text.contains("edgemetrics_collector_requests_total{transport=\"http\",outcome=\"invalid_argument\"} 2")
        );
        assert!(text.contains("edgemetrics_collector_rejected_requests_total{reason=\"invalid_argument\"} 2"));
        assert!(text.contains("edgemetrics_collector_rows_stored_total 5"));
    }
}
