//! Encoding (and decoding) castai/metrics' benchmark record: ours against
//! apache-avro and serde_avro_fast on the same rows in the same run, with the
//! bytes checked equal first. `cargo bench --bench encode`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgemetrics::engine::avro;
use edgemetrics::engine::buffer::{MetricBuffer, MetricOptions};
use edgemetrics::engine::schema::Schema;
use serde::{Deserialize, Serialize};

/// castai/metrics' benchmark record (`clientbench_test.go`): Go `int`
/// fields written as Avro `int`.
const SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},{"name":"memory_usage","type":"int"},
    {"name":"cpu_usage","type":"int"},{"name":"memory_request","type":"int"},
    {"name":"cpu_request","type":"int"}]}"#;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct ContainerMetrics {
    container_id: String,
    memory_usage: i32,
    cpu_usage: i32,
    memory_request: i32,
    cpu_request: i32,
}

const ROWS: usize = 1_000;

fn rows() -> Vec<ContainerMetrics> {
    (0..ROWS as i32)
        .map(|i| ContainerMetrics {
            container_id: format!("3f9c1a2b-{i:04}-container"),
            memory_usage: 200_000_000 + i * 4096,
            cpu_usage: 150 + i % 900,
            memory_request: 256 << 20,
            cpu_request: 500,
        })
        .collect()
}

/// The floor: zigzag varints written by hand for this one record.
fn hand_written(row: &ContainerMetrics, out: &mut Vec<u8>) {
    fn long(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push(z as u8 | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    long(out, row.container_id.len() as i64);
    out.extend_from_slice(row.container_id.as_bytes());
    for v in [row.memory_usage, row.cpu_usage, row.memory_request, row.cpu_request] {
        long(out, i64::from(v));
    }
}

fn encode(c: &mut Criterion) {
    let rows = rows();
    let ours = Schema::parse(SCHEMA).unwrap();
    let apache = apache_avro::Schema::parse_str(SCHEMA).unwrap();
    let fast: serde_avro_fast::Schema = SCHEMA.parse().unwrap();
    let mut fast_config = serde_avro_fast::ser::SerializerConfig::new(&fast);

    // Same bytes from every implementation, or the comparison means nothing.
    let mut expected = Vec::new();
    rows.iter().for_each(|row| hand_written(row, &mut expected));
    let mut buf = Vec::new();
    rows.iter().for_each(|row| avro::encode(&ours, row, &mut buf).unwrap());
    assert_eq!(buf, expected, "edgemetrics");
    buf.clear();
    rows.iter().for_each(|row| {
        apache_avro::write_avro_datum_ref(&apache, row, &mut buf).unwrap();
    });
    assert_eq!(buf, expected, "apache-avro write_avro_datum_ref");
    let datums: Vec<u8> = rows
        .iter()
        .flat_map(|row| apache_avro::to_avro_datum(&apache, apache_avro::to_value(row).unwrap()).unwrap())
        .collect();
    assert_eq!(datums, expected, "apache-avro to_avro_datum");
    buf.clear();
    for row in &rows {
        buf = serde_avro_fast::to_datum(row, buf, &mut fast_config).unwrap();
    }
    assert_eq!(buf, expected, "serde_avro_fast");

    let mut group = c.benchmark_group("encode containerMetrics");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("edgemetrics avro::encode", |b| {
        let mut out = Vec::with_capacity(expected.len());
        b.iter(|| {
            out.clear();
            for row in &rows {
                avro::encode(&ours, black_box(row), &mut out).unwrap();
            }
            black_box(&out);
        })
    });
    group.bench_function("edgemetrics MetricBuffer::write", |b| {
        let schema = Arc::new(ours.clone());
        let mut buffer = MetricBuffer::new(schema, MetricOptions::default()).unwrap();
        b.iter(|| {
            for row in &rows {
                if let Some(chunk) = buffer.write(black_box(row)).unwrap() {
                    black_box(chunk);
                }
            }
        })
    });
    group.bench_function("hand-written zigzag", |b| {
        let mut out = Vec::with_capacity(expected.len());
        b.iter(|| {
            out.clear();
            for row in &rows {
                hand_written(black_box(row), &mut out);
            }
            black_box(&out);
        })
    });
    group.bench_function("serde_avro_fast to_datum", |b| {
        let mut out = Vec::with_capacity(expected.len());
        b.iter(|| {
            out.clear();
            for row in &rows {
                out = serde_avro_fast::to_datum(black_box(row), std::mem::take(&mut out), &mut fast_config).unwrap();
            }
            black_box(&out);
        })
    });
    group.bench_function("apache-avro write_avro_datum_ref", |b| {
        let mut out = Vec::with_capacity(expected.len());
        b.iter(|| {
            out.clear();
            for row in &rows {
                apache_avro::write_avro_datum_ref(&apache, black_box(row), &mut out).unwrap();
            }
            black_box(&out);
        })
    });
    group.bench_function("apache-avro to_avro_datum", |b| {
        b.iter(|| {
            for row in &rows {
                let value = apache_avro::to_value(black_box(row)).unwrap();
                black_box(apache_avro::to_avro_datum(&apache, value).unwrap());
            }
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let rows = rows();
    let ours = Schema::parse(SCHEMA).unwrap();
    let apache = apache_avro::Schema::parse_str(SCHEMA).unwrap();
    let fast: serde_avro_fast::Schema = SCHEMA.parse().unwrap();
    let mut bytes = Vec::new();
    rows.iter().for_each(|row| hand_written(row, &mut bytes));

    let mut group = c.benchmark_group("decode containerMetrics");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("edgemetrics avro::decode", |b| {
        b.iter(|| {
            let mut input = black_box(&bytes[..]);
            for _ in 0..ROWS {
                black_box(avro::decode::<ContainerMetrics>(&ours, &mut input).unwrap());
            }
        })
    });
    group.bench_function("serde_avro_fast from_datum_reader", |b| {
        b.iter(|| {
            let mut input = black_box(&bytes[..]);
            for _ in 0..ROWS {
                let row: ContainerMetrics = serde_avro_fast::from_datum_reader(&mut input, &fast).unwrap();
                black_box(row);
            }
        })
    });
    group.bench_function("apache-avro from_avro_datum + from_value", |b| {
        b.iter(|| {
            let mut input = black_box(&bytes[..]);
            for _ in 0..ROWS {
                let value = apache_avro::from_avro_datum(&apache, &mut input, None).unwrap();
                black_box(apache_avro::from_value::<ContainerMetrics>(&value).unwrap());
            }
        })
    });
    group.finish();

    // Decoding gives the rows back, in every implementation.
    let mut input = &bytes[..];
    let decoded: Vec<ContainerMetrics> = (0..ROWS).map(|_| avro::decode(&ours, &mut input).unwrap()).collect();
    assert_eq!(decoded, rows);
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
