//! A schema's decoding plan: the record schema flattened into a table of
//! nodes with every named reference resolved, and the sizes that decide
//! whether the collector accepts it.
//!
//! Schemas come from outside, so this is where their cost is bounded before
//! anything else runs. A named type may be used many times, and each use
//! expands to the whole type: a few kilobytes of JSON can describe a row of
//! 2^27 values, or 2,000 levels of nesting that no recursive walk survives.
//! So the plan is built in one pass over the parsed tree (whose depth is
//! bounded by the JSON parser's nesting limit), each named type is measured
//! once when its definition ends, and a reference only looks up what was
//! measured: linear in the schema's size whatever it expands to. The
//! measures are the expanded depth and node count (both through
//! references), and the fewest bytes a value can take, which the collector
//! uses to refuse a chunk that declares more rows than its bytes can hold.
//!
//! Avro names a type before any reference to it (apache-avro refuses a
//! forward reference), so a reference names either a type whose definition
//! has ended, or one still being defined: that is recursion, refused here
//! because each level of it can cost as little as one byte.
//!
//! The plan must read every type as apache-avro's decoder will. Its parser
//! keeps the first of two definitions of a name and registers aliases as
//! names, while its decoder resolves references by real names only; so a
//! name defined twice, an alias that is also a name, and a reference through
//! an alias are refused rather than read one way here and another there.
//! Names and enum symbols are copied into every value decoded, so their
//! length is capped too.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{Name, RecordSchema};

/// Index of a node in [`Plan::nodes`].
pub type NodeId = u32;

/// Limits on a schema's shape.
#[derive(Clone, Copy, Debug)]
pub struct SchemaLimits {
    /// Deepest nesting of records, arrays, maps and unions, counted through
    /// references (the top record is depth 1).
    pub max_depth: u32,
    /// Most nodes of the schema with every reference expanded.
    pub max_nodes: u64,
    /// Most fields of the top record.
    pub max_fields: usize,
    /// Largest `fixed` size, in bytes.
    pub max_fixed_bytes: usize,
}

/// Longest name (of a type, field or enum symbol), in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// Longest big-decimal value, in bytes of its two's complement: decimal
/// text is made of it in time quadratic in its length.
pub const MAX_BIG_DECIMAL_BYTES: usize = 64;

/// One node of a plan: what to read for a value of this type.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Nothing.
    Null,
    /// One byte, 0 or 1.
    Boolean,
    /// A zig-zag varint that fits in 32 bits (int, date, time-millis).
    Int,
    /// A zig-zag varint (long and the 64-bit logical types).
    Long,
    /// Four bytes.
    Float,
    /// Eight bytes.
    Double,
    /// A length and that many bytes (bytes, decimal, uuid).
    Bytes,
    /// A length of at most [`MAX_BIG_DECIMAL_BYTES`] and that many bytes.
    BigDecimal,
    /// A length and that many bytes of UTF-8.
    String,
    /// Exactly this many bytes (fixed, decimal on fixed, duration).
    Fixed(usize),
    /// An index below this many symbols.
    Enum(usize),
    /// An index, then the value of that branch.
    Union(Box<[NodeId]>),
    /// Blocks of items.
    Array(NodeId),
    /// Blocks of string keys and values.
    Map(NodeId),
    /// The fields in order.
    Record(Box<[Field]>),
}

/// A record field of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name, for error messages.
    pub name: Box<str>,
    /// Its type.
    pub node: NodeId,
}

/// The flattened schema. Node 0 is the top record.
#[derive(Debug)]
pub struct Plan {
    /// Every node; references point at their type's definition.
    pub nodes: Vec<Node>,
    /// Fewest bytes a row can take.
    pub min_row_bytes: u64,
    /// Nodes of the expanded schema.
    pub expanded_nodes: u64,
    /// Expanded depth.
    pub depth: u32,
    /// The full names of the named types, sorted.
    pub names: Vec<String>,
}

impl Plan {
    /// The top record's fields.
    pub fn fields(&self) -> &[Field] {
        match &self.nodes[0] {
            Node::Record(fields) => fields,
            _ => &[],
        }
    }
}

/// What is measured of a type once: its size and depth expanded, and the
/// fewest bytes its values take.
#[derive(Clone, Copy, Debug)]
struct Measure {
    nodes: u64,
    depth: u32,
    min_bytes: u64,
}

impl Measure {
    const LEAF: Self = Self { nodes: 1, depth: 0, min_bytes: 0 };

    fn leaf(min_bytes: u64) -> Self {
        Self { min_bytes, ..Self::LEAF }
    }
}

struct Builder<'a> {
    limits: SchemaLimits,
    nodes: Vec<Node>,
    /// Named types whose definition has ended, under their name.
    defined: HashMap<Name, (NodeId, Measure)>,
    /// Every name and alias given so far (definitions included when they
    /// start), to refuse one given twice.
    taken: std::collections::HashSet<Name>,
    /// The aliases among them.
    aliases: std::collections::HashSet<Name>,
    /// Named types being defined (the enclosing ones): a reference to one of
    /// them is recursion.
    open: Vec<&'a Name>,
}

/// Builds the plan of a record schema, or says which limit or rule it
/// breaks.
pub fn build(schema: &Schema, limits: SchemaLimits) -> Result<Plan, String> {
    let Schema::Record(record) = schema else {
        return Err(format!("schema is not a record (got {})", schema.canonical_form()));
    };
    if record.fields.len() > limits.max_fields {
        return Err(format!(
            "record {:?} has {} fields, the limit is {} (--max-columns)",
            record.name.name,
            record.fields.len(),
            limits.max_fields
        ));
    }
    let mut builder = Builder {
        limits,
        nodes: Vec::new(),
        defined: HashMap::new(),
        taken: Default::default(),
        aliases: Default::default(),
        open: Vec::new(),
    };
    let (_, measure) = builder.node(schema)?;
    if measure.min_bytes == 0 {
        return Err(format!(
            "a row of record {:?} can be encoded in zero bytes (every field is null, an empty record or a \
             zero-size fixed): a row must carry at least one byte",
            record.name.name
        ));
    }
    let mut names: Vec<String> = builder.defined.keys().map(|n| n.fullname(None)).collect();
    names.sort();
    Ok(Plan {
        nodes: builder.nodes,
        min_row_bytes: measure.min_bytes,
        expanded_nodes: measure.nodes,
        depth: measure.depth,
        names,
    })
}

impl<'a> Builder<'a> {
    /// Adds the node of `schema`. Recursive over the parsed tree only (never
    /// through a reference), whose depth the JSON parser's nesting limit
    /// bounds.
    fn node(&mut self, schema: &'a Schema) -> Result<(NodeId, Measure), String> {
        let (node, measure) = match schema {
            Schema::Null => (Node::Null, Measure::leaf(0)),
            Schema::Boolean => (Node::Boolean, Measure::leaf(1)),
            Schema::Int | Schema::Date | Schema::TimeMillis => (Node::Int, Measure::leaf(1)),
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => (Node::Long, Measure::leaf(1)),
            Schema::Float => (Node::Float, Measure::leaf(4)),
            Schema::Double => (Node::Double, Measure::leaf(8)),
            Schema::Bytes | Schema::Uuid => (Node::Bytes, Measure::leaf(1)),
            Schema::BigDecimal => (Node::BigDecimal, Measure::leaf(1)),
            Schema::String => (Node::String, Measure::leaf(1)),
            Schema::Duration => (Node::Fixed(12), Measure::leaf(12)),
            Schema::Decimal(decimal) => match &*decimal.inner {
                // apache-avro's decoder never resolves a name inside a
                // decimal: its fixed is claimed (no other type may take the
                // name) but not defined (nothing may refer to it).
                Schema::Fixed(fixed) => {
                    self.claim(&fixed.name, fixed.aliases.as_deref())?;
                    if fixed.size > self.limits.max_fixed_bytes {
                        return Err(format!(
                            "fixed {:?} of {} bytes exceeds the limit of {} bytes (--max-row-bytes)",
                            fixed.name.name, fixed.size, self.limits.max_fixed_bytes
                        ));
                    }
                    (Node::Fixed(fixed.size), Measure::leaf(fixed.size as u64))
                }
                inner => return self.node(inner),
            },
            Schema::Fixed(fixed) => {
                self.claim(&fixed.name, fixed.aliases.as_deref())?;
                if fixed.size > self.limits.max_fixed_bytes {
                    return Err(format!(
                        "fixed {:?} of {} bytes exceeds the limit of {} bytes (--max-row-bytes)",
                        fixed.name.name, fixed.size, self.limits.max_fixed_bytes
                    ));
                }
                let id = self.push(Node::Fixed(fixed.size));
                let measure = Measure::leaf(fixed.size as u64);
                self.define(&fixed.name, id, measure);
                return Ok((id, measure));
            }
            Schema::Enum(e) => {
                self.claim(&e.name, e.aliases.as_deref())?;
                if let Some(long) = e.symbols.iter().find(|s| s.len() > MAX_NAME_BYTES) {
                    return Err(format!(
                        "enum {:?} has a symbol of {} bytes, the limit is {MAX_NAME_BYTES}",
                        e.name.name,
                        long.len()
                    ));
                }
                let id = self.push(Node::Enum(e.symbols.len()));
                let measure = Measure::leaf(1);
                self.define(&e.name, id, measure);
                return Ok((id, measure));
            }
            Schema::Ref { name } => return self.reference(name),
            Schema::Array(array) => {
                let id = self.push(Node::Null);
                let (items, inner) = self.node(&array.items)?;
                self.nodes[id as usize] = Node::Array(items);
                return self.check(id, Self::container(inner, 1));
            }
            Schema::Map(map) => {
                let id = self.push(Node::Null);
                let (values, inner) = self.node(&map.types)?;
                self.nodes[id as usize] = Node::Map(values);
                return self.check(id, Self::container(inner, 1));
            }
            Schema::Union(union) => {
                let id = self.push(Node::Null);
                let mut branches = Vec::with_capacity(union.variants().len());
                let mut measure = Measure { nodes: 1, depth: 1, min_bytes: u64::MAX };
                for variant in union.variants() {
                    let (branch, inner) = self.node(variant)?;
                    branches.push(branch);
                    measure.nodes = measure.nodes.saturating_add(inner.nodes);
                    measure.depth = measure.depth.max(inner.depth.saturating_add(1));
                    measure.min_bytes = measure.min_bytes.min(inner.min_bytes.saturating_add(1));
                }
                if branches.is_empty() {
                    return Err("a union has no branches".into());
                }
                self.nodes[id as usize] = Node::Union(branches.into());
                return self.check(id, measure);
            }
            Schema::Record(record) => return self.record(record),
        };
        let id = self.push(node);
        Ok((id, measure))
    }

    fn record(&mut self, record: &'a RecordSchema) -> Result<(NodeId, Measure), String> {
        self.claim(&record.name, record.aliases.as_deref())?;
        if let Some(long) = record.fields.iter().find(|f| f.name.len() > MAX_NAME_BYTES) {
            return Err(format!(
                "record {:?} has a field name of {} bytes, the limit is {MAX_NAME_BYTES}",
                record.name.name,
                long.name.len()
            ));
        }
        let id = self.push(Node::Null);
        self.open.push(&record.name);
        let mut fields = Vec::with_capacity(record.fields.len());
        let mut measure = Measure { nodes: 1, depth: 1, min_bytes: 0 };
        for field in &record.fields {
            let (node, inner) = self.node(&field.schema).map_err(|e| in_field(&field.name, e))?;
            fields.push(Field { name: field.name.as_str().into(), node });
            measure.nodes = measure.nodes.saturating_add(inner.nodes);
            measure.depth = measure.depth.max(inner.depth.saturating_add(1));
            measure.min_bytes = measure.min_bytes.saturating_add(inner.min_bytes);
        }
        self.open.pop();
        self.nodes[id as usize] = Node::Record(fields.into());
        let checked = self.check(id, measure)?;
        self.define(&record.name, id, measure);
        Ok(checked)
    }

    /// A reference: the measured definition, or recursion.
    fn reference(&self, name: &Name) -> Result<(NodeId, Measure), String> {
        if let Some(&(id, measure)) = self.defined.get(name) {
            return self.check(id, measure);
        }
        if self.open.contains(&name) {
            return Err(format!("recursive type {:?} is not supported", name.fullname(None)));
        }
        if self.aliases.contains(name) {
            return Err(format!("{:?} is an alias: a reference must name the type itself", name.fullname(None)));
        }
        Err(format!("reference to the unknown type {:?}", name.fullname(None)))
    }

    fn container(inner: Measure, extra_bytes: u64) -> Measure {
        Measure { nodes: inner.nodes.saturating_add(1), depth: inner.depth.saturating_add(1), min_bytes: extra_bytes }
    }

    fn check(&self, id: NodeId, measure: Measure) -> Result<(NodeId, Measure), String> {
        if measure.depth > self.limits.max_depth {
            return Err(format!(
                "schema nests deeper than {} levels (counted through named types; --max-schema-depth)",
                self.limits.max_depth
            ));
        }
        if measure.nodes > self.limits.max_nodes {
            return Err(format!(
                "schema expands to more than {} types (counted through named types; --max-schema-nodes)",
                self.limits.max_nodes
            ));
        }
        Ok((id, measure))
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as NodeId
    }

    /// Claims a definition's name and aliases, refusing any given before.
    fn claim(&mut self, name: &Name, aliases: Option<&[apache_avro::schema::Alias]>) -> Result<(), String> {
        let full = name.fullname(None);
        if full.len() > MAX_NAME_BYTES * 2 || name.name.len() > MAX_NAME_BYTES {
            return Err(format!("type name {full:?} is longer than {MAX_NAME_BYTES} bytes"));
        }
        if !self.taken.insert(name.clone()) {
            return Err(format!("type {full:?} is defined twice (or is also an alias)"));
        }
        for alias in aliases.unwrap_or_default() {
            let alias = alias.fully_qualified_name(&name.namespace);
            if !self.taken.insert(alias.clone()) {
                return Err(format!("alias {:?} of {full:?} is already a name or an alias", alias.fullname(None)));
            }
            self.aliases.insert(alias);
        }
        Ok(())
    }

    fn define(&mut self, name: &Name, id: NodeId, measure: Measure) {
        self.defined.insert(name.clone(), (id, measure));
    }
}

/// Names the field at fault, outermost first, without repeating a path that
/// an inner error already gave.
fn in_field(field: &str, error: String) -> String {
    match error.strip_prefix("field ") {
        Some(inner) => format!("field {field:?}.{inner}"),
        None => format!("field {field:?}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SchemaLimits =
        SchemaLimits { max_depth: 32, max_nodes: 10_000, max_fields: 1000, max_fixed_bytes: 1 << 20 };

    fn plan(json: &str) -> Result<Plan, String> {
        build(&Schema::parse_str(json).map_err(|e| e.to_string())?, LIMITS)
    }

    /// `levels` records, each naming the one before it `refs` times.
    fn chain(levels: usize, refs: usize) -> String {
        let mut fields = vec![
            r#"{"name":"f0","type":{"type":"record","name":"R0","fields":[{"name":"x","type":"long"}]}}"#.to_owned(),
        ];
        for i in 1..levels {
            let inner: Vec<String> = (0..refs).map(|k| format!(r#"{{"name":"a{k}","type":"R{}"}}"#, i - 1)).collect();
            fields.push(format!(
                r#"{{"name":"f{i}","type":{{"type":"record","name":"R{i}","fields":[{}]}}}}"#,
                inner.join(",")
            ));
        }
        format!(r#"{{"type":"record","name":"top","fields":[{}]}}"#, fields.join(","))
    }

    #[test]
    fn measures_a_flat_record() {
        let p = plan(
            r#"{"type":"record","name":"r","fields":[{"name":"s","type":"string"},{"name":"d","type":"double"},
                {"name":"n","type":["null","long"]},{"name":"a","type":{"type":"array","items":"int"}}]}"#,
        )
        .unwrap();
        assert_eq!(p.min_row_bytes, 1 + 8 + 1 + 1);
        assert_eq!(p.depth, 2);
        assert_eq!(p.expanded_nodes, 1 + 1 + 1 + 3 + 2);
        assert_eq!(p.fields().len(), 4);
    }

    #[test]
    fn references_are_measured_once_and_expanded_in_the_totals() {
        // 2^27 nodes when expanded: refused at once, not walked.
        let start = std::time::Instant::now();
        let e = plan(&chain(27, 2)).unwrap_err();
        assert!(e.contains("--max-schema-nodes"), "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // 900 levels: refused for depth, without a deep stack.
        let e = plan(&chain(900, 1)).unwrap_err();
        assert!(e.contains("deeper than 32 levels"), "{e}");
        assert!(e.starts_with("field \"f32\""), "{e}");
        plan(&chain(31, 1)).unwrap();
    }

    #[test]
    fn recursion_is_refused() {
        let e = plan(r#"{"type":"record","name":"t","fields":[{"name":"next","type":["null","t"]}]}"#).unwrap_err();
        assert_eq!(e, r#"field "next": recursive type "t" is not supported"#);
        // A type used twice is not recursion.
        plan(
            r#"{"type":"record","name":"r","fields":[
                {"name":"p","type":{"type":"record","name":"P","fields":[{"name":"x","type":"long"}]}},
                {"name":"q","type":"P"}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn rows_that_take_no_bytes_are_refused() {
        for fields in
            [r#"{"name":"a","type":"null"}"#, r#"{"name":"e","type":{"type":"record","name":"E","fields":[]}}"#, ""]
        {
            let e = plan(&format!(r#"{{"type":"record","name":"z","fields":[{fields}]}}"#)).unwrap_err();
            assert!(e.contains("zero bytes"), "{e}");
        }
        let p =
            plan(r#"{"type":"record","name":"z","fields":[{"name":"a","type":"null"},{"name":"b","type":"boolean"}]}"#);
        assert_eq!(p.unwrap().min_row_bytes, 1);
    }

    #[test]
    fn wide_records_and_large_fixed_are_refused() {
        let fields: Vec<String> = (0..1001).map(|i| format!(r#"{{"name":"f{i}","type":"long"}}"#)).collect();
        let e = plan(&format!(r#"{{"type":"record","name":"w","fields":[{}]}}"#, fields.join(","))).unwrap_err();
        assert_eq!(e, r#"record "w" has 1001 fields, the limit is 1000 (--max-columns)"#);
        let e = plan(r#"{"type":"record","name":"f","fields":[{"name":"x","type":{"type":"fixed","name":"X","size":1099511627776}}]}"#)
            .unwrap_err();
        assert!(e.contains("exceeds the limit of 1048576 bytes"), "{e}");
    }

    #[test]
    fn names_are_read_as_the_decoder_reads_them() {
        // An alias that is another type's name: apache-avro's parser would
        // point a reference at the fixed, its decoder at the record.
        let e = plan(
            r#"{"type":"record","name":"top","fields":[
                {"name":"a","type":{"type":"record","name":"A","fields":[{"name":"n","type":"long"}]}},
                {"name":"f","type":{"type":"fixed","name":"F","size":64,"aliases":["A"]}},
                {"name":"r","type":"A"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e, r#"field "f": alias "A" of "F" is already a name or an alias"#);
        // A name defined twice, and a reference through an alias.
        let e = plan(
            r#"{"type":"record","name":"top","fields":[
                {"name":"a","type":{"type":"fixed","name":"X","size":4}},
                {"name":"b","type":{"type":"record","name":"X","fields":[{"name":"q","type":"long"}]}}]}"#,
        );
        // (apache-avro's parser itself reads the second X as a reference.)
        if let Err(e) = e {
            assert!(e.contains("defined twice"), "{e}");
        }
        let e = plan(
            r#"{"type":"record","name":"top","fields":[
                {"name":"a","type":{"type":"fixed","name":"X","size":4,"aliases":["Y"]}},
                {"name":"b","type":"Y"}]}"#,
        );
        assert!(e.is_err(), "a reference through an alias: {e:?}");
    }

    #[test]
    fn a_decimal_on_a_fixed_is_read_as_its_bytes() {
        let p = plan(
            r#"{"type":"record","name":"r","fields":[
                {"name":"d","type":{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":2}}]}"#,
        )
        .unwrap();
        assert_eq!(p.nodes[p.fields()[0].node as usize], Node::Fixed(8));
        // Not among the names the decoder resolves.
        assert_eq!(p.names, ["r"]);
    }

    #[test]
    fn long_names_and_symbols_are_refused() {
        let long = "n".repeat(129);
        let e = plan(&format!(
            r#"{{"type":"record","name":"r","fields":[{{"name":"e","type":{{"type":"enum","name":"E","symbols":["{long}"]}}}}]}}"#
        ))
        .unwrap_err();
        assert_eq!(e, r#"field "e": enum "E" has a symbol of 129 bytes, the limit is 128"#);
        let e = plan(&format!(
            r#"{{"type":"record","name":"r","fields":[{{"name":"i","type":{{"type":"record","name":"I","fields":[{{"name":"{long}","type":"long"}}]}}}}]}}"#
        ))
        .unwrap_err();
        assert_eq!(e, r#"field "i": record "I" has a field name of 129 bytes, the limit is 128"#);
    }
}
