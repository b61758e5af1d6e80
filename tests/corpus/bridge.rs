//! Test support shared by `tests/avro_compat.rs` and `tests/avro_roundtrip.rs`
//! (each includes it with `#[path = "corpus/bridge.rs"] mod bridge;`).
//!
//! It turns a JSON row into apache-avro's `Value` following the rules
//! edgemetrics' encoder applies to a `serde_json::Value` row, so that
//! `apache_avro::to_avro_datum` of the result must give the bytes ours gives.
//! The rules, read from `src/engine/avro/ser.rs` and `compound.rs`:
//!
//! - Records take the fields of a JSON object in schema order; a missing
//!   field takes its default (a union's default belongs to its first branch;
//!   bytes and fixed defaults are strings of code points 0..=255); a key that
//!   is not a field is an error.
//! - A JSON integer is a serde `u64` when it is not negative and an `i64`
//!   otherwise; a JSON number with a fraction or exponent is an `f64`. They go
//!   into int and long (a float only when it holds a whole number in range),
//!   float and double.
//! - bytes take a JSON string (its UTF-8 bytes) or an array of numbers
//!   0..=255; decimal-on-bytes and fixed (decimal or not) take only arrays.
//!   Enums take their symbol as a string; uuid strings must be 8-4-4-4-12 hex.
//! - Unions: null takes the null branch. A scalar (boolean, number, string)
//!   first tries the branches of its exact kind in order — boolean for a
//!   boolean, double for an f64, long for an integer that does not fit in
//!   32 bits by type (i64, u64), string or uuid for a string — then every
//!   other branch in order, taking the first that accepts it. An array takes
//!   the first array, bytes or fixed branch and an object the first record or
//!   map branch, with no fallback to later branches.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use apache_avro::Decimal;
use apache_avro::schema::{DecimalSchema, EnumSchema, FixedSchema, RecordSchema, Schema, UnionSchema};
use apache_avro::types::Value as AValue;
use serde_json::Value as Json;

/// What kind of serde call a JSON number becomes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Found {
    /// `serialize_u64` (a JSON integer >= 0).
    U64,
    /// `serialize_i64` (a negative JSON integer).
    I64,
    /// `serialize_f64` (a JSON number with a fraction or exponent).
    F64,
}

/// Converts JSON rows to apache-avro values against one apache schema, and
/// records which schema kinds the converted values went through.
pub struct Converter<'s> {
    root: &'s Schema,
    names: HashMap<String, &'s Schema>,
    /// Kinds of schema nodes that rows (and defaults) produced a value for:
    /// `"int"`, `"date"`, `"union"`, `"ref"`, `"default"`, ...
    pub seen: BTreeSet<&'static str>,
}

/// Every kind of type and value the corpus and the generators must reach.
pub const KINDS: [&str; 26] = [
    "null",
    "boolean",
    "int",
    "long",
    "float",
    "double",
    "bytes",
    "string",
    "record",
    "enum",
    "array",
    "map",
    "union",
    "fixed",
    "ref",
    "default",
    "date",
    "time-millis",
    "time-micros",
    "timestamp-millis",
    "timestamp-micros",
    "local-timestamp-millis",
    "local-timestamp-micros",
    "uuid",
    "decimal-bytes",
    "decimal-fixed",
];

fn is_int_like(s: &Schema) -> bool {
    matches!(s, Schema::Int | Schema::Date | Schema::TimeMillis)
}

fn is_long_like(s: &Schema) -> bool {
    matches!(
        s,
        Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos
    )
}

/// The 8-4-4-4-12 hexadecimal form our encoder accepts for uuid.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn kind(s: &Schema) -> &'static str {
    match s {
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int => "int",
        Schema::Long => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes => "bytes",
        Schema::String => "string",
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Union(_) => "union",
        Schema::Record(_) => "record",
        Schema::Enum(_) => "enum",
        Schema::Fixed(_) => "fixed",
        Schema::Decimal(d) if matches!(*d.inner, Schema::Bytes) => "decimal-bytes",
        Schema::Decimal(_) => "decimal-fixed",
        Schema::BigDecimal => "big-decimal",
        Schema::Uuid => "uuid",
        Schema::Date => "date",
        Schema::TimeMillis => "time-millis",
        Schema::TimeMicros => "time-micros",
        Schema::TimestampMillis => "timestamp-millis",
        Schema::TimestampMicros => "timestamp-micros",
        Schema::TimestampNanos => "timestamp-nanos",
        Schema::LocalTimestampMillis => "local-timestamp-millis",
        Schema::LocalTimestampMicros => "local-timestamp-micros",
        Schema::LocalTimestampNanos => "local-timestamp-nanos",
        Schema::Duration => "duration",
        Schema::Ref { .. } => "ref",
    }
}

fn collect_names<'s>(s: &'s Schema, names: &mut HashMap<String, &'s Schema>) {
    match s {
        Schema::Record(RecordSchema { name, fields, .. }) => {
            names.insert(name.fullname(None), s);
            for f in fields {
                collect_names(&f.schema, names);
            }
        }
        Schema::Enum(EnumSchema { name, .. }) | Schema::Fixed(FixedSchema { name, .. }) => {
            names.insert(name.fullname(None), s);
        }
        Schema::Decimal(DecimalSchema { inner, .. }) => {
            if let Schema::Fixed(FixedSchema { name, .. }) = inner.as_ref() {
                names.insert(name.fullname(None), s);
            }
        }
        Schema::Array(a) => collect_names(&a.items, names),
        Schema::Map(m) => collect_names(&m.types, names),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, names);
            }
        }
        _ => {}
    }
}

impl<'s> Converter<'s> {
    pub fn new(root: &'s Schema) -> Self {
        let mut names = HashMap::new();
        collect_names(root, &mut names);
        Converter { root, names, seen: BTreeSet::new() }
    }

    /// Follows a named reference to its definition.
    fn resolve(&mut self, s: &'s Schema) -> Result<&'s Schema, String> {
        match s {
            Schema::Ref { name } => {
                self.seen.insert("ref");
                let full = name.fullname(None);
                self.names.get(&full).copied().ok_or_else(|| format!("unknown named type {full}"))
            }
            other => Ok(other),
        }
    }

    /// The value `to_avro_datum` must be given for `row` to produce the bytes
    /// our encoder writes for it.
    pub fn row(&mut self, row: &Json) -> Result<AValue, String> {
        self.value(self.root, row)
    }

    fn note(&mut self, s: &Schema, v: AValue) -> AValue {
        self.seen.insert(kind(s));
        v
    }

    fn value(&mut self, s: &'s Schema, j: &Json) -> Result<AValue, String> {
        let s = self.resolve(s)?;
        match j {
            Json::Null => self.null(s),
            Json::Bool(b) => self.boolean(s, *b),
            Json::Number(n) => {
                if let Some(u) = n.as_u64() {
                    self.unsigned(s, u)
                } else if let Some(i) = n.as_i64() {
                    self.integer(s, i, Found::I64)
                } else {
                    self.float(s, n.as_f64().ok_or("a number that is no f64")?)
                }
            }
            Json::String(text) => self.string(s, text),
            Json::Array(items) => self.seq(s, items),
            Json::Object(members) => self.object(s, members),
        }
    }

    fn null(&mut self, s: &'s Schema) -> Result<AValue, String> {
        match s {
            Schema::Null => Ok(self.note(s, AValue::Null)),
            Schema::Union(u) => {
                let index = u
                    .variants()
                    .iter()
                    .position(|b| matches!(b, Schema::Null))
                    .ok_or("null for a union without null")?;
                self.seen.insert("union");
                self.seen.insert("null");
                Ok(AValue::Union(index as u32, Box::new(AValue::Null)))
            }
            other => Err(format!("null for {}", kind(other))),
        }
    }

    /// A scalar into a union: exact kinds first, then any branch (never null).
    fn union_scalar(
        &mut self,
        u: &'s UnionSchema,
        prefer: fn(&Schema) -> bool,
        write: &dyn Fn(&mut Self, &'s Schema) -> Result<AValue, String>,
    ) -> Result<AValue, String> {
        for pass in [true, false] {
            for (index, branch) in u.variants().iter().enumerate() {
                let node = self.resolve(branch)?;
                if matches!(node, Schema::Null) || prefer(node) != pass {
                    continue;
                }
                if let Ok(v) = write(self, node) {
                    self.seen.insert("union");
                    return Ok(AValue::Union(index as u32, Box::new(v)));
                }
            }
        }
        Err("no union branch takes the value".into())
    }

    fn boolean(&mut self, s: &'s Schema, b: bool) -> Result<AValue, String> {
        match s {
            Schema::Boolean => Ok(self.note(s, AValue::Boolean(b))),
            Schema::Union(u) => self.union_scalar(u, |n| matches!(n, Schema::Boolean), &|c, n| c.boolean(n, b)),
            other => Err(format!("boolean for {}", kind(other))),
        }
    }

    fn long_value(&mut self, s: &Schema, v: i64) -> AValue {
        let value = match s {
            Schema::TimeMicros => AValue::TimeMicros(v),
            Schema::TimestampMillis => AValue::TimestampMillis(v),
            Schema::TimestampMicros => AValue::TimestampMicros(v),
            Schema::TimestampNanos => AValue::TimestampNanos(v),
            Schema::LocalTimestampMillis => AValue::LocalTimestampMillis(v),
            Schema::LocalTimestampMicros => AValue::LocalTimestampMicros(v),
            Schema::LocalTimestampNanos => AValue::LocalTimestampNanos(v),
            _ => AValue::Long(v),
        };
        self.note(s, value)
    }

    fn int_value(&mut self, s: &Schema, v: i32) -> AValue {
        let value = match s {
            Schema::Date => AValue::Date(v),
            Schema::TimeMillis => AValue::TimeMillis(v),
            _ => AValue::Int(v),
        };
        self.note(s, value)
    }

    fn integer(&mut self, s: &'s Schema, v: i64, found: Found) -> Result<AValue, String> {
        match s {
            _ if is_long_like(s) => Ok(self.long_value(s, v)),
            _ if is_int_like(s) => {
                let i = i32::try_from(v).map_err(|_| format!("{v} is out of range for int"))?;
                Ok(self.int_value(s, i))
            }
            Schema::Double => Ok(self.note(s, AValue::Double(v as f64))),
            Schema::Float => Ok(self.note(s, AValue::Float(v as f32))),
            Schema::Union(u) => {
                // 64-bit integers (i64, u64: every JSON integer) prefer long.
                let prefer: fn(&Schema) -> bool =
                    if matches!(found, Found::I64 | Found::U64) { is_long_like } else { is_int_like };
                self.union_scalar(u, prefer, &|c, n| c.integer(n, v, found))
            }
            other => Err(format!("integer for {}", kind(other))),
        }
    }

    fn unsigned(&mut self, s: &'s Schema, v: u64) -> Result<AValue, String> {
        match i64::try_from(v) {
            Ok(i) => self.integer(s, i, Found::U64),
            Err(_) => match s {
                Schema::Double => Ok(self.note(s, AValue::Double(v as f64))),
                Schema::Float => Ok(self.note(s, AValue::Float(v as f32))),
                other => Err(format!("{v} is out of range for {}", kind(other))),
            },
        }
    }

    fn float(&mut self, s: &'s Schema, v: f64) -> Result<AValue, String> {
        match s {
            Schema::Double => Ok(self.note(s, AValue::Double(v))),
            Schema::Float => Ok(self.note(s, AValue::Float(v as f32))),
            _ if is_int_like(s) || is_long_like(s) => {
                if v.fract() != 0.0 || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
                    return Err(format!("{v} is not a whole number in range"));
                }
                self.integer(s, v as i64, Found::F64)
            }
            Schema::Union(u) => self.union_scalar(u, |n| matches!(n, Schema::Double), &|c, n| c.float(n, v)),
            other => Err(format!("float for {}", kind(other))),
        }
    }

    fn string(&mut self, s: &'s Schema, v: &str) -> Result<AValue, String> {
        match s {
            Schema::String => Ok(self.note(s, AValue::String(v.to_owned()))),
            Schema::Uuid => {
                if !is_uuid(v) {
                    return Err(format!("{v:?} is not a uuid"));
                }
                let uuid = apache_avro::Uuid::parse_str(v).map_err(|e| e.to_string())?;
                Ok(self.note(s, AValue::Uuid(uuid)))
            }
            Schema::Enum(EnumSchema { symbols, .. }) => {
                let index = symbols.iter().position(|x| x == v).ok_or_else(|| format!("{v:?} is not a symbol"))?;
                Ok(self.note(s, AValue::Enum(index as u32, v.to_owned())))
            }
            Schema::Bytes => Ok(self.note(s, AValue::Bytes(v.as_bytes().to_vec()))),
            Schema::Union(u) => {
                self.union_scalar(u, |n| matches!(n, Schema::String | Schema::Uuid), &|c, n| c.string(n, v))
            }
            other => Err(format!("string for {}", kind(other))),
        }
    }

    fn byte_items(items: &[Json]) -> Result<Vec<u8>, String> {
        items
            .iter()
            .map(|item| item.as_u64().and_then(|b| u8::try_from(b).ok()).ok_or_else(|| format!("{item} is not a byte")))
            .collect()
    }

    fn seq(&mut self, s: &'s Schema, items: &[Json]) -> Result<AValue, String> {
        let (index, node) = match s {
            Schema::Union(u) => {
                let mut found = None;
                for (i, b) in u.variants().iter().enumerate() {
                    let node = self.resolve(b)?;
                    if matches!(node, Schema::Array(_) | Schema::Bytes | Schema::Fixed(_) | Schema::Decimal(_)) {
                        found = Some((Some(i), node));
                        break;
                    }
                }
                found.ok_or("an array for a union without array, bytes or fixed")?
            }
            other => (None, other),
        };
        let value = match node {
            Schema::Array(a) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.value(&a.items, item)?);
                }
                AValue::Array(values)
            }
            Schema::Bytes => AValue::Bytes(Self::byte_items(items)?),
            Schema::Fixed(FixedSchema { size, .. }) => {
                let bytes = Self::byte_items(items)?;
                if bytes.len() != *size {
                    return Err(format!("{} bytes for a fixed of {size}", bytes.len()));
                }
                AValue::Fixed(*size, bytes)
            }
            Schema::Decimal(DecimalSchema { inner, .. }) => {
                let bytes = Self::byte_items(items)?;
                if let Schema::Fixed(FixedSchema { size, .. }) = inner.as_ref() {
                    if bytes.len() != *size {
                        return Err(format!("{} bytes for a fixed of {size}", bytes.len()));
                    }
                }
                AValue::Decimal(Decimal::from(bytes))
            }
            other => return Err(format!("array for {}", kind(other))),
        };
        let value = self.note(node, value);
        Ok(match index {
            Some(i) => {
                self.seen.insert("union");
                AValue::Union(i as u32, Box::new(value))
            }
            None => value,
        })
    }

    fn object(&mut self, s: &'s Schema, members: &serde_json::Map<String, Json>) -> Result<AValue, String> {
        let (index, node) = match s {
            Schema::Union(u) => {
                let mut found = None;
                for (i, b) in u.variants().iter().enumerate() {
                    let node = self.resolve(b)?;
                    if matches!(node, Schema::Record(_) | Schema::Map(_)) {
                        found = Some((Some(i), node));
                        break;
                    }
                }
                found.ok_or("an object for a union without record or map")?
            }
            other => (None, other),
        };
        let value = match node {
            Schema::Record(RecordSchema { fields, .. }) => {
                if let Some(unknown) = members.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
                    return Err(format!("{unknown:?} is not a field"));
                }
                let mut values = Vec::with_capacity(fields.len());
                for field in fields {
                    let v = match (members.get(&field.name), &field.default) {
                        (Some(v), _) => self.value(&field.schema, v)?,
                        (None, Some(default)) => {
                            self.seen.insert("default");
                            self.default(&field.schema, default)?
                        }
                        (None, None) => return Err(format!("missing field {:?}", field.name)),
                    };
                    values.push((field.name.clone(), v));
                }
                AValue::Record(values)
            }
            Schema::Map(m) => {
                let mut values = HashMap::with_capacity(members.len());
                for (k, v) in members {
                    values.insert(k.clone(), self.value(&m.types, v)?);
                }
                AValue::Map(values)
            }
            other => return Err(format!("object for {}", kind(other))),
        };
        let value = self.note(node, value);
        Ok(match index {
            Some(i) => {
                self.seen.insert("union");
                AValue::Union(i as u32, Box::new(value))
            }
            None => value,
        })
    }

    /// A field default, as the specification reads it (and as our schema
    /// parser pre-encodes it): unions take their first branch, bytes and
    /// fixed are strings of code points 0..=255.
    fn default(&mut self, s: &'s Schema, d: &Json) -> Result<AValue, String> {
        let s = self.resolve(s)?;
        let latin1 = |text: &str| -> Result<Vec<u8>, String> {
            text.chars().map(|c| u8::try_from(c as u32).map_err(|_| format!("{c:?} is not a byte"))).collect()
        };
        let value = match (s, d) {
            (Schema::Null, Json::Null) => AValue::Null,
            (Schema::Boolean, Json::Bool(b)) => AValue::Boolean(*b),
            (_, Json::Number(n)) if is_int_like(s) && (n.is_i64() || n.is_u64()) => {
                let i = n.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or("int default out of range")?;
                self.int_value(s, i)
            }
            (_, Json::Number(n)) if is_long_like(s) => {
                self.long_value(s, n.as_i64().ok_or("long default out of range")?)
            }
            (Schema::Float, Json::Number(n)) => AValue::Float(n.as_f64().ok_or("bad float")? as f32),
            (Schema::Double, Json::Number(n)) => AValue::Double(n.as_f64().ok_or("bad double")?),
            (Schema::Bytes, Json::String(t)) => AValue::Bytes(latin1(t)?),
            (Schema::String, Json::String(t)) => AValue::String(t.clone()),
            (Schema::Uuid, Json::String(t)) => {
                AValue::Uuid(apache_avro::Uuid::parse_str(t).map_err(|e| e.to_string())?)
            }
            (Schema::Fixed(FixedSchema { size, .. }), Json::String(t)) => AValue::Fixed(*size, latin1(t)?),
            (Schema::Decimal(_), Json::String(t)) => AValue::Decimal(Decimal::from(latin1(t)?)),
            (Schema::Enum(EnumSchema { symbols, .. }), Json::String(t)) => {
                AValue::Enum(symbols.iter().position(|x| x == t).ok_or("unknown symbol")? as u32, t.clone())
            }
            (Schema::Array(a), Json::Array(items)) => {
                let mut values = Vec::new();
                for item in items {
                    values.push(self.default(&a.items, item)?);
                }
                AValue::Array(values)
            }
            (Schema::Map(m), Json::Object(members)) => {
                let mut values = HashMap::new();
                for (k, v) in members {
                    values.insert(k.clone(), self.default(&m.types, v)?);
                }
                AValue::Map(values)
            }
            (Schema::Union(u), d) => {
                let first = u.variants().first().ok_or("empty union")?;
                AValue::Union(0, Box::new(self.default(first, d)?))
            }
            (Schema::Record(RecordSchema { fields, .. }), Json::Object(members)) => {
                let mut values = Vec::new();
                for field in fields {
                    let v = match (members.get(&field.name), &field.default) {
                        (Some(v), _) => self.default(&field.schema, v)?,
                        (None, Some(v)) => self.default(&field.schema, v)?,
                        (None, None) => {
                            return Err(format!("default misses field {:?}", field.name));
                        }
                    };
                    values.push((field.name.clone(), v));
                }
                AValue::Record(values)
            }
            (other, d) => return Err(format!("default {d} for {}", kind(other))),
        };
        self.seen.insert(kind(s));
        Ok(value)
    }
}

/// Avro's zig-zag varint, read from the front of `input`.
fn read_long(input: &mut &[u8]) -> Result<i64, String> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = input.split_first().ok_or("truncated varint")?;
        *input = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err("overlong varint".into())
}

fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if n > input.len() {
        return Err(format!("{n} bytes needed, {} left", input.len()));
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

/// Rewrites one datum with every map's entries sorted by key (and arrays and
/// maps as one block), so that encodings that differ only in map entry order
/// compare equal: apache-avro keeps maps in a `HashMap` and writes them in
/// its iteration order.
pub fn normalize(schema: &Schema, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut names = HashMap::new();
    collect_names(schema, &mut names);
    let mut input = bytes;
    let mut out = Vec::with_capacity(bytes.len());
    normalize_node(schema, &names, &mut input, &mut out)?;
    if !input.is_empty() {
        return Err(format!("{} bytes left over", input.len()));
    }
    Ok(out)
}

fn block_items(input: &mut &[u8]) -> Result<usize, String> {
    let n = read_long(input)?;
    if n < 0 {
        read_long(input)?;
    }
    Ok(n.unsigned_abs() as usize)
}

fn normalize_node(
    s: &Schema,
    names: &HashMap<String, &Schema>,
    input: &mut &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let s = match s {
        Schema::Ref { name } => names.get(&name.fullname(None)).copied().ok_or("unknown name")?,
        other => other,
    };
    match s {
        Schema::Null => {}
        Schema::Boolean => out.extend_from_slice(take(input, 1)?),
        Schema::Float => out.extend_from_slice(take(input, 4)?),
        Schema::Double => out.extend_from_slice(take(input, 8)?),
        Schema::Enum(_) => put_long(out, read_long(input)?),
        _ if is_int_like(s) || is_long_like(s) => put_long(out, read_long(input)?),
        Schema::Bytes | Schema::String | Schema::Uuid => {
            let n = read_long(input)?;
            put_long(out, n);
            out.extend_from_slice(take(input, usize::try_from(n).map_err(|_| "negative length")?)?);
        }
        Schema::Fixed(FixedSchema { size, .. }) => out.extend_from_slice(take(input, *size)?),
        Schema::Decimal(DecimalSchema { inner, .. }) => normalize_node(inner, names, input, out)?,
        Schema::Union(u) => {
            let i = read_long(input)?;
            put_long(out, i);
            let branch = usize::try_from(i).ok().and_then(|i| u.variants().get(i)).ok_or("bad union index")?;
            normalize_node(branch, names, input, out)?;
        }
        Schema::Record(RecordSchema { fields, .. }) => {
            for f in fields {
                normalize_node(&f.schema, names, input, out)?;
            }
        }
        Schema::Array(a) => {
            let mut items = Vec::new();
            let mut count = 0;
            loop {
                let n = block_items(input)?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    normalize_node(&a.items, names, input, &mut items)?;
                }
                count += n;
            }
            if count > 0 {
                put_long(out, count as i64);
                out.extend_from_slice(&items);
            }
            out.push(0);
        }
        Schema::Map(m) => {
            let mut entries: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            loop {
                let n = block_items(input)?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    let len = usize::try_from(read_long(input)?).map_err(|_| "negative key length")?;
                    let key = take(input, len)?.to_vec();
                    let mut value = Vec::new();
                    normalize_node(&m.types, names, input, &mut value)?;
                    if entries.insert(key, value).is_some() {
                        return Err("duplicate map key".into());
                    }
                }
            }
            if !entries.is_empty() {
                put_long(out, entries.len() as i64);
                for (k, v) in entries {
                    put_long(out, k.len() as i64);
                    out.extend_from_slice(&k);
                    out.extend_from_slice(&v);
                }
            }
            out.push(0);
        }
        other => return Err(format!("normalize: unsupported schema {}", kind(other))),
    }
    Ok(())
}

/// Removes what the Parsing Canonical Form strips but apache-avro 0.21 keeps
/// when the schema has logical types (`logicalType`, `precision`, `scale`),
/// leaving `default` values alone.
pub fn strip_logical(schema: &Json) -> Json {
    match schema {
        Json::Object(members) => Json::Object(
            members
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "logicalType" | "precision" | "scale"))
                .map(|(k, v)| (k.clone(), if k == "default" { v.clone() } else { strip_logical(v) }))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(strip_logical).collect()),
        other => other.clone(),
    }
}

/// Whether the schema JSON carries a logical type anywhere.
pub fn has_logical_type(schema: &Json) -> bool {
    schema != &strip_logical(schema)
}

/// Apache's fingerprint bytes read as the u64 ours returns: apache-avro's
/// `Rabin` digest writes the CRC-64-AVRO value little-endian.
pub fn apache_fingerprint(schema: &Schema) -> u64 {
    let bytes = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// `0a 1b 2c ...`, 32 bytes a line.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(if i % 32 == 0 { '\n' } else { ' ' });
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Every union in a decoded value of ours, as (path, branch index), sorted.
pub fn union_choices_ours(value: &edgemetrics::engine::avro::Value) -> Vec<(String, u32)> {
    use edgemetrics::engine::avro::Value;
    fn walk(v: &Value, path: String, out: &mut Vec<(String, u32)>) {
        match v {
            Value::Union(i, inner) => {
                out.push((path.clone(), *i));
                walk(inner, path, out);
            }
            Value::Record(fields) => fields.iter().for_each(|(k, v)| walk(v, format!("{path}.{k}"), out)),
            Value::Map(entries) => entries.iter().for_each(|(k, v)| walk(v, format!("{path}[{k:?}]"), out)),
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(v, format!("{path}[{i}]"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out.sort();
    out
}

/// Every union in an apache-avro value, as (path, branch index), sorted.
pub fn union_choices_apache(value: &AValue) -> Vec<(String, u32)> {
    fn walk(v: &AValue, path: String, out: &mut Vec<(String, u32)>) {
        match v {
            AValue::Union(i, inner) => {
                out.push((path.clone(), *i));
                walk(inner, path, out);
            }
            AValue::Record(fields) => fields.iter().for_each(|(k, v)| walk(v, format!("{path}.{k}"), out)),
            AValue::Map(entries) => entries.iter().for_each(|(k, v)| walk(v, format!("{path}[{k:?}]"), out)),
            AValue::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(v, format!("{path}[{i}]"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out.sort();
    out
}
