//! The edgemetrics collector: a reference ingestion server.
//!
//! One port serves native gRPC and gRPC-web (`metrics.v1beta.IngestionAPI`,
//! castai-compatible), `POST /v1/metrics` (protobuf batch, optionally gzip),
//! the WebSocket subscription `GET /v1/subscribe`, a JSON query API under
//! `/api/collections`, the instruments the SDK sends as Prometheus text
//! (`/metrics/instruments`) and as charts (`/api/instruments`), `/healthz`,
//! `/metrics` (the collector's own, Prometheus) and, with
//! `--www DIR`, static files. Chunks are validated by decoding them with
//! `apache-avro` and stored in SQLite, one table per collection.
//!
//! ```no_run
//! # async fn demo() -> Result<(), edgemetrics_collector::Error> {
//! use edgemetrics_collector::{Config, Server};
//! let server = Server::start(Config::for_tests(["secret"])).await?;
//! println!("listening on {}", server.url());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod auth;
mod avro_guard;
pub mod cells;
pub mod clickhouse;
pub mod config;
pub mod decode;
pub mod evolve;
pub mod faults;
pub mod grpc;
pub mod grpc_guard;
pub mod http;
pub mod inflate_count;
pub mod inflight;
pub mod ingest;
pub mod instruments;
pub mod listen;
pub mod metrics;
pub mod pb;
pub mod plan;
pub mod query;
pub mod rate;
pub mod scan;
pub mod schema_map;
pub mod series;
pub mod server;
pub mod sink;
pub mod store;
pub mod subscribe;
mod tls;
pub mod validate;
pub mod wire_scan;
pub mod www;

pub use config::{Config, ConnectionLimits, Limits, RateLimits};
pub use faults::Faults;
pub use server::{Error, RunningServer, Server};
