//! The targets, and the corpus their seeds come from (tests/corpus).
//!
//! Each target takes the bytes the way they arrive from outside: the
//! collector's targets decode protobuf as the server does and go through
//! the same checks and decoding with the default limits; the engine's take
//! schema text and Avro datums.

use std::path::Path;

use edgemetrics::engine::avro::decode_all;
use edgemetrics::engine::schema::Schema;
use edgemetrics_collector::Limits;
use edgemetrics_collector::inflight::Inflight;
use edgemetrics_collector::pb::edgemetrics::v1::SubscribeRequest;
use edgemetrics_collector::pb::metrics::v1beta::{MetricsMetadata, WriteMetricsBatchRequest, WriteMetricsRequest};
use edgemetrics_collector::validate::{SchemaCache, check_request, validate_chunk};
use prost::Message;
use serde_json::Value;

/// A record schema of the corpus with rows of it.
pub struct Record {
    /// The schema's text.
    pub text: String,
    /// The record's name (the collection).
    pub name: String,
    /// Parsed by the engine.
    pub schema: Schema,
    /// The rows' Avro, one after the other.
    pub avro: Vec<u8>,
    /// How many rows.
    pub rows: usize,
}

/// What the seeds are made of.
pub struct Corpus {
    /// Schema texts, valid and not.
    pub schemas: Vec<String>,
    /// Record schemas with rows.
    pub records: Vec<Record>,
    limits: Limits,
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Corpus {
    /// The corpus of the repository's tests/corpus.
    pub fn load() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus");
        let mut schemas = Vec::new();
        if let Value::Array(cases) = read_json(&dir.join("js/schemas.json")) {
            schemas.extend(cases.iter().filter_map(|c| c["schema"].as_str().map(String::from)));
        }
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            schemas.push(read_json(&file)["schema"].to_string());
        }
        let mut records = Vec::new();
        if let Value::Array(sets) = read_json(&dir.join("js/rows.json")) {
            for set in sets {
                let text = set["schema"].to_string();
                let schema = Schema::parse(&text).expect("the rows corpus' schemas are valid");
                let name = set["schema"]["name"].as_str().unwrap_or_default().to_string();
                let rows = set["rows"].as_array().map(Vec::as_slice).unwrap_or_default();
                let avro: Vec<u8> =
                    rows.iter().flat_map(|r| crate::unhex(r["avro"].as_str().unwrap_or_default()).unwrap()).collect();
                records.push(Record { text, name, schema, avro, rows: rows.len() });
            }
        }
        assert!(!records.is_empty() && schemas.len() > 50, "the corpus is in tests/corpus");
        Corpus { schemas, records, limits: Limits::default() }
    }

    /// The record an input's first byte picks, and the rest.
    fn pick<'a>(&self, input: &'a [u8]) -> (&Record, &'a [u8]) {
        match input.split_first() {
            Some((first, rest)) => (&self.records[usize::from(*first) % self.records.len()], rest),
            None => (&self.records[0], input),
        }
    }

    /// A chunk of `record`'s schema carrying `avro` as `rows` rows.
    fn chunk(record: &Record, avro: Vec<u8>, rows: u64) -> WriteMetricsRequest {
        WriteMetricsRequest {
            collection: record.name.clone(),
            metrics: avro,
            schema: record.text.clone().into_bytes(),
            metadata: Some(MetricsMetadata { rows, skip_timestamp: false, timestamp_column: None }),
            chunk_id: Vec::new(),
        }
    }
}

/// One target.
pub struct Target {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it feeds and to what.
    pub about: &'static str,
    /// Its seeds.
    pub seeds: fn(&Corpus) -> Vec<Vec<u8>>,
    /// Runs one input.
    pub run: fn(&Corpus, &[u8]),
}

/// A record's seed: its index, a row count, its rows.
fn record_seeds(corpus: &Corpus) -> Vec<Vec<u8>> {
    (0..corpus.records.len())
        .map(|i| {
            let record = &corpus.records[i];
            let mut seed = vec![i as u8, record.rows as u8];
            seed.extend_from_slice(&record.avro);
            seed
        })
        .collect()
}

/// Chunks of the corpus' records as the wire has them.
fn chunk_seeds(corpus: &Corpus) -> Vec<Vec<u8>> {
    corpus.records.iter().map(|r| Corpus::chunk(r, r.avro.clone(), r.rows as u64).encode_to_vec()).collect()
}

fn batch(corpus: &Corpus) -> Vec<u8> {
    let chunks = corpus.records.iter().map(|r| Corpus::chunk(r, r.avro.clone(), r.rows as u64)).collect();
    WriteMetricsBatchRequest { chunks }.encode_to_vec()
}

/// Every chunk of a request through the collector's checks and decoding.
fn validate(corpus: &Corpus, chunks: Vec<WriteMetricsRequest>) {
    if check_request(&chunks, &corpus.limits).is_err() {
        return;
    }
    let cache = SchemaCache::default();
    for chunk in chunks {
        let _ = validate_chunk(chunk, &corpus.limits, &cache, None);
    }
}

/// Every target.
pub static TARGETS: [Target; 6] = [
    Target {
        name: "schema",
        about: "schema text (JSON, UTF-8 or not) to the engine's schema parser, its canonical and wire forms and fingerprint",
        seeds: |c| c.schemas.iter().map(|s| s.clone().into_bytes()).collect(),
        run: |_, input| {
            if let Ok(schema) = Schema::parse(&String::from_utf8_lossy(input)) {
                let _ = schema.fingerprint();
                let _ = Schema::parse(schema.canonical_form()).expect("a canonical form parses");
                let again = Schema::parse(schema.wire_form()).expect("a wire form parses");
                assert_eq!(again.wire_form(), schema.wire_form(), "the wire form is its own wire form");
                assert_eq!(again.canonical_form(), schema.canonical_form(), "the wire form keeps the canonical form");
            }
        },
    },
    Target {
        name: "avro",
        about: "Avro datums to the engine's decoder, against a corpus record (first byte) as many rows as the second says",
        seeds: record_seeds,
        run: |c, input| {
            let (record, rest) = c.pick(input);
            let (rows, datums) = rest.split_first().map_or((0, rest), |(n, d)| (usize::from(*n), d));
            let _ = decode_all(&record.schema, datums, rows);
        },
    },
    Target {
        name: "chunk",
        about: "a protobuf WriteMetricsRequest (a stream's message) through the collector's checks, schema parsing and row decoding",
        seeds: chunk_seeds,
        run: |c, input| {
            if let Ok(chunk) = WriteMetricsRequest::decode(input) {
                validate(c, vec![chunk]);
            }
        },
    },
    Target {
        name: "rows",
        about: "Avro datums in a chunk of a corpus record (first byte), as many rows as the second says, through the collector's validation and decoding",
        seeds: record_seeds,
        run: |c, input| {
            let (record, rest) = c.pick(input);
            let (rows, datums) = rest.split_first().map_or((1, rest), |(n, d)| (u64::from(*n), d));
            validate(c, vec![Corpus::chunk(record, datums.to_vec(), rows)]);
        },
    },
    Target {
        name: "body",
        about: "a POST /v1/metrics body, gzip when the first byte is odd: gunzip within the limit, chunks counted on the wire, the batch decoded and validated",
        seeds: |c| {
            let plain = batch(c);
            let mut gz = flate2::write::GzEncoder::new(vec![1], flate2::Compression::default());
            std::io::Write::write_all(&mut gz, &plain).expect("gzip into memory");
            let mut seeds = vec![[&[0u8][..], &plain].concat(), gz.finish().expect("gzip into memory")];
            // A gzip bomb: four megabytes of zeros in about four kilobytes.
            let mut bomb = flate2::write::GzEncoder::new(vec![1], flate2::Compression::best());
            std::io::Write::write_all(&mut bomb, &vec![0u8; 4 << 20]).expect("gzip into memory");
            seeds.push(bomb.finish().expect("gzip into memory"));
            seeds
        },
        run: |c, input| {
            let Some((first, body)) = input.split_first() else { return };
            let encoding = (first % 2 == 1).then(|| "gzip".to_string());
            let inflight = Inflight::new(usize::MAX, usize::MAX, c.limits.max_stored_bytes_per_request);
            let ticket = inflight.ticket(None);
            // The fuzzer's inputs are at most 64 KiB; a limit of 1 MiB
            // decompressed keeps a bomb's cost to what the check allows.
            let limit = 1 << 20;
            let Ok((batch, _held)) = edgemetrics_collector::http::decode_body(
                encoding,
                body.to_vec(),
                limit,
                c.limits.max_chunks_per_request,
                &ticket,
            ) else {
                return;
            };
            validate(c, batch.chunks);
        },
    },
    Target {
        name: "subscribe",
        about: "a WebSocket subscription's first frame (protobuf SubscribeRequest) and the collector's checks of its names",
        seeds: |_| {
            let request = SubscribeRequest {
                token: "t".into(),
                cluster_id: "c1".into(),
                collections: vec!["containerMetrics".into(), "pageMetrics".into()],
                from_clusters: vec!["c2".into()],
            };
            vec![request.encode_to_vec()]
        },
        run: |_, input| {
            if let Ok(request) = SubscribeRequest::decode(input) {
                let _ = edgemetrics_collector::auth::validate_cluster_id(&request.cluster_id);
                for name in request.collections.iter().chain(&request.from_clusters) {
                    let _ = edgemetrics_collector::schema_map::check_collection_name(name);
                    let _ = edgemetrics_collector::auth::validate_cluster_id(name);
                }
            }
        },
    },
];
