//! Byte-exact agreement with apache-avro over the JSON corpus in
//! `tests/corpus/*.json`.
//!
//! Each corpus file is `{"name", "note", "schema", "rows", "bad_rows"?}`. Every
//! row is encoded by ours (as a `serde_json::Value`) and, converted to
//! apache-avro's `Value` by `corpus/bridge.rs` (which follows the same rules
//! as our encoder), by `apache_avro::to_avro_datum`; the bytes must be equal.
//! Then each side reads the other's bytes back.

#[path = "corpus/bridge.rs"]
mod bridge;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use apache_avro::{Schema as ApacheSchema, from_avro_datum, to_avro_datum};
use bridge::{
    Converter, apache_fingerprint, has_logical_type, hex, normalize, strip_logical, union_choices_apache,
    union_choices_ours,
};
use edgemetrics::engine::avro::{Value, decode_all, decode_value, encode};
use edgemetrics::engine::schema::{Schema, rabin_fingerprint};
use serde_json::Value as Json;

/// Entries of `tests/corpus` that are not this corpus's data (`js/` holds the
/// corpora the npm package's encoder and schema reader share with the engine).
const SUPPORT_FILES: &[&str] = &["bridge.rs", "js"];

struct BadRow {
    row: Json,
    error_contains: String,
}

struct CorpusFile {
    path: PathBuf,
    schema_json: Json,
    rows: Vec<Json>,
    bad_rows: Vec<BadRow>,
}

impl CorpusFile {
    fn label(&self) -> String {
        self.path.file_name().unwrap().to_string_lossy().into_owned()
    }

    fn schema_text(&self) -> String {
        self.schema_json.to_string()
    }

    fn ours(&self) -> Schema {
        Schema::parse(&self.schema_text())
            .unwrap_or_else(|e| panic!("{}: our parser refused the schema: {e}", self.label()))
    }

    fn apache(&self) -> ApacheSchema {
        ApacheSchema::parse_str(&self.schema_text())
            .unwrap_or_else(|e| panic!("{}: apache-avro refused the schema: {e}", self.label()))
    }
}

fn load(path: &Path) -> Result<CorpusFile, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let json: Json = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let object = json.as_object().ok_or("the top level is not an object")?;
    if let Some(key) = object.keys().find(|k| !matches!(k.as_str(), "name" | "note" | "schema" | "rows" | "bad_rows")) {
        return Err(format!("unknown key {key:?}"));
    }
    object.get("name").and_then(Json::as_str).ok_or("missing \"name\"")?;
    let schema_json = object.get("schema").cloned().ok_or("missing \"schema\"")?;
    let rows = object.get("rows").and_then(Json::as_array).cloned().ok_or("missing \"rows\" array")?;
    if rows.is_empty() {
        return Err("\"rows\" is empty".into());
    }
    let mut bad_rows = Vec::new();
    for bad in object.get("bad_rows").and_then(Json::as_array).into_iter().flatten() {
        let row = bad.get("row").cloned().ok_or("a bad row without \"row\"")?;
        let error_contains =
            bad.get("error_contains").and_then(Json::as_str).ok_or("a bad row without \"error_contains\"")?;
        bad_rows.push(BadRow { row, error_contains: error_contains.to_owned() });
    }
    Ok(CorpusFile { path: path.to_owned(), schema_json, rows, bad_rows })
}

/// Every corpus file; panics when the directory is missing or empty, when a
/// file is not valid corpus JSON, or when a file is neither data nor support.
fn corpus() -> Vec<CorpusFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if SUPPORT_FILES.contains(&name.as_str()) {
            continue;
        }
        assert!(name.ends_with(".json"), "{}: not a .json corpus file", path.display());
        files.push(load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

#[test]
fn corpus_is_present_and_every_file_parses() {
    let files = corpus();
    assert!(files.len() >= 12, "expected the 12 corpus themes, found {}", files.len());
    for file in &files {
        // Both parsers take every corpus schema.
        file.ours();
        file.apache();
    }
}

/// The corpus rows (and the defaults they leave out) reach every Avro type
/// and logical type.
#[test]
fn corpus_covers_every_type() {
    let mut seen = BTreeSet::new();
    let mut bad_rows = 0;
    for file in corpus() {
        let apache = file.apache();
        let mut converter = Converter::new(&apache);
        for (i, row) in file.rows.iter().enumerate() {
            converter.row(row).unwrap_or_else(|e| panic!("{} row {i}: {e}", file.label()));
        }
        seen.extend(converter.seen);
        bad_rows += file.bad_rows.len();
    }
    let required = bridge::KINDS;
    let missing: Vec<_> = required.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(missing.is_empty(), "no corpus row exercises {missing:?}; seen {seen:?}");
    assert!(bad_rows >= 30, "only {bad_rows} bad rows");
}

/// Encodes `row` with ours and with apache-avro, compares, and reads each
/// side's bytes with the other; returns our bytes.
fn check_row(label: &str, ours: &Schema, apache: &ApacheSchema, row: &Json) -> Result<Vec<u8>, String> {
    let mut our_bytes = Vec::new();
    encode(ours, row, &mut our_bytes).map_err(|e| format!("{label}: our encoder refused the row: {e}"))?;
    let expected = Converter::new(apache).row(row).map_err(|e| format!("{label}: converter: {e}"))?;
    let their_bytes = to_avro_datum(apache, expected.clone())
        .map_err(|e| format!("{label}: apache-avro refused {expected:?}: {e}"))?;

    // The converter picks union branches by the rule our encoder follows
    // (see corpus/bridge.rs: null to null; a scalar to the first branch of
    // its exact kind, else the first branch that takes it; an array to the
    // first array/bytes/fixed branch; an object to the first record/map
    // branch): both sides must have picked the same branch of every union.
    let ours_decoded = decode_all(ours, &our_bytes, 1).map_err(|e| format!("{label}: decode_all: {e}"))?;
    let (ours_picked, apache_picked) = (union_choices_ours(&ours_decoded[0]), union_choices_apache(&expected));
    if ours_picked != apache_picked {
        return Err(format!(
            "{label}: union branches differ\n  ours:      {ours_picked:?}\n  converter: {apache_picked:?}"
        ));
    }

    // apache-avro writes map entries in HashMap order; that is the only
    // difference allowed, and only when the row has a map.
    if our_bytes != their_bytes {
        let same_entries = normalize(apache, &our_bytes)? == normalize(apache, &their_bytes)?;
        if !same_entries {
            return Err(format!(
                "{label}: bytes differ\n  ours   ({} bytes): {}\n  apache ({} bytes): {}",
                our_bytes.len(),
                hex(&our_bytes),
                their_bytes.len(),
                hex(&their_bytes)
            ));
        }
    }

    // apache-avro reads our bytes as the value it was given.
    let mut input = &our_bytes[..];
    let back =
        from_avro_datum(apache, &mut input, None).map_err(|e| format!("{label}: apache-avro cannot read ours: {e}"))?;
    if back != expected {
        return Err(format!("{label}: apache-avro read ours as\n  {back:?}\nexpected\n  {expected:?}"));
    }
    if !input.is_empty() {
        return Err(format!("{label}: apache-avro left {} of our bytes", input.len()));
    }

    // Ours reads ours back, and writes the decoded value to the same bytes.
    let mut input = &our_bytes[..];
    let value = decode_value(ours, &mut input).map_err(|e| format!("{label}: decode_value: {e}"))?;
    if !input.is_empty() {
        return Err(format!("{label}: decode_value left {} bytes", input.len()));
    }
    let all = decode_all(ours, &our_bytes, 1).map_err(|e| format!("{label}: decode_all: {e}"))?;
    if all != [value.clone()] {
        return Err(format!("{label}: decode_all and decode_value disagree"));
    }
    let mut again = Vec::new();
    encode(ours, &value, &mut again).map_err(|e| format!("{label}: re-encoding the decoded value: {e}"))?;
    if again != our_bytes {
        return Err(format!(
            "{label}: decoded value re-encodes differently\n  first:  {}\n  again:  {}",
            hex(&our_bytes),
            hex(&again)
        ));
    }

    // Ours reads apache-avro's bytes and writes them back unchanged (our
    // Value keeps map entries in encoded order).
    let theirs =
        decode_all(ours, &their_bytes, 1).map_err(|e| format!("{label}: cannot read apache-avro's bytes: {e}"))?;
    let mut again = Vec::new();
    encode(ours, &theirs[0], &mut again).map_err(|e| format!("{label}: re-encoding apache's datum: {e}"))?;
    if again != their_bytes {
        return Err(format!(
            "{label}: apache's datum re-encodes differently\n  apache: {}\n  ours:   {}",
            hex(&their_bytes),
            hex(&again)
        ));
    }
    Ok(our_bytes)
}

/// Runs `f` on a thread with a 64 MiB stack: apache-avro's decoder takes
/// so much stack per nesting level in debug builds that the 50-node linked
/// list of the corpus overflows the 2 MiB of a test thread.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = std::thread::Builder::new().stack_size(64 << 20).spawn(f).expect("spawn");
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[test]
fn rows_encode_byte_for_byte_like_apache_avro() {
    on_big_stack(rows_encode_byte_for_byte_like_apache_avro_inner);
}

fn rows_encode_byte_for_byte_like_apache_avro_inner() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in corpus() {
        let (ours, apache) = (file.ours(), file.apache());
        for (i, row) in file.rows.iter().enumerate() {
            match check_row(&format!("{} row {i}", file.label()), &ours, &apache, row) {
                Ok(_) => checked += 1,
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        checked + failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn concatenated_rows_decode_only_with_the_exact_count() {
    for file in corpus() {
        let ours = file.ours();
        let label = file.label();
        let mut chunk = Vec::new();
        let mut separate = Vec::new();
        for row in &file.rows {
            // Appending to a non-empty buffer writes the same bytes as alone.
            encode(&ours, row, &mut chunk).unwrap_or_else(|e| panic!("{label}: {e}"));
            let mut alone = Vec::new();
            encode(&ours, row, &mut alone).unwrap();
            separate.extend_from_slice(&alone);
        }
        assert_eq!(chunk, separate, "{label}: appended encodings differ from separate ones");
        let n = file.rows.len();
        let values = decode_all(&ours, &chunk, n).unwrap_or_else(|e| panic!("{label}: decode_all({n}): {e}"));
        assert_eq!(values.len(), n, "{label}");
        let mut input = &chunk[..];
        for (i, value) in values.iter().enumerate() {
            let one = decode_value(&ours, &mut input).unwrap_or_else(|e| panic!("{label} row {i}: {e}"));
            assert_eq!(&one, value, "{label} row {i}");
        }
        assert!(input.is_empty(), "{label}");
        assert!(decode_all(&ours, &chunk, n + 1).is_err(), "{label}: decode_all({}) of {n} rows succeeded", n + 1);
        let short = decode_all(&ours, &chunk, n - 1);
        assert!(short.is_err(), "{label}: decode_all({}) of {n} rows succeeded", n - 1);
        assert!(short.unwrap_err().message.contains("left over"), "{label}");
    }
}

#[test]
fn bad_rows_fail_naming_the_field_and_leave_the_buffer_as_it_was() {
    let mut failures = Vec::new();
    let mut count = 0;
    for file in corpus() {
        let ours = file.ours();
        // A buffer that already holds a good row, as a chunk being filled would.
        let mut prefix = vec![0xAA, 0xBB];
        encode(&ours, &file.rows[0], &mut prefix).unwrap();
        for (i, bad) in file.bad_rows.iter().enumerate() {
            count += 1;
            let label = format!("{} bad row {i}", file.label());
            let mut buffer = prefix.clone();
            match encode(&ours, &bad.row, &mut buffer) {
                Ok(()) => {
                    failures.push(format!("{label}: encoded, expected an error containing {:?}", bad.error_contains))
                }
                Err(e) if !e.to_string().contains(&bad.error_contains) => failures.push(format!(
                    "{label}: error {:?} does not contain {:?}",
                    e.to_string(),
                    bad.error_contains
                )),
                Err(_) => {}
            }
            if buffer != prefix {
                failures.push(format!("{label}: the buffer changed: {} -> {}", hex(&prefix), hex(&buffer)));
            }
        }
    }
    assert!(count > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Our Parsing Canonical Form and CRC-64-AVRO fingerprint against
/// apache-avro's.
///
/// apache-avro's `Rabin` digest gives the fingerprint as 8 bytes, the u64
/// little-endian (`result.to_le_bytes()` in its `rabin.rs`), so ours equals
/// `u64::from_le_bytes(apache_bytes)`.
///
/// apache-avro 0.21 keeps logical types in its canonical form (a date is
/// `{"type":"int"}` there, a decimal keeps `precision` and `scale`), against
/// the specification's [STRIP] and [PRIMITIVES] rules, which Java follows and
/// ours follows. So ours is compared with apache's canonical form of the
/// schema without its logical type attributes, and with the schema itself only
/// when it has no logical types.
#[test]
fn fingerprints_and_canonical_forms_match_apache_avro() {
    for file in corpus() {
        let label = file.label();
        let ours = file.ours();
        assert_eq!(ours.fingerprint(), rabin_fingerprint(ours.canonical_form().as_bytes()), "{label}");

        let stripped = ApacheSchema::parse_str(&strip_logical(&file.schema_json).to_string())
            .unwrap_or_else(|e| panic!("{label}: apache-avro refused the stripped schema: {e}"));
        assert_eq!(ours.canonical_form(), stripped.canonical_form(), "{label}: canonical forms differ");
        assert_eq!(ours.fingerprint(), apache_fingerprint(&stripped), "{label}: fingerprints differ");

        let apache = file.apache();
        if has_logical_type(&file.schema_json) {
            continue;
        }
        assert_eq!(ours.canonical_form(), apache.canonical_form(), "{label}: canonical forms differ");
        assert_eq!(ours.fingerprint(), apache_fingerprint(&apache), "{label}: fingerprints differ");
    }
}

/// What the wire form leaves out on purpose, removed from apache-avro's
/// serialization of a schema: docs, aliases, a field's sort `order`, and an
/// enum's default (only schema resolution reads it; the collector does not).
/// And a whole number is one number, whether written `-2.5e10` or, as the
/// wire form writes it, `-25000000000`.
fn without_what_the_wire_form_drops(json: &Json) -> Json {
    match json {
        Json::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() && x.fract() == 0.0 && x.abs() < 2f64.powi(53) => Json::from(x as i64),
            _ => json.clone(),
        },
        Json::Object(members) => {
            let is_enum = members.get("type").and_then(Json::as_str) == Some("enum");
            Json::Object(
                members
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "doc" | "aliases" | "order"))
                    .filter(|(k, _)| !(is_enum && k.as_str() == "default"))
                    .map(|(k, v)| (k.clone(), without_what_the_wire_form_drops(v)))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(without_what_the_wire_form_drops).collect()),
        other => other.clone(),
    }
}

/// The collector reads chunks with apache-avro, and chunks carry the wire
/// form: apache-avro must read it as the schema the user wrote, logical types,
/// decimals and field defaults included, and decode every row to the same
/// values (which carry their logical types: dates, decimals, uuids).
#[test]
fn apache_avro_reads_the_wire_form_as_the_schema_itself() {
    on_big_stack(apache_avro_reads_the_wire_form_as_the_schema_itself_inner);
}

fn apache_avro_reads_the_wire_form_as_the_schema_itself_inner() {
    for file in corpus() {
        let label = file.label();
        let ours = file.ours();
        let apache = file.apache();
        let wire = ApacheSchema::parse_str(ours.wire_form())
            .unwrap_or_else(|e| panic!("{label}: apache-avro refused the wire form: {e}\n{}", ours.wire_form()));
        let as_json = |schema: &ApacheSchema| without_what_the_wire_form_drops(&serde_json::to_value(schema).unwrap());
        assert_eq!(as_json(&wire), as_json(&apache), "{label}: the wire form reads as another schema");
        for row in &file.rows {
            let mut bytes = Vec::new();
            encode(&ours, row, &mut bytes).unwrap_or_else(|e| panic!("{label}: {row}: {e}"));
            let read = |schema: &ApacheSchema| from_avro_datum(schema, &mut bytes.as_slice(), None).unwrap();
            assert_eq!(read(&wire), read(&apache), "{label}: {row}");
        }
    }
}

/// Pins the apache-avro deviation worked around above: when this fails,
/// apache-avro strips logical types too and the workaround can go.
#[test]
fn apache_avro_keeps_logical_types_in_its_canonical_form() {
    let text = r#"{"type":"record","name":"r","fields":[{"name":"d","type":{"type":"int","logicalType":"date"}}]}"#;
    let ours = Schema::parse(text).unwrap();
    assert_eq!(ours.canonical_form(), r#"{"name":"r","type":"record","fields":[{"name":"d","type":"int"}]}"#);
    let apache = ApacheSchema::parse_str(text).unwrap();
    assert_eq!(
        apache.canonical_form(),
        r#"{"name":"r","type":"record","fields":[{"name":"d","type":{"type":"int"}}]}"#
    );
}

/// The record cases of the specification's test vectors
/// (`share/test/data/schema-tests.txt` in apache/avro), independent of
/// apache-avro's Rust crate. Case 026 has `"default":true` here where the
/// file has the string `"true"`, which our parser rightly refuses for a
/// boolean; defaults do not enter the canonical form.
#[test]
fn fingerprints_match_the_specification_test_vectors() {
    let cases: &[(&str, &str, &str, i64)] = &[
        (
            "019",
            r#"{"fields":[], "type":"record", "name":"foo"}"#,
            r#"{"name":"foo","type":"record","fields":[]}"#,
            -4824392279771201922,
        ),
        (
            "020",
            r#"{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}"#,
            r#"{"name":"x.y.foo","type":"record","fields":[]}"#,
            5916914534497305771,
        ),
        (
            "021",
            r#"{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}"#,
            r#"{"name":"a.b.foo","type":"record","fields":[]}"#,
            -4616218487480524110,
        ),
        (
            "022",
            r#"{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}"#,
            r#"{"name":"foo","type":"record","fields":[]}"#,
            -4824392279771201922,
        ),
        (
            "023",
            r#"{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}"#,
            r#"{"name":"foo","type":"record","fields":[]}"#,
            -4824392279771201922,
        ),
        (
            "024",
            r#"{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}"#,
            r#"{"name":"foo","type":"record","fields":[]}"#,
            -4824392279771201922,
        ),
        (
            "025",
            r#"{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}"#,
            r#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}"#,
            7843277075252814651,
        ),
        (
            "026",
            r#"{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":true},
                {"order":"descending","name":"f2","doc":"Hello","type":"int"}], "type":"record", "name":"foo" }"#,
            r#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}"#,
            -4860222112080293046,
        ),
        (
            "033",
            r#"{"name":"PigValue","type":"record", "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}"#,
            r#"{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}"#,
            -1759257747318642341,
        ),
    ];
    for (case, input, canonical, fingerprint) in cases {
        let schema = Schema::parse(input).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(schema.canonical_form(), *canonical, "case {case}");
        assert_eq!(schema.fingerprint() as i64, *fingerprint, "case {case}");
        let apache = ApacheSchema::parse_str(input).unwrap();
        assert_eq!(apache_fingerprint(&apache) as i64, *fingerprint, "case {case}: apache-avro");
    }
}

/// Decoding a datum with a union whose branch index, enum index or lengths
/// are off is an error, not a panic; a sanity check of the corpus bytes with
/// every single byte changed.
#[test]
fn corrupted_corpus_bytes_never_panic() {
    for file in corpus() {
        let ours = file.ours();
        for row in file.rows.iter().take(3) {
            let mut bytes = Vec::new();
            encode(&ours, row, &mut bytes).unwrap();
            if bytes.len() > 4096 {
                continue;
            }
            for i in 0..bytes.len() {
                for replacement in [0x00, 0x7f, 0x80, 0xff, bytes[i] ^ 0x01] {
                    let mut corrupt = bytes.clone();
                    corrupt[i] = replacement;
                    let _ = decode_all(&ours, &corrupt, 1);
                    let _ = decode_value(&ours, &mut &corrupt[..]);
                }
            }
            for cut in 0..bytes.len() {
                assert!(
                    decode_all(&ours, &bytes[..cut], 1).is_err(),
                    "{}: {cut} of {} bytes decoded",
                    file.label(),
                    bytes.len()
                );
            }
        }
    }
}

/// A deep linked list hits our decoder's nesting limit (256 levels of
/// values; a list node is two: the union and the record) as an error.
#[test]
fn deeply_nested_input_is_refused_not_overflowed() {
    let text = r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#;
    let schema = Schema::parse(text).unwrap();
    // Branch 1 ("L") a hundred thousand times, then null.
    let mut bytes = vec![0x02; 100_000];
    bytes.push(0x00);
    let error = decode_all(&schema, &bytes, 1).unwrap_err();
    assert!(error.message.contains("nested too deeply"), "{error}");
    // Within the limit it decodes.
    let mut ok = vec![0x02; 100];
    ok.push(0x00);
    let values = decode_all(&schema, &ok, 1).unwrap();
    let mut depth = 0;
    let mut value = &values[0];
    while let Some(Value::Union(1, next)) = value.field("next") {
        depth += 1;
        value = next;
    }
    assert_eq!(depth, 100);
    // The typed (serde) decoder has the same limit.
    assert!(edgemetrics::engine::avro::decode::<serde_json::Value>(&schema, &mut &bytes[..]).is_err());
    let typed: serde_json::Value = edgemetrics::engine::avro::decode(&schema, &mut &ok[..]).unwrap();
    assert!(typed["next"]["next"].is_object());
}
