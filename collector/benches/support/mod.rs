//! What the collector's benches share: containerMetrics chunks made
//! without a client, and the collector process' memory.
#![allow(dead_code)] // each bench uses part of it

use edgemetrics_collector::pb::metrics::v1beta::{MetricsMetadata, WriteMetricsRequest};

pub const SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},{"name":"memory_usage","type":"long"},{"name":"cpu_usage","type":"long"},
    {"name":"memory_request","type":"long"},{"name":"cpu_request","type":"long"}]}"#;

pub fn zigzag(out: &mut Vec<u8>, n: i64) {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A chunk of about `bytes` bytes of containerMetrics rows.
pub fn chunk(bytes: usize) -> WriteMetricsRequest {
    let mut avro = Vec::with_capacity(bytes);
    let mut rows = 0u64;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while avro.len() + 48 < bytes {
        let id = format!("container-{}", rows % 5000);
        zigzag(&mut avro, id.len() as i64);
        avro.extend(id.as_bytes());
        for modulus in [1_000_000_000, 10_000, 1_000_000_000, 10_000] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            zigzag(&mut avro, (x % modulus) as i64);
        }
        rows += 1;
    }
    WriteMetricsRequest {
        collection: "containerMetrics".into(),
        metrics: avro,
        schema: SCHEMA.as_bytes().to_vec(),
        metadata: Some(MetricsMetadata { rows, skip_timestamp: false, timestamp_column: None }),
        chunk_id: vec![],
    }
}

/// The peak resident memory of process `pid` (VmHWM), MiB.
pub fn vm_hwm_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .expect("VmHWM");
    kb / 1024.0
}

/// The resident memory of process `pid` now (VmRSS), MiB.
pub fn vm_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .expect("VmRSS");
    kb / 1024.0
}
