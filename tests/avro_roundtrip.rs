//! Property tests of the Avro encoder and decoder on random schemas and rows,
//! against themselves and against apache-avro.
//!
//! Schemas are records of nested records, arrays, maps, enums, fixed,
//! decimals, logical types, unions and references to named types defined
//! earlier, in several namespaces, with field defaults. Unions keep to
//! branches whose values cannot be confused (see [`conflicts`]), so that a
//! decoded value written again takes the branch it came from.

#[path = "corpus/bridge.rs"]
mod bridge;

use apache_avro::{Schema as ApacheSchema, from_avro_datum, to_avro_datum};
use bridge::{Converter, apache_fingerprint, has_logical_type, hex, normalize, strip_logical};
use edgemetrics::engine::avro::{decode, decode_all, decode_value, encode};
use edgemetrics::engine::schema::Schema;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{Value as Json, json};

/// A named type's name: `short` and `full` are set by [`Resolver`].
#[derive(Clone, Debug, Default)]
struct Named {
    short: String,
    /// The `namespace` attribute, if the type has one.
    namespace: Option<String>,
    full: String,
}

impl Named {
    fn namespace(&self) -> &str {
        self.full.rsplit_once('.').map_or("", |(ns, _)| ns)
    }
}

#[derive(Clone, Debug)]
struct Field {
    name: String,
    ty: Ty,
    default: Option<Json>,
    /// Asks [`Resolver`] for a default, drawn from this seed.
    default_seed: Option<u64>,
}

/// A schema type as generated. `Prev` (a reference to some named type
/// defined earlier) becomes `Ref` in [`Resolver`].
#[derive(Clone, Debug)]
enum Ty {
    Null,
    Boolean,
    /// `int` with a logical type, or `""`.
    Int(&'static str),
    /// `long` with a logical type, or `""`.
    Long(&'static str),
    Float,
    Double,
    Bytes,
    Str,
    Uuid,
    /// decimal on bytes.
    Decimal(u32, u32),
    Enum(Named, Vec<String>),
    /// A fixed of this size, maybe a decimal (precision, scale).
    Fixed(Named, usize, Option<(u32, u32)>),
    Array(Box<Ty>),
    Map(Box<Ty>),
    Union(Vec<Ty>),
    Record(Named, Vec<Field>),
    /// A reference by name (as written) to a type defined earlier.
    Ref(String, Box<Ty>),
    Prev(usize),
}

const SYMBOLS: &[&str] = &["A", "B", "C", "D", "E", "F", "G", "H"];

/// The largest decimal precision a fixed of `size` bytes holds.
fn max_precision(size: usize) -> u32 {
    ((8 * size - 1) as f64 * 2f64.log10()).floor() as u32
}

fn named() -> impl Strategy<Value = Named> {
    prop_oneof![3 => Just(None), 1 => (1u8..4).prop_map(|k| Some(format!("ns{k}")))]
        .prop_map(|namespace| Named { namespace, ..Named::default() })
}

fn leaf() -> BoxedStrategy<Ty> {
    prop_oneof![
        1 => Just(Ty::Null),
        2 => Just(Ty::Boolean),
        3 => prop::sample::select(vec!["", "", "date", "time-millis"]).prop_map(Ty::Int),
        3 => prop::sample::select(vec![
            "", "", "time-micros", "timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros",
        ])
        .prop_map(Ty::Long),
        2 => Just(Ty::Float),
        2 => Just(Ty::Double),
        2 => Just(Ty::Bytes),
        3 => Just(Ty::Str),
        1 => Just(Ty::Uuid),
        1 => (1u32..30, any::<u32>()).prop_map(|(p, s)| Ty::Decimal(p, s % (p + 1))),
        2 => (named(), prop::sample::subsequence(SYMBOLS.to_vec(), 1..6))
            .prop_map(|(n, s)| Ty::Enum(n, s.into_iter().map(String::from).collect())),
        2 => (named(), 0usize..17, any::<bool>(), any::<u32>()).prop_map(|(n, size, decimal, r)| {
            let decimal = (decimal && size > 0).then(|| {
                let p = 1 + r % max_precision(size);
                (p, (r / 7) % (p + 1))
            });
            Ty::Fixed(n, size, decimal)
        }),
        2 => any::<usize>().prop_map(Ty::Prev),
    ]
    .boxed()
}

fn fields(inner: BoxedStrategy<Ty>) -> impl Strategy<Value = Vec<Field>> {
    prop::collection::vec((inner, prop::option::weighted(0.3, any::<u64>())), 0..5).prop_map(|fields| {
        fields
            .into_iter()
            .enumerate()
            .map(|(i, (ty, default_seed))| Field { name: format!("f{i}"), ty, default: None, default_seed })
            .collect()
    })
}

fn ty() -> BoxedStrategy<Ty> {
    leaf()
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                2 => inner.clone().prop_map(|t| Ty::Array(Box::new(t))),
                2 => inner.clone().prop_map(|t| Ty::Map(Box::new(t))),
                3 => (named(), fields(inner.clone())).prop_map(|(n, f)| Ty::Record(n, f)),
                3 => (prop::collection::vec(inner, 1..4), prop::option::of(0usize..4)).prop_map(|(mut branches, null)| {
                    if let Some(at) = null {
                        branches.insert(at.min(branches.len()), Ty::Null);
                    }
                    Ty::Union(branches)
                }),
            ]
        })
        .boxed()
}

/// A random top-level record, resolved.
fn schema() -> impl Strategy<Value = Ty> {
    fields(ty()).prop_map(|fields| {
        let mut resolver = Resolver { next_name: 0, defined: Vec::new() };
        resolver.resolve(Ty::Record(Named { namespace: Some("root".into()), ..Named::default() }, fields), "")
    })
}

/// Kinds of union branch our encoder tells apart by the value alone.
fn family(t: &Ty) -> &'static str {
    match t {
        Ty::Null => "null",
        Ty::Boolean => "boolean",
        Ty::Int(_) => "int",
        Ty::Long(_) => "long",
        Ty::Float => "float",
        Ty::Double => "double",
        Ty::Str | Ty::Uuid => "string",
        Ty::Bytes | Ty::Decimal(..) => "bytes",
        Ty::Enum(..) => "enum",
        Ty::Fixed(..) => "fixed",
        Ty::Array(_) => "array",
        Ty::Map(_) => "map",
        Ty::Record(..) => "record",
        Ty::Union(_) => "union",
        Ty::Ref(_, def) => family(def),
        Ty::Prev(_) => unreachable!("resolved"),
    }
}

/// Branches that may not share a union: the same kind twice (our parser
/// refuses int with date, string with uuid, and so on; two named types of
/// one kind are ambiguous), and kinds one value could go into either of:
/// a string into an enum or bytes, a sequence into an array, bytes or
/// fixed, a map into a record or a map.
fn conflicts(a: &Ty, b: &Ty) -> bool {
    const PAIRS: &[(&str, &str)] = &[
        ("enum", "string"),
        ("enum", "bytes"),
        ("bytes", "fixed"),
        ("array", "bytes"),
        ("array", "fixed"),
        ("record", "map"),
    ];
    let (a, b) = (family(a), family(b));
    a == b || PAIRS.iter().any(|&(x, y)| (x, y) == (a, b) || (x, y) == (b, a))
}

fn contains_decimal(t: &Ty) -> bool {
    match t {
        Ty::Decimal(..) | Ty::Fixed(_, _, Some(_)) => true,
        Ty::Array(t) | Ty::Map(t) | Ty::Ref(_, t) => contains_decimal(t),
        Ty::Union(b) => b.iter().any(contains_decimal),
        Ty::Record(_, f) => f.iter().any(|f| contains_decimal(&f.ty)),
        _ => false,
    }
}

/// Names named types (`N0`, `N1`, ... in order of definition), turns `Prev`
/// into references to types already complete (so no recursion), drops union
/// branches that conflict, and draws field defaults.
struct Resolver {
    next_name: usize,
    defined: Vec<Ty>,
}

impl Resolver {
    fn name(&mut self, named: Named, enclosing: &str) -> Named {
        let short = format!("N{}", self.next_name);
        self.next_name += 1;
        let namespace = named.namespace.clone().unwrap_or_else(|| enclosing.to_owned());
        let full = if namespace.is_empty() { short.clone() } else { format!("{namespace}.{short}") };
        Named { short, namespace: named.namespace, full }
    }

    fn resolve(&mut self, t: Ty, ns: &str) -> Ty {
        match t {
            Ty::Enum(n, symbols) => {
                let t = Ty::Enum(self.name(n, ns), symbols);
                self.defined.push(t.clone());
                t
            }
            Ty::Fixed(n, size, decimal) => {
                let t = Ty::Fixed(self.name(n, ns), size, decimal);
                // apache-avro 0.21 does not register the name of a decimal
                // fixed: a reference to it fails to resolve there.
                if decimal.is_none() {
                    self.defined.push(t.clone());
                }
                t
            }
            Ty::Record(n, fields) => {
                let n = self.name(n, ns);
                let inner_ns = n.namespace().to_owned();
                let mut resolved = Vec::new();
                for f in fields {
                    let ty = self.resolve(f.ty, &inner_ns);
                    let default = match f.default_seed {
                        Some(seed) if !contains_decimal(&ty) => Some(default_for(&ty, &mut Rng(seed))),
                        _ => None,
                    };
                    resolved.push(Field { ty, default, ..f });
                }
                let t = Ty::Record(n, resolved);
                self.defined.push(t.clone());
                t
            }
            Ty::Prev(_) if self.defined.is_empty() => Ty::Int(""),
            Ty::Prev(k) => {
                let def = self.defined[k % self.defined.len()].clone();
                let (Ty::Enum(n, ..) | Ty::Fixed(n, ..) | Ty::Record(n, ..)) = &def else { unreachable!() };
                // Short within the same namespace, full otherwise.
                let written = if n.namespace() == ns { n.short.clone() } else { n.full.clone() };
                Ty::Ref(written, Box::new(def))
            }
            Ty::Array(t) => Ty::Array(Box::new(self.resolve(*t, ns))),
            Ty::Map(t) => Ty::Map(Box::new(self.resolve(*t, ns))),
            Ty::Union(branches) => {
                let mut kept: Vec<Ty> = Vec::new();
                for b in branches {
                    if matches!(b, Ty::Union(_)) {
                        continue;
                    }
                    let (names, defined) = (self.next_name, self.defined.len());
                    let b = self.resolve(b, ns);
                    if kept.iter().any(|k| conflicts(k, &b)) {
                        // Undo the names the dropped branch defined.
                        self.next_name = names;
                        self.defined.truncate(defined);
                    } else {
                        kept.push(b);
                    }
                }
                if kept.is_empty() {
                    kept.push(Ty::Null);
                }
                Ty::Union(kept)
            }
            other => other,
        }
    }
}

/// splitmix64, for defaults drawn in `prop_map`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Bytes as a default: a string of code points 0..=255.
fn latin1(bytes: impl IntoIterator<Item = u8>) -> Json {
    Json::String(bytes.into_iter().map(char::from).collect())
}

fn uuid_text(b: [u8; 16]) -> String {
    let h: String = b.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// A default value for `t` as schema JSON writes it.
fn default_for(t: &Ty, rng: &mut Rng) -> Json {
    match t {
        Ty::Null => Json::Null,
        Ty::Boolean => json!(rng.below(2) == 1),
        Ty::Int(_) => json!(rng.next() as i32),
        Ty::Long(_) => json!(rng.next() as i64),
        Ty::Float => json!((rng.next() as i16) as f64 / 8.0),
        // Few digits: apache-avro parses schemas with serde_json, whose
        // default float parsing can be one ulp off for 16 and more digits
        // (-8933608025728567.0 and -924919.7470703125 were), where ours is
        // exact.
        Ty::Double => json!((rng.next() as i32 % 10_000_000) as f64 / 8.0),
        // ASCII only: apache-avro reads a bytes or fixed default as the UTF-8
        // of the string (`s.into_bytes()` in its types.rs), not as code
        // points 0..=255 as the specification (and ours) does, so a fixed
        // default with "£" in a union fails its size check there.
        Ty::Bytes => latin1((0..rng.below(5)).map(|_| rng.next() as u8 & 0x7f).collect::<Vec<_>>()),
        Ty::Str => json!(format!("d{}é", rng.below(1000))),
        Ty::Uuid => json!(uuid_text(rng.next().to_le_bytes().repeat(2).try_into().unwrap())),
        Ty::Enum(_, symbols) => json!(symbols[rng.below(symbols.len() as u64) as usize]),
        Ty::Fixed(_, size, _) => latin1((0..*size).map(|_| rng.next() as u8 & 0x7f).collect::<Vec<_>>()),
        Ty::Array(item) => Json::Array((0..rng.below(3)).map(|_| default_for(item, rng)).collect()),
        Ty::Map(values) => {
            Json::Object((0..rng.below(3)).map(|i| (format!("k{i}"), default_for(values, rng))).collect())
        }
        // A union's default belongs to its first branch.
        Ty::Union(branches) => default_for(&branches[0], rng),
        Ty::Record(_, fields) => {
            let mut members = serde_json::Map::new();
            for f in fields {
                // A field with a default of its own is left out half the time.
                if f.default.is_none() || rng.below(2) == 0 {
                    members.insert(f.name.clone(), default_for(&f.ty, rng));
                }
            }
            Json::Object(members)
        }
        Ty::Ref(_, def) => default_for(def, rng),
        Ty::Decimal(..) | Ty::Prev(_) => unreachable!("no decimal defaults (apache-avro refuses them)"),
    }
}

/// The schema JSON of a resolved type.
fn to_json(t: &Ty) -> Json {
    let logical = |base: &str, logical: &str| {
        if logical.is_empty() { json!(base) } else { json!({"type": base, "logicalType": logical}) }
    };
    let named = |n: &Named, mut body: serde_json::Map<String, Json>| {
        body.insert("name".into(), json!(n.short));
        if let Some(ns) = &n.namespace {
            body.insert("namespace".into(), json!(ns));
        }
        Json::Object(body)
    };
    match t {
        Ty::Null => json!("null"),
        Ty::Boolean => json!("boolean"),
        Ty::Int(l) => logical("int", l),
        Ty::Long(l) => logical("long", l),
        Ty::Float => json!("float"),
        Ty::Double => json!("double"),
        Ty::Bytes => json!("bytes"),
        Ty::Str => json!("string"),
        Ty::Uuid => logical("string", "uuid"),
        Ty::Decimal(p, s) => json!({"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s}),
        Ty::Enum(n, symbols) => named(n, json!({"type": "enum", "symbols": symbols}).as_object().unwrap().clone()),
        Ty::Fixed(n, size, decimal) => {
            let mut body = json!({"type": "fixed", "size": size});
            if let Some((p, s)) = decimal {
                body["logicalType"] = json!("decimal");
                body["precision"] = json!(p);
                body["scale"] = json!(s);
            }
            named(n, body.as_object().unwrap().clone())
        }
        Ty::Array(item) => json!({"type": "array", "items": to_json(item)}),
        Ty::Map(values) => json!({"type": "map", "values": to_json(values)}),
        Ty::Union(branches) => Json::Array(branches.iter().map(to_json).collect()),
        Ty::Record(n, fields) => {
            let fields: Vec<Json> = fields
                .iter()
                .map(|f| {
                    let mut field = json!({"name": f.name, "type": to_json(&f.ty)});
                    if let Some(d) = &f.default {
                        field["default"] = d.clone();
                    }
                    field
                })
                .collect();
            named(n, json!({"type": "record", "fields": fields}).as_object().unwrap().clone())
        }
        Ty::Ref(written, _) => json!(written),
        Ty::Prev(_) => unreachable!("resolved"),
    }
}

fn bytes_json(bytes: Vec<u8>) -> Json {
    Json::Array(bytes.into_iter().map(Json::from).collect())
}

fn finite_f64(x: f64) -> Json {
    Json::from(serde_json::Number::from_f64(x).expect("finite"))
}

/// A JSON value of type `t`, in the shapes our encoder takes.
fn value(t: &Ty) -> BoxedStrategy<Json> {
    match t {
        Ty::Null => Just(Json::Null).boxed(),
        Ty::Boolean => any::<bool>().prop_map(Json::from).boxed(),
        Ty::Int(_) => prop_oneof![
            4 => any::<i32>().prop_map(Json::from),
            2 => (-200i32..200).prop_map(Json::from),
            1 => prop::sample::select(vec![i32::MIN, i32::MAX, 0, -1]).prop_map(Json::from),
            // JavaScript numbers: whole floats.
            1 => (-100_000i32..100_000).prop_map(|v| finite_f64(v as f64)),
        ]
        .boxed(),
        Ty::Long(_) => prop_oneof![
            4 => any::<i64>().prop_map(Json::from),
            2 => (-200i64..200).prop_map(Json::from),
            1 => prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1]).prop_map(Json::from),
            1 => (-(1i64 << 53)..(1i64 << 53)).prop_map(|v| finite_f64(v as f64)),
        ]
        .boxed(),
        Ty::Float => prop_oneof![
            4 => any::<f32>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| finite_f64(x as f64)),
            1 => any::<i32>().prop_map(Json::from),
        ]
        .boxed(),
        Ty::Double => prop_oneof![
            4 => any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(finite_f64),
            1 => any::<i64>().prop_map(Json::from),
        ]
        .boxed(),
        Ty::Bytes => prop_oneof![
            prop::collection::vec(any::<u8>(), 0..12).prop_map(bytes_json),
            "\\PC{0,8}".prop_map(Json::from),
        ]
        .boxed(),
        Ty::Str => prop_oneof![4 => "\\PC{0,12}", 1 => Just(String::new())].prop_map(Json::from).boxed(),
        Ty::Uuid => any::<[u8; 16]>().prop_map(|b| Json::from(uuid_text(b))).boxed(),
        Ty::Decimal(..) => prop::collection::vec(any::<u8>(), 1..9).prop_map(bytes_json).boxed(),
        Ty::Enum(_, symbols) => prop::sample::select(symbols.clone()).prop_map(Json::from).boxed(),
        Ty::Fixed(_, size, _) => prop::collection::vec(any::<u8>(), *size..=*size).prop_map(bytes_json).boxed(),
        Ty::Array(item) => prop::collection::vec(value(item), 0..4).prop_map(Json::Array).boxed(),
        Ty::Map(values) => prop::collection::btree_map("\\PC{0,4}", value(values), 0..4)
            .prop_map(|m| Json::Object(m.into_iter().collect()))
            .boxed(),
        Ty::Union(branches) => proptest::strategy::Union::new(branches.iter().map(value)).boxed(),
        Ty::Record(_, fields) => {
            let fields: Vec<BoxedStrategy<(String, Option<Json>)>> = fields
                .iter()
                .map(|f| {
                    let name = f.name.clone();
                    let given = value(&f.ty);
                    if f.default.is_some() {
                        // Leave out a field with a default one time in three.
                        (prop::option::weighted(0.67, given), Just(name)).prop_map(|(v, n)| (n, v)).boxed()
                    } else {
                        (given, Just(name)).prop_map(|(v, n)| (n, Some(v))).boxed()
                    }
                })
                .collect();
            fields
                .prop_map(|fields| Json::Object(fields.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))).collect()))
                .boxed()
        }
        Ty::Ref(_, def) => value(def),
        Ty::Prev(_) => unreachable!("resolved"),
    }
}

/// A schema and 1 to 3 rows of it.
fn schema_and_rows() -> impl Strategy<Value = (Ty, Vec<Json>)> {
    schema().prop_flat_map(|t| {
        let rows = prop::collection::vec(value(&t), 1..4);
        (Just(t), rows)
    })
}

/// Both parsers' schemas for a resolved type.
struct Parsed {
    json: Json,
    ours: Schema,
    apache: ApacheSchema,
}

fn parse(t: &Ty) -> Result<Parsed, TestCaseError> {
    let json = to_json(t);
    let text = json.to_string();
    let ours = Schema::parse(&text).map_err(|e| TestCaseError::fail(format!("ours refused {text}: {e}")))?;
    let apache =
        ApacheSchema::parse_str(&text).map_err(|e| TestCaseError::fail(format!("apache refused {text}: {e}")))?;
    Ok(Parsed { json, ours, apache })
}

fn encode_row(schema: &Schema, row: &Json) -> Result<Vec<u8>, TestCaseError> {
    let mut out = Vec::new();
    encode(schema, row, &mut out).map_err(|e| TestCaseError::fail(format!("ours refused {row}: {e}")))?;
    Ok(out)
}

fn config() -> Config {
    // Failures print the case; no regression files outside tests/corpus.
    Config { failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    /// (a) Ours decodes what it encodes: `decode_all` of the rows, written
    /// again, gives the same bytes, and takes exactly the row count.
    #[test]
    fn ours_round_trips((t, rows) in schema_and_rows()) {
        let p = parse(&t)?;
        let mut chunk = Vec::new();
        let mut each = Vec::new();
        for row in &rows {
            let bytes = encode_row(&p.ours, row)?;
            chunk.extend_from_slice(&bytes);
            each.push(bytes);
        }
        let values = decode_all(&p.ours, &chunk, rows.len())
            .map_err(|e| TestCaseError::fail(format!("decode_all: {e}\n{}", hex(&chunk))))?;
        prop_assert_eq!(values.len(), rows.len());
        for (value, bytes) in values.iter().zip(&each) {
            let mut again = Vec::new();
            encode(&p.ours, value, &mut again).map_err(|e| TestCaseError::fail(format!("re-encoding {value:?}: {e}")))?;
            prop_assert_eq!(&again, bytes, "decoded {:?}", value);
        }
        // Rows of a record without fields (or of nulls only) take no bytes:
        // any count of them fits an empty chunk.
        if !chunk.is_empty() {
            prop_assert!(decode_all(&p.ours, &chunk, rows.len() + 1).is_err());
            prop_assert!(decode_all(&p.ours, &chunk, rows.len() - 1).is_err());
        }
    }

    /// (b) Ours and apache-avro's `to_avro_datum` write the same bytes (map
    /// entries aside, which apache-avro writes in `HashMap` order), and
    /// (c) apache-avro reads ours back as the value it was given.
    #[test]
    fn ours_agrees_with_apache_avro((t, rows) in schema_and_rows()) {
        let p = parse(&t)?;
        for row in &rows {
            let ours = encode_row(&p.ours, row)?;
            let expected = Converter::new(&p.apache).row(row).map_err(TestCaseError::fail)?;
            let theirs = to_avro_datum(&p.apache, expected.clone())
                .map_err(|e| TestCaseError::fail(format!("apache refused {expected:?}: {e}")))?;
            if ours != theirs {
                prop_assert_eq!(
                    normalize(&p.apache, &ours).map_err(TestCaseError::fail)?,
                    normalize(&p.apache, &theirs).map_err(TestCaseError::fail)?,
                    "row {}\nours:   {}\napache: {}", row, hex(&ours), hex(&theirs)
                );
            }
            let mut input = &ours[..];
            let back = from_avro_datum(&p.apache, &mut input, None)
                .map_err(|e| TestCaseError::fail(format!("apache cannot read {}: {e}", hex(&ours))))?;
            prop_assert_eq!(back, expected);
            prop_assert!(input.is_empty());
        }
    }

    /// (d) Our canonical form and fingerprint equal apache-avro's (of the
    /// schema without logical types, which apache-avro 0.21 keeps in its
    /// canonical form against the specification; see avro_compat.rs).
    #[test]
    fn fingerprints_agree_with_apache_avro(t in schema()) {
        let p = parse(&t)?;
        let stripped = ApacheSchema::parse_str(&strip_logical(&p.json).to_string())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(p.ours.canonical_form(), stripped.canonical_form());
        prop_assert_eq!(p.ours.fingerprint(), apache_fingerprint(&stripped));
        if !has_logical_type(&p.json) {
            prop_assert_eq!(p.ours.fingerprint(), apache_fingerprint(&p.apache));
        }
    }

    /// (e) Random bytes never make the decoders panic: they give an error or
    /// a value.
    #[test]
    fn random_bytes_never_panic(t in schema(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let p = parse(&t)?;
        let mut input = &bytes[..];
        if decode_value(&p.ours, &mut input).is_ok() {
            prop_assert!(input.len() <= bytes.len());
        }
        let _ = decode_all(&p.ours, &bytes, 1);
        let _ = decode_all(&p.ours, &bytes, 3);
        let _ = decode::<serde_json::Value>(&p.ours, &mut &bytes[..]);
        let _ = decode::<serde::de::IgnoredAny>(&p.ours, &mut &bytes[..]);
    }

    /// (e) Valid encodings with one byte changed never make the decoders
    /// panic either (they get much further than random bytes).
    #[test]
    fn corrupted_encodings_never_panic((t, rows) in schema_and_rows(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let p = parse(&t)?;
        let mut bytes = encode_row(&p.ours, &rows[0])?;
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = decode_value(&p.ours, &mut &bytes[..]);
        let _ = decode_all(&p.ours, &bytes, 1);
        let _ = decode::<serde_json::Value>(&p.ours, &mut &bytes[..]);
    }

    /// (f) A valid encoding cut short anywhere is an error, never a panic
    /// and never a row.
    #[test]
    fn truncated_encodings_fail((t, rows) in schema_and_rows()) {
        let p = parse(&t)?;
        let bytes = encode_row(&p.ours, &rows[0])?;
        prop_assert!(decode_all(&p.ours, &bytes, 1).is_ok());
        for cut in 0..bytes.len() {
            prop_assert!(decode_all(&p.ours, &bytes[..cut], 1).is_err(), "{} of {} bytes decoded", cut, bytes.len());
        }
    }
}

/// The generators reach what they should: every kind, references, defaults
/// (given and left out), unions and namespaces, in a sample of schemas.
#[test]
fn generators_cover_the_schema_space() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    let mut texts = String::new();
    let strategy = schema_and_rows();
    for _ in 0..300 {
        let (t, rows) = strategy.new_tree(&mut runner).unwrap().current();
        let p = parse(&t).unwrap();
        let mut converter = Converter::new(&p.apache);
        for row in &rows {
            converter.row(row).unwrap();
        }
        seen.extend(converter.seen);
        texts.push_str(&p.json.to_string());
    }
    for kind in bridge::KINDS {
        assert!(seen.contains(kind), "no generated row reaches {kind}: {seen:?}");
    }
    // Explicit namespaces, defaults, references by full and by short name.
    for needle in ["\"namespace\":\"ns", "\"default\":", ":\"root.N", ":\"N"] {
        assert!(texts.contains(needle), "no generated schema has {needle}");
    }
}
