//! A metric's buffer: chunking by size, whole-or-nothing writes, limits.

use std::sync::Arc;

use edgemetrics::engine::avro::{self, Problem};
use edgemetrics::engine::buffer::{MAX_CHUNK_SIZE_LIMIT, MetricBuffer, MetricOptions};
use edgemetrics::engine::chunk::Chunk;
use edgemetrics::engine::schema::Schema;
use serde::Serialize;

const CONTAINER_METRICS: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},{"name":"memory_usage","type":"long"},
    {"name":"cpu_usage","type":"long"},{"name":"memory_request","type":"long"},{"name":"cpu_request","type":"long"}]}"#;

#[derive(Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct ContainerMetrics {
    container_id: String,
    memory_usage: i64,
    cpu_usage: i64,
    memory_request: i64,
    cpu_request: i64,
}

fn row(i: i64) -> ContainerMetrics {
    ContainerMetrics {
        container_id: format!("container-{i}"),
        memory_usage: i * 1000,
        cpu_usage: -i,
        memory_request: i64::MAX - i,
        cpu_request: i,
    }
}

fn buffer(max_chunk_size: usize) -> MetricBuffer {
    let schema = Arc::new(Schema::parse(CONTAINER_METRICS).unwrap());
    MetricBuffer::new(schema, MetricOptions { max_chunk_size, ..Default::default() }).unwrap()
}

fn decode_chunk(buffer: &MetricBuffer, chunk: &Chunk) -> Vec<ContainerMetrics> {
    let mut input = chunk.data();
    let rows = (0..chunk.rows()).map(|_| avro::decode(buffer.schema(), &mut input).unwrap()).collect();
    assert!(input.is_empty(), "no bytes left over");
    rows
}

#[test]
fn chunks_are_sealed_before_passing_the_max_size_and_keep_every_row_in_order() {
    let mut buffer = buffer(128);
    let mut chunks = Vec::new();
    for i in 0..100 {
        chunks.extend(buffer.write(&row(i)).unwrap());
    }
    chunks.extend(buffer.take_open());
    assert!(chunks.len() > 10, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|chunk| chunk.data().len() <= 128 && chunk.rows() > 0));
    assert_eq!(chunks.iter().map(|c| c.rows() as u64).sum::<u64>(), 100);
    let decoded: Vec<_> = chunks.iter().flat_map(|chunk| decode_chunk(&buffer, chunk)).collect();
    assert_eq!(decoded, (0..100).map(row).collect::<Vec<_>>());
    assert_eq!(buffer.rows_written(), 100);
    assert!(buffer.take_open().is_none(), "nothing left open");
    let metric = chunks[0].metric();
    // Chunks carry the schema's wire form, not the text as written.
    let wire = concat!(
        r#"{"name":"containerMetrics","type":"record","fields":[{"name":"container_id","type":"string"},"#,
        r#"{"name":"memory_usage","type":"long"},{"name":"cpu_usage","type":"long"},"#,
        r#"{"name":"memory_request","type":"long"},{"name":"cpu_request","type":"long"}]}"#
    );
    assert_ne!(CONTAINER_METRICS, wire);
    assert_eq!((metric.collection.as_str(), metric.schema.as_str()), ("containerMetrics", wire));
}

#[test]
fn a_bad_row_names_the_field_and_leaves_the_buffer_as_it_was() {
    let mut buffer = buffer(1 << 20);
    buffer.write(&row(1)).unwrap();
    let before = buffer.open_bytes();
    let bad = serde_json::json!({"container_id": "c", "memory_usage": "lots", "cpu_usage": 1, "memory_request": 1, "cpu_request": 1});
    let error = buffer.write(&bad).unwrap_err();
    assert_eq!(error.to_string(), "field \"memory_usage\": expected long, found a string");
    assert_eq!((buffer.open_bytes(), buffer.open_rows(), buffer.rows_written()), (before, 1, 1));
    let chunk = buffer.take_open().unwrap();
    assert_eq!(decode_chunk(&buffer, &chunk), vec![row(1)]);
}

#[test]
fn a_row_larger_than_the_max_chunk_size_is_rejected() {
    let mut buffer = buffer(64);
    buffer.write(&row(1)).unwrap();
    let mut huge = row(2);
    huge.container_id = "x".repeat(100);
    let error = buffer.write(&huge).unwrap_err();
    assert!(matches!(error.problem(), Problem::RowTooLarge { size, limit: 64 } if *size > 100), "{error}");
    assert_eq!(buffer.open_rows(), 1);
    assert_eq!(buffer.rows_written(), 1);
}

#[test]
fn write_all_is_all_or_nothing() {
    let mut buffer = buffer(100);
    let mut sealed = Vec::new();
    buffer.write(&row(0)).unwrap();
    let mut rows: Vec<serde_json::Value> = (1..20).map(|i| serde_json::to_value(row(i)).unwrap()).collect();
    rows[7]["cpu_request"] = serde_json::json!(1.5);
    let error = buffer.write_all(&rows, &mut sealed).unwrap_err();
    assert_eq!(error.to_string(), "row 7: field \"cpu_request\": expected long, found a number that is not whole");
    assert!(sealed.is_empty());
    assert_eq!((buffer.open_rows(), buffer.rows_written()), (1, 1));

    rows[7]["cpu_request"] = serde_json::json!(8);
    assert_eq!(buffer.write_all(&rows, &mut sealed).unwrap(), 19);
    sealed.extend(buffer.take_open());
    let decoded: Vec<_> = sealed.iter().flat_map(|chunk| decode_chunk(&buffer, chunk)).collect();
    assert_eq!(decoded, (0..20).map(row).collect::<Vec<_>>());
    assert!(sealed.iter().all(|chunk| chunk.data().len() <= 100));
}

#[test]
fn options_are_checked() {
    let schema = Arc::new(Schema::parse(CONTAINER_METRICS).unwrap());
    let too_big = MetricOptions { max_chunk_size: MAX_CHUNK_SIZE_LIMIT + 1, ..Default::default() };
    let error = MetricBuffer::new(schema.clone(), too_big).unwrap_err();
    assert_eq!(error.option, "max_chunk_size");
    assert!(error.to_string().contains("20971521 is not between 1 and 20971520"), "{error}");
    let clash = MetricOptions { timestamp_column: Some("cpu_usage".into()), ..Default::default() };
    let error = MetricBuffer::new(schema.clone(), clash).unwrap_err();
    assert_eq!(error.to_string(), "option \"timestamp_column\": \"cpu_usage\" is already a field of the record");
    let injection = MetricOptions { timestamp_column: Some("ts\"; DROP TABLE x".into()), ..Default::default() };
    assert_eq!(MetricBuffer::new(schema, injection).unwrap_err().option, "timestamp_column");
}

#[test]
fn sealed_chunks_waste_under_one_percent() {
    // What memory a buffered row costs is the Avro bytes plus the chunk's
    // spare capacity: check the spare capacity stays under 1%.
    let mut buffer = buffer(1 << 20);
    let mut chunks = Vec::new();
    for i in 0..200_000 {
        chunks.extend(buffer.write(&row(i)).unwrap());
    }
    chunks.extend(buffer.take_open());
    assert!(chunks.len() >= 3);
    for chunk in &chunks {
        let (len, capacity) = (chunk.data().len(), chunk.allocated_bytes());
        assert!(len <= 1 << 20);
        assert!(capacity - len <= len / 100, "{len} bytes in {capacity} allocated");
    }
}
