//! edgemetrics: typed Avro metrics for browsers, Cloudflare Workers and
//! native Rust services, from one codebase.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod engine;

#[cfg(feature = "std")]
pub mod client;
#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "native")]
pub mod proto;
#[cfg(feature = "wasm")]
pub mod wasm;
#[cfg(any(feature = "wasm", all(test, feature = "native")))]
mod wire;

#[cfg(feature = "std")]
pub use client::Error;
/// `#[derive(Metric)]`: the Avro schema and a straight-line encoder of a
/// struct (a record) or an enum of unit variants; see [`engine::derive`].
#[cfg(feature = "derive")]
pub use edgemetrics_derive::Metric;
#[cfg(feature = "native")]
pub use engine::chunk::Delivery;
#[cfg(feature = "native")]
pub use native::DerivedMetric;
#[cfg(feature = "native")]
pub use native::{
    BoundCounter, BoundGauge, BoundHistogram, ClientBuilder, Compression, Counter, Gauge, Histogram, InstrumentBuilder,
    InstrumentStats, Metric, MetricClient, MetricConfig, Number, ShutdownReport, Temporality, Timer, TimerGuard,
    Transport, UpDownCounter,
};
