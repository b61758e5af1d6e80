//! From schema JSON to the node graph.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::canonical::Form;
use super::{
    Decimal, Enum, Field, Fixed, Hint, IntLogical, LongLogical, Name, Node, NodeId, Record, Schema, SchemaError,
    StringLogical, Target, Union, canonical, default,
};
use crate::engine::json::{self, Json};

pub(super) fn parse(text: &str) -> Result<Schema, SchemaError> {
    let json = json::parse(text).map_err(|e| SchemaError { path: String::new(), message: e.to_string() })?;
    let mut parser = Parser { nodes: Vec::new(), names: Vec::new(), defaults: Vec::new(), logical: Vec::new() };
    // Reserve the root slot so the top-level record is always node 0.
    if json.get("type").and_then(Json::as_str) != Some("record") {
        let found = match &json {
            Json::String(s) => format!("\"{s}\""),
            Json::Object(_) => match json.get("type") {
                Some(Json::String(s)) => format!("a schema of type \"{s}\""),
                _ => "an object without a record type".into(),
            },
            other => other.kind().into(),
        };
        return Err(SchemaError {
            path: String::new(),
            message: format!("the top level must be a record, found {found}"),
        });
    }
    parser.parse_type(&json, "", "")?;
    for pending in core::mem::take(&mut parser.defaults) {
        let Node::Record(record) = &parser.nodes[pending.record as usize] else { unreachable!() };
        let node = record.fields[pending.field].node;
        let bytes = default::encode(&parser.nodes, node, &pending.value).map_err(|message| SchemaError {
            path: pending.path.clone(),
            message: format!("invalid default: {message}"),
        })?;
        let Node::Record(record) = &mut parser.nodes[pending.record as usize] else { unreachable!() };
        let field = &mut record.fields[pending.field];
        field.default = Some(bytes);
        field.default_text = Some(pending.value.to_string());
    }
    let canonical = canonical::write(&parser.nodes, Form::Parsing);
    debug_assert!(parser.logical.windows(2).all(|w| w[0].0 < w[1].0), "in node order, as the wire form looks them up");
    let wire = canonical::write(&parser.nodes, Form::Wire(&parser.logical));
    let fingerprint = canonical::rabin_fingerprint(canonical.as_bytes());
    let mut nodes = parser.nodes;
    set_field_hints(&mut nodes);
    Ok(Schema { nodes, text: text.to_owned(), canonical, wire, fingerprint })
}

struct PendingDefault {
    record: NodeId,
    field: usize,
    value: Json,
    path: String,
}

struct Parser {
    nodes: Vec<Node>,
    names: Vec<(String, NodeId)>,
    defaults: Vec<PendingDefault>,
    /// The logical-type attributes of primitive and fixed nodes, as the wire
    /// form writes them.
    logical: Vec<(NodeId, String)>,
}

/// `,"logicalType":…` and a decimal's `,"precision":…,"scale":…` as written,
/// when `logicalType` is a string: the wire form keeps them whether or not
/// the engine knows the type (the collector's reader knows more: nanosecond
/// timestamps, `duration`, `big-decimal`) or finds it valid, so the
/// collector reads the logical types the user wrote.
fn logical_attributes(json: &Json) -> Option<String> {
    let Some(logical @ Json::String(_)) = json.get("logicalType") else { return None };
    let mut text = format!(",\"logicalType\":{logical}");
    for key in ["precision", "scale"] {
        if let Some(value) = json.get(key) {
            text.push_str(&format!(",\"{key}\":{value}"));
        }
    }
    Some(text)
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError { path: path.to_owned(), message: message.into() })
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn primitive(name: &str) -> Option<Node> {
    Some(match name {
        "null" => Node::Null,
        "boolean" => Node::Boolean,
        "int" => Node::Int(IntLogical::None),
        "long" => Node::Long(LongLogical::None),
        "float" => Node::Float,
        "double" => Node::Double,
        "bytes" => Node::Bytes(None),
        "string" => Node::String(StringLogical::None),
        _ => return None,
    })
}

fn child_path(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

/// Reads `precision` and `scale` of a decimal; `None` when they are invalid,
/// in which case the Avro specification says to ignore the logical type.
fn decimal(json: &Json, max_precision: Option<u32>) -> Option<Decimal> {
    let precision = match json.get("precision")? {
        Json::Int(p) if *p > 0 => u32::try_from(*p).ok()?,
        _ => return None,
    };
    let scale = match json.get("scale") {
        None => 0,
        Some(Json::Int(s)) if *s >= 0 => u32::try_from(*s).ok()?,
        _ => return None,
    };
    if scale > precision || max_precision.is_some_and(|max| precision > max) {
        return None;
    }
    Some(Decimal { precision, scale })
}

/// The largest decimal precision a fixed of `size` bytes can hold:
/// floor(log10(2^(8·size − 1) − 1)), which is floor((8·size − 1)·log10 2)
/// because no power of 2 is a power of 10. In f64, in constant time: a loop
/// over the bits never ended for a size over 127 bytes, where 2^bits is
/// infinite in f64. Checked against exact arithmetic for every size up to
/// 625 bytes and, with 80 digits, for every 997th size up to 2,000,000 and
/// for 10^9, 2^31 and 2^40 bytes; pkg/lib/schema.js computes the same
/// product, so both agree even where it could be off by one.
fn fixed_max_precision(size: usize) -> u32 {
    if size == 0 {
        return 0;
    }
    // A saturating cast: beyond u32 every precision fits.
    ((size as f64 * 8.0 - 1.0) * core::f64::consts::LOG10_2) as u32
}

impl Parser {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as NodeId
    }

    fn lookup(&self, name: &str, namespace: &str) -> Option<NodeId> {
        let find = |full: &str| self.names.iter().find(|(n, _)| n == full).map(|(_, id)| *id);
        if name.bytes().any(|b| b == b'.') || namespace.is_empty() {
            find(name)
        } else {
            find(&format!("{namespace}.{name}")).or_else(|| find(name))
        }
    }

    fn parse_type(&mut self, json: &Json, namespace: &str, path: &str) -> Result<NodeId, SchemaError> {
        match json {
            Json::String(name) => self.named_or_primitive(name, namespace, path),
            Json::Array(branches) => self.union(branches, namespace, path),
            Json::Object(_) => self.object(json, namespace, path),
            other => err(path, format!("expected a type name, an object or an array, found {}", other.kind())),
        }
    }

    fn named_or_primitive(&mut self, name: &str, namespace: &str, path: &str) -> Result<NodeId, SchemaError> {
        if let Some(node) = primitive(name) {
            return Ok(self.push(node));
        }
        self.lookup(name, namespace).map_or_else(|| err(path, format!("unknown type \"{name}\"")), Ok)
    }

    fn union(&mut self, branches: &[Json], namespace: &str, path: &str) -> Result<NodeId, SchemaError> {
        if branches.is_empty() {
            return err(path, "a union needs at least one branch");
        }
        let mut ids = Vec::with_capacity(branches.len());
        let mut null_branch = None;
        for branch in branches {
            let id = self.parse_type(branch, namespace, path)?;
            let node = &self.nodes[id as usize];
            if matches!(node, Node::Union(_)) {
                return err(path, "a union may not directly contain another union");
            }
            let key = self.branch_key(id);
            if ids.iter().any(|&other| self.branch_key(other) == key) {
                return err(path, format!("the union has two branches of type \"{key}\""));
            }
            if matches!(node, Node::Null) {
                null_branch = Some(ids.len() as u32);
            }
            ids.push(id);
        }
        Ok(self.push(Node::Union(Union { branches: ids, null_branch })))
    }

    /// What makes two union branches the same for the "no duplicates" rule.
    fn branch_key(&self, id: NodeId) -> &str {
        match &self.nodes[id as usize] {
            Node::Record(r) => &r.name.full,
            Node::Enum(e) => &e.name.full,
            Node::Fixed(f) => &f.name.full,
            Node::Null => "null",
            Node::Boolean => "boolean",
            Node::Int(_) => "int",
            Node::Long(_) => "long",
            Node::Float => "float",
            Node::Double => "double",
            Node::Bytes(_) => "bytes",
            Node::String(_) => "string",
            Node::Array(_) => "array",
            Node::Map(_) => "map",
            Node::Union(_) => "union",
        }
    }

    fn object(&mut self, json: &Json, namespace: &str, path: &str) -> Result<NodeId, SchemaError> {
        let ty = match json.get("type") {
            Some(Json::String(t)) => t.as_str(),
            Some(nested @ (Json::Object(_) | Json::Array(_))) => {
                return self.parse_type(nested, namespace, path);
            }
            Some(other) => {
                return err(path, format!("\"type\" must be a string, found {}", other.kind()));
            }
            None => return err(path, "missing \"type\""),
        };
        let logical = json.get("logicalType").and_then(Json::as_str);
        let node = match ty {
            "record" | "error" => return self.record(json, namespace, path),
            "enum" => return self.enumeration(json, namespace, path),
            "fixed" => {
                let id = self.fixed(json, namespace, path, logical)?;
                self.logical.extend(logical_attributes(json).map(|text| (id, text)));
                return Ok(id);
            }
            "array" => {
                let items = json
                    .get("items")
                    .ok_or_else(|| SchemaError { path: path.to_owned(), message: "an array needs \"items\"".into() })?;
                let items = self.parse_type(items, namespace, &format!("{path}[]"))?;
                Node::Array(items)
            }
            "map" => {
                let values = json
                    .get("values")
                    .ok_or_else(|| SchemaError { path: path.to_owned(), message: "a map needs \"values\"".into() })?;
                let values = self.parse_type(values, namespace, &format!("{path}{{}}"))?;
                Node::Map(values)
            }
            "int" => Node::Int(match logical {
                Some("date") => IntLogical::Date,
                Some("time-millis") => IntLogical::TimeMillis,
                _ => IntLogical::None,
            }),
            "long" => Node::Long(match logical {
                Some("time-micros") => LongLogical::TimeMicros,
                Some("timestamp-millis") => LongLogical::TimestampMillis,
                Some("timestamp-micros") => LongLogical::TimestampMicros,
                Some("local-timestamp-millis") => LongLogical::LocalTimestampMillis,
                Some("local-timestamp-micros") => LongLogical::LocalTimestampMicros,
                _ => LongLogical::None,
            }),
            "string" => Node::String(match logical {
                Some("uuid") => StringLogical::Uuid,
                _ => StringLogical::None,
            }),
            "bytes" => Node::Bytes(match logical {
                Some("decimal") => decimal(json, None),
                _ => None,
            }),
            other => match primitive(other) {
                Some(node) => node,
                None => return self.named_or_primitive(other, namespace, path),
            },
        };
        let id = self.push(node);
        self.logical.extend(logical_attributes(json).map(|text| (id, text)));
        Ok(id)
    }

    /// Reads `name` and `namespace` of a named type and reserves its node,
    /// so that the type can refer to itself.
    fn define(&mut self, json: &Json, namespace: &str, path: &str) -> Result<(Name, NodeId), SchemaError> {
        let name = match json.get("name") {
            Some(Json::String(n)) => n.as_str(),
            Some(other) => {
                return err(path, format!("\"name\" must be a string, found {}", other.kind()));
            }
            None => return err(path, "a named type needs a \"name\""),
        };
        let full = if name.bytes().any(|b| b == b'.') {
            name.to_owned()
        } else {
            match json.get("namespace") {
                Some(Json::String(ns)) if !ns.is_empty() => format!("{ns}.{name}"),
                Some(Json::String(_) | Json::Null) => name.to_owned(),
                Some(other) => {
                    return err(path, format!("\"namespace\" must be a string, found {}", other.kind()));
                }
                None if namespace.is_empty() => name.to_owned(),
                None => format!("{namespace}.{name}"),
            }
        };
        if !full.split('.').all(valid_name) {
            return err(
                path,
                format!("invalid name \"{full}\": names start with a letter or _ and hold letters, digits and _"),
            );
        }
        if primitive(&full).is_some() {
            return err(path, format!("\"{full}\" is a primitive type and cannot be redefined"));
        }
        if self.names.iter().any(|(n, _)| *n == full) {
            return err(path, format!("type \"{full}\" is defined twice"));
        }
        let id = self.push(Node::Null);
        self.names.push((full.clone(), id));
        Ok((Name::new(full), id))
    }

    fn record(&mut self, json: &Json, namespace: &str, path: &str) -> Result<NodeId, SchemaError> {
        let (name, id) = self.define(json, namespace, path)?;
        let inner_ns = name.namespace().to_owned();
        let Some(Json::Array(fields_json)) = json.get("fields") else {
            return err(path, format!("record \"{}\" needs a \"fields\" array", name.full));
        };
        // Install an empty record now so that self-references resolve.
        self.nodes[id as usize] = Node::Record(Record { name, fields: Vec::new() });
        let mut fields: Vec<Field> = Vec::with_capacity(fields_json.len());
        for field in fields_json {
            let field_name = match field.get("name") {
                Some(Json::String(n)) => n.clone(),
                _ => return err(path, "every field needs a string \"name\""),
            };
            let fpath = child_path(path, &field_name);
            if !valid_name(&field_name) {
                return err(
                    &fpath,
                    "invalid field name: names start with a letter or _ and hold letters, digits and _",
                );
            }
            if fields.iter().any(|f| f.name == field_name) {
                return err(&fpath, "the field is defined twice");
            }
            let Some(ty) = field.get("type") else {
                return err(&fpath, "missing \"type\"");
            };
            let node = self.parse_type(ty, &inner_ns, &fpath)?;
            if let Some(value) = field.get("default") {
                self.defaults.push(PendingDefault {
                    record: id,
                    field: fields.len(),
                    value: value.clone(),
                    path: fpath,
                });
            }
            fields.push(Field {
                name: field_name,
                node,
                default: None,
                default_text: None,
                target: Target::of(node),
                key_seen: Default::default(),
            });
        }
        let Node::Record(record) = &mut self.nodes[id as usize] else { unreachable!() };
        record.fields = fields;
        Ok(id)
    }

    fn enumeration(&mut self, json: &Json, namespace: &str, path: &str) -> Result<NodeId, SchemaError> {
        let (name, id) = self.define(json, namespace, path)?;
        let Some(Json::Array(symbols_json)) = json.get("symbols") else {
            return err(path, format!("enum \"{}\" needs a \"symbols\" array", name.full));
        };
        let mut symbols: Vec<String> = Vec::with_capacity(symbols_json.len());
        for symbol in symbols_json {
            let Json::String(s) = symbol else {
                return err(path, format!("enum \"{}\": symbols must be strings", name.full));
            };
            if !valid_name(s) {
                return err(path, format!("enum \"{}\": invalid symbol \"{s}\"", name.full));
            }
            if symbols.contains(s) {
                return err(path, format!("enum \"{}\": symbol \"{s}\" appears twice", name.full));
            }
            symbols.push(s.clone());
        }
        if let Some(default) = json.get("default") {
            if !default.as_str().is_some_and(|d| symbols.iter().any(|s| s == d)) {
                return err(path, format!("enum \"{}\": the default {default} is not one of its symbols", name.full));
            }
        }
        self.nodes[id as usize] = Node::Enum(Enum { name, symbols });
        Ok(id)
    }

    fn fixed(
        &mut self,
        json: &Json,
        namespace: &str,
        path: &str,
        logical: Option<&str>,
    ) -> Result<NodeId, SchemaError> {
        let (name, id) = self.define(json, namespace, path)?;
        let size = match json.get("size") {
            Some(Json::Int(s)) if *s >= 0 => *s as usize,
            _ => {
                return err(path, format!("fixed \"{}\" needs a non-negative integer \"size\"", name.full));
            }
        };
        let decimal = match logical {
            Some("decimal") => decimal(json, Some(fixed_max_precision(size))),
            _ => None,
        };
        self.nodes[id as usize] = Node::Fixed(Fixed { name, size, decimal });
        Ok(id)
    }
}

/// Copies the kind of each field's type into the field, where the encoder
/// finds it without a second lookup.
fn set_field_hints(nodes: &mut [Node]) {
    let hints: Vec<Hint> = nodes
        .iter()
        .map(|node| match node {
            Node::Long(_) => Hint::Long,
            Node::Int(_) => Hint::Int,
            Node::String(StringLogical::None) => Hint::String,
            _ => Hint::Other,
        })
        .collect();
    for node in nodes.iter_mut() {
        if let Node::Record(record) = node {
            for field in &mut record.fields {
                field.target.hint = hints[field.node as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Schema;
    use super::fixed_max_precision;
    use alloc::string::ToString;

    fn error_of(text: &str) -> alloc::string::String {
        Schema::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn names_the_field_and_the_problem() {
        let text = r#"{"type":"record","name":"containerMetrics","fields":[
            {"name":"container_id","type":"string"},{"name":"memory_usage","type":"itn"}]}"#;
        assert_eq!(error_of(text), "field \"memory_usage\": unknown type \"itn\"");
        let nested = r#"{"type":"record","name":"r","fields":[{"name":"outer","type":
            {"type":"record","name":"o","fields":[{"name":"inner","type":{"type":"array"}}]}}]}"#;
        assert_eq!(error_of(nested), "field \"outer.inner\": an array needs \"items\"");
    }

    #[test]
    fn top_level_must_be_a_record() {
        assert_eq!(error_of(r#""int""#), "schema: the top level must be a record, found \"int\"");
        assert_eq!(
            error_of(r#"{"type":"enum","name":"e","symbols":["A"]}"#),
            "schema: the top level must be a record, found a schema of type \"enum\""
        );
        assert!(error_of("{").starts_with("schema: invalid JSON at byte 1"));
    }

    #[test]
    fn rejects_malformed_definitions() {
        let cases = [
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
                "field \"a\": the field is defined twice",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":["int","int"]}]}"#,
                "field \"a\": the union has two branches of type \"int\"",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":["int",["null"]]}]}"#,
                "field \"a\": a union may not directly contain another union",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":{"type":"enum","name":"e","symbols":["A","A"]}}]}"#,
                "field \"a\": enum \"e\": symbol \"A\" appears twice",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int","default":"x"}]}"#,
                "field \"a\": invalid default: expected an int, found a string",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a b","type":"int"}]}"#,
                "field \"a b\": invalid field name: names start with a letter or _ and hold letters, digits and _",
            ),
            (
                r#"{"type":"record","name":"r","fields":[{"name":"a","type":{"type":"fixed","name":"f"}}]}"#,
                "field \"a\": fixed \"f\" needs a non-negative integer \"size\"",
            ),
            (r#"{"type":"record","name":"r","fields":[]," namespace":1}"#, ""),
        ];
        for (text, expected) in cases {
            if expected.is_empty() {
                assert!(Schema::parse(text).is_ok(), "{text}");
            } else {
                assert_eq!(error_of(text), expected, "{text}");
            }
        }
    }

    #[test]
    fn resolves_names_through_namespaces_and_recursion() {
        let text = r#"{"type":"record","name":"Node","namespace":"a.b","fields":[
            {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["LEAF","BRANCH"]}},
            {"name":"again","type":"Kind"},
            {"name":"full","type":"a.b.Kind"},
            {"name":"children","type":{"type":"array","items":"Node"}},
            {"name":"other","type":{"type":"fixed","name":"Id","namespace":"c","size":4}},
            {"name":"id","type":"c.Id"}]}"#;
        let schema = Schema::parse(text).unwrap();
        assert_eq!(schema.record().name.full, "a.b.Node");
        assert_eq!(schema.collection(), "Node");
        let f = &schema.record().fields;
        assert_eq!(f[0].node, f[1].node);
        assert_eq!(f[1].node, f[2].node);
        assert_eq!(f[4].node, f[5].node);
        assert!(Schema::parse(&text.replace("\"c.Id\"", "\"Id\"")).is_err());
    }

    /// The corpus the npm package's schema reader is checked against too
    /// (tests/browser/js/encode.test.mjs): the same schemas, the same
    /// errors, and for a valid schema the same wire form.
    #[test]
    fn the_shared_corpus() {
        let corpus: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/corpus/js/schemas.json")).unwrap();
        let cases = corpus.as_array().unwrap();
        assert!(cases.len() > 60, "{} cases", cases.len());
        for case in cases {
            let (text, expected) = (case["schema"].as_str().unwrap(), case["error"].as_str().unwrap());
            match Schema::parse(text) {
                Ok(schema) => {
                    assert_eq!(expected, "", "{text}");
                    assert_eq!(case["wire"], schema.wire_form(), "{text}");
                }
                Err(error) => assert_eq!(error.to_string(), expected, "{text}"),
            }
        }
    }

    #[test]
    fn fixed_decimal_precision_limits() {
        assert_eq!(fixed_max_precision(1), 2);
        assert_eq!(fixed_max_precision(4), 9);
        assert_eq!(fixed_max_precision(8), 18);
        assert_eq!(fixed_max_precision(16), 38);
        // 2^1599 is infinite in f64: this hung before.
        assert_eq!(fixed_max_precision(200), 481);
        assert_eq!(fixed_max_precision(usize::MAX), u32::MAX);
    }
}
