//! Encoding (and decoding) castai/metrics' benchmark record: ours against
//! apache-avro and serde_avro_fast on the same rows in the same run, with the
//! bytes checked equal first. `cargo bench --bench encode`.
//!
//! Criterion times each contender in turn; at the end, in bench mode, all of
//! them run again interleaved, which gives the ratios the README quotes.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use edgemetrics::engine::avro;
use edgemetrics::engine::buffer::{MetricBuffer, MetricOptions};
use edgemetrics::engine::derive::{Avro, schema_of};
use edgemetrics::engine::schema::Schema;
use serde::{Deserialize, Serialize};

/// castai/metrics' benchmark record (`clientbench_test.go`): Go `int`
/// fields written as Avro `int`.
const SCHEMA: &str = r#"{"type":"record","name":"containerMetrics","fields":[
    {"name":"container_id","type":"string"},{"name":"memory_usage","type":"int"},
    {"name":"cpu_usage","type":"int"},{"name":"memory_request","type":"int"},
    {"name":"cpu_request","type":"int"}]}"#;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, edgemetrics::Metric)]
#[metric(name = "containerMetrics")]
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

/// The three implementations' parsed schemas.
struct Schemas {
    ours: Schema,
    apache: apache_avro::Schema,
    fast: serde_avro_fast::Schema,
}

impl Schemas {
    fn parse() -> Self {
        Schemas {
            ours: Schema::parse(SCHEMA).unwrap(),
            apache: apache_avro::Schema::parse_str(SCHEMA).unwrap(),
            fast: SCHEMA.parse().unwrap(),
        }
    }
}

/// One pass over all the rows, by one implementation; ours comes first.
type Contender<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Each encoder writes every row into a buffer it reuses, and must produce
/// the bytes `expected` (checked once before any timing).
fn encoders<'a>(rows: &'a [ContainerMetrics], schemas: &'a Schemas, expected: &[u8]) -> Vec<Contender<'a>> {
    fn reusing<'a>(
        expected: &[u8],
        mut write: impl FnMut(&ContainerMetrics, &mut Vec<u8>) + 'a,
        rows: &'a [ContainerMetrics],
        name: &str,
    ) -> Box<dyn FnMut() + 'a> {
        let mut out = Vec::with_capacity(expected.len());
        rows.iter().for_each(|row| write(row, &mut out));
        assert_eq!(out, expected, "{name}");
        Box::new(move || {
            out.clear();
            for row in rows {
                write(black_box(row), &mut out);
            }
            black_box(&out);
        })
    }
    let mut fast_config = serde_avro_fast::ser::SerializerConfig::new(&schemas.fast);
    let datums: Vec<u8> = rows
        .iter()
        .flat_map(|row| apache_avro::to_avro_datum(&schemas.apache, apache_avro::to_value(row).unwrap()).unwrap())
        .collect();
    assert_eq!(datums, expected, "apache-avro to_avro_datum");

    let mut buffer = MetricBuffer::new(Arc::new(schemas.ours.clone()), MetricOptions::default()).unwrap();
    for row in rows {
        assert!(buffer.write(row).unwrap().is_none(), "1,000 rows fit one chunk");
    }
    let chunk = buffer.take_open().unwrap();
    assert_eq!((chunk.data(), chunk.rows() as usize), (expected, rows.len()), "MetricBuffer::write");
    let derived_schema = Schema::parse(&schema_of::<ContainerMetrics>()).unwrap();
    assert_eq!(derived_schema.canonical_form(), schemas.ours.canonical_form(), "the derived schema");
    let mut derived = MetricBuffer::new(Arc::new(derived_schema), MetricOptions::default()).unwrap();
    for row in rows {
        assert!(derived.write_encoded(|out| row.encode(out)).unwrap().is_none(), "1,000 rows fit one chunk");
    }
    assert_eq!(derived.take_open().unwrap().data(), expected, "MetricBuffer::write_encoded of the derive");
    vec![
        (
            "edgemetrics avro::encode",
            reusing(expected, |row, out| avro::encode(&schemas.ours, row, out).unwrap(), rows, "edgemetrics"),
        ),
        (
            "edgemetrics MetricBuffer::write",
            Box::new(move || {
                for row in rows {
                    if let Some(chunk) = buffer.write(black_box(row)).unwrap() {
                        black_box(chunk);
                    }
                }
            }),
        ),
        ("edgemetrics derive(Metric)", reusing(expected, |row, out| row.encode(out), rows, "derive")),
        (
            "edgemetrics derive(Metric) into MetricBuffer",
            Box::new(move || {
                for row in rows {
                    if let Some(chunk) = derived.write_encoded(|out| black_box(row).encode(out)).unwrap() {
                        black_box(chunk);
                    }
                }
            }),
        ),
        ("hand-written zigzag", reusing(expected, hand_written, rows, "hand-written")),
        (
            "serde_avro_fast to_datum",
            reusing(
                expected,
                // Its API takes the buffer by value and gives it back.
                move |row, out| *out = serde_avro_fast::to_datum(row, std::mem::take(out), &mut fast_config).unwrap(),
                rows,
                "serde_avro_fast",
            ),
        ),
        (
            "apache-avro write_avro_datum_ref",
            reusing(
                expected,
                |row, out| {
                    apache_avro::write_avro_datum_ref(&schemas.apache, row, out).unwrap();
                },
                rows,
                "apache-avro write_avro_datum_ref",
            ),
        ),
        (
            "apache-avro to_avro_datum",
            Box::new(move || {
                for row in rows {
                    let value = apache_avro::to_value(black_box(row)).unwrap();
                    black_box(apache_avro::to_avro_datum(&schemas.apache, value).unwrap());
                }
            }),
        ),
    ]
}

/// Each decoder reads every row back from `bytes` into the struct.
fn decoders<'a>(schemas: &'a Schemas, bytes: &'a [u8]) -> Vec<Contender<'a>> {
    vec![
        (
            "edgemetrics avro::decode",
            Box::new(move || {
                let mut input = black_box(bytes);
                for _ in 0..ROWS {
                    black_box(avro::decode::<ContainerMetrics>(&schemas.ours, &mut input).unwrap());
                }
            }),
        ),
        (
            "serde_avro_fast from_datum_reader",
            Box::new(move || {
                let mut input = black_box(bytes);
                for _ in 0..ROWS {
                    let row: ContainerMetrics = serde_avro_fast::from_datum_reader(&mut input, &schemas.fast).unwrap();
                    black_box(row);
                }
            }),
        ),
        (
            "apache-avro from_avro_datum + from_value",
            Box::new(move || {
                let mut input = black_box(bytes);
                for _ in 0..ROWS {
                    let value = apache_avro::from_avro_datum(&schemas.apache, &mut input, None).unwrap();
                    black_box(apache_avro::from_value::<ContainerMetrics>(&value).unwrap());
                }
            }),
        ),
    ]
}

fn criterion_group(c: &mut Criterion, title: &str, contenders: Vec<Contender<'_>>) {
    let mut group = c.benchmark_group(title);
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, mut run) in contenders {
        group.bench_function(name, |b| b.iter(&mut run));
    }
    group.finish();
}

/// Criterion times one contender after another, so a slow spell of this
/// shared machine can land on one and spare the next. Here they take turns,
/// round after round, and each keeps its fastest round: a ratio between two
/// of them then compares like with like.
fn interleaved(title: &str, mut contenders: Vec<Contender<'_>>, rounds: usize) {
    let mut fastest = vec![Duration::MAX; contenders.len()];
    for _ in 0..rounds {
        for ((_, run), best) in contenders.iter_mut().zip(&mut fastest) {
            let start = Instant::now();
            run();
            *best = (*best).min(start.elapsed());
        }
    }
    let per_row = |d: Duration| d.as_secs_f64() * 1e9 / ROWS as f64;
    let ours = per_row(fastest[0]);
    println!("\n{title}: fastest of {rounds} interleaved rounds");
    println!("  {:<42} {:>8}  {:>12}", "", "ns/row", "ours faster");
    for ((name, _), best) in contenders.iter().zip(&fastest) {
        let ns = per_row(*best);
        println!("  {name:<42} {ns:>8.1}  {:>11.2}x", ns / ours);
    }
}

fn main() {
    let rows = rows();
    let schemas = Schemas::parse();
    let mut expected = Vec::new();
    rows.iter().for_each(|row| hand_written(row, &mut expected));

    // Decoding gives the rows back.
    let mut input = &expected[..];
    let decoded: Vec<ContainerMetrics> = (0..ROWS).map(|_| avro::decode(&schemas.ours, &mut input).unwrap()).collect();
    assert_eq!(decoded, rows);

    let mut c = Criterion::default().configure_from_args();
    criterion_group(&mut c, "encode containerMetrics", encoders(&rows, &schemas, &expected));
    criterion_group(&mut c, "decode containerMetrics", decoders(&schemas, &expected));
    c.final_summary();

    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // only checks that each contender runs. Profiling (--profile-time)
    // wants the chosen contender alone.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--profile-time") {
        interleaved("encode containerMetrics", encoders(&rows, &schemas, &expected), 500);
        interleaved("decode containerMetrics", decoders(&schemas, &expected), 500);
    }
}
