//! The demo's records: their schemas as written by hand and the Rust types
//! that derive them, shared by `examples/demo.rs` and `tests/derive.rs`
//! (which checks that the two agree).

use serde::Serialize;

/// The schemas as a user writes them (the demo sends these texts).
pub const CONTAINER_SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},{"name":"memory_usage","type":"long"},
    {"name":"cpu_usage","type":"long"},{"name":"memory_request","type":"long"},
    {"name":"cpu_request","type":"long"}]}"#;
pub const REQUEST_SCHEMA: &str = r#"{"type":"record","name":"httpRequests","namespace":"demo","fields":[
    {"name":"route","type":"string"},
    {"name":"method","type":{"type":"enum","name":"Method","symbols":["GET","POST","PUT","DELETE"]}},
    {"name":"status","type":"int"},
    {"name":"latency_ms","type":"double"},
    {"name":"user_agent","type":["null","string"],"default":null}]}"#;

/// One container's usage.
#[derive(Serialize, Clone, edgemetrics::Metric)]
#[metric(name = "containerMetrics")]
pub struct ContainerMetrics {
    pub container_id: String,
    pub memory_usage: i64,
    pub cpu_usage: i64,
    pub memory_request: i64,
    pub cpu_request: i64,
}

/// An HTTP method, an Avro enum.
#[derive(Serialize, Clone, Copy, edgemetrics::Metric)]
#[allow(dead_code)] // The demo sends GET and POST only.
pub enum Method {
    #[serde(rename = "GET")]
    #[metric(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    #[metric(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    #[metric(rename = "PUT")]
    Put,
    #[serde(rename = "DELETE")]
    #[metric(rename = "DELETE")]
    Delete,
}

/// One request a service answered.
#[derive(Serialize, Clone, edgemetrics::Metric)]
#[metric(name = "httpRequests", namespace = "demo")]
pub struct HttpRequest {
    pub route: &'static str,
    pub method: Method,
    pub status: i32,
    pub latency_ms: f64,
    pub user_agent: Option<String>,
}
