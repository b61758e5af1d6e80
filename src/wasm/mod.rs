//! The JavaScript API (feature `wasm`): `MetricClient`, `Metric` and
//! `Subscription` for browsers, Workers and Node 18+, built with
//! wasm-bindgen into the npm package `edgemetrics` (see `pkg/`).
//!
//! One concept per file: [`client`] (the client and its promises),
//! [`metric`] (writing rows), [`row`] and [`value`] (rows into and out of
//! JS), [`tape`] (the one-crossing fast path of flat rows), [`options`] (options objects), [`driver`] (the event-loop task and
//! timers), [`transport`] with [`transport_fetch`] and, with the `grpc-web`
//! feature, `transport_grpc_web`, [`lifecycle`] (keepalive sends when the
//! page goes away), [`subscription`] (the WebSocket), [`error`] (JS
//! errors) and [`js`] (bindings to the few JS functions used directly).

mod client;
mod driver;
mod error;
mod js;
mod lifecycle;
mod metric;
mod options;
mod row;
mod subscription;
mod tape;
mod transport;
mod transport_fetch;
#[cfg(feature = "grpc-web")]
mod transport_grpc_web;
mod value;

pub use client::MetricClient;
pub use metric::Metric;
pub use subscription::Subscription;
