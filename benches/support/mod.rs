//! What the native client's benches write: castai/metrics' benchmark
//! record (Go `int` fields as Avro `int`) and its rows.

use serde::Serialize;

/// The record's schema.
pub const SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},{"name":"memory_usage","type":"int"},
    {"name":"cpu_usage","type":"int"},{"name":"memory_request","type":"int"},
    {"name":"cpu_request","type":"int"}]}"#;

/// One row.
#[derive(Serialize, Clone)]
pub struct ContainerMetrics {
    pub container_id: String,
    pub memory_usage: i32,
    pub cpu_usage: i32,
    pub memory_request: i32,
    pub cpu_request: i32,
}

/// `n` rows, 10,000 containers.
pub fn rows(n: usize) -> Vec<ContainerMetrics> {
    (0..n as i32)
        .map(|i| ContainerMetrics {
            container_id: format!("3f9c1a2b-{:04}-container", i % 10_000),
            memory_usage: 200_000_000 + i,
            cpu_usage: 150 + i % 900,
            memory_request: 256 << 20,
            cpu_request: 500,
        })
        .collect()
}
