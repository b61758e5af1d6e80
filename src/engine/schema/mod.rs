//! Avro schemas: parsing, the node graph the encoder walks, the Parsing
//! Canonical Form and its fingerprint.
//!
//! A schema is stored as a flat list of nodes addressed by [`NodeId`]; named
//! types are defined once and referenced by id, which is how recursive
//! records are represented without reference counting.

mod canonical;
mod default;
mod parse;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

pub use canonical::rabin_fingerprint;

/// Index of a node in its [`Schema`].
pub type NodeId = u32;

/// A parsed Avro schema whose top level is a record.
#[derive(Debug, Clone)]
pub struct Schema {
    nodes: Vec<Node>,
    text: String,
    canonical: String,
    wire: String,
    fingerprint: u64,
}

/// One Avro type.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null`
    Null,
    /// `boolean`
    Boolean,
    /// `int`, possibly a date or time-millis.
    Int(IntLogical),
    /// `long`, possibly a time or timestamp.
    Long(LongLogical),
    /// `float`
    Float,
    /// `double`
    Double,
    /// `bytes`, possibly a decimal.
    Bytes(Option<Decimal>),
    /// `string`, possibly a uuid.
    String(StringLogical),
    /// A named record.
    Record(Record),
    /// A named enumeration.
    Enum(Enum),
    /// `array` of the item node.
    Array(NodeId),
    /// `map` from strings to the value node.
    Map(NodeId),
    /// A union of branches.
    Union(Union),
    /// A named fixed-size byte string.
    Fixed(Fixed),
}

/// Logical types carried by `int`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntLogical {
    /// A plain int.
    None,
    /// Days since the Unix epoch.
    Date,
    /// Milliseconds after midnight.
    TimeMillis,
}

/// Logical types carried by `long`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongLogical {
    /// A plain long.
    None,
    /// Microseconds after midnight.
    TimeMicros,
    /// Milliseconds since the Unix epoch, UTC.
    TimestampMillis,
    /// Microseconds since the Unix epoch, UTC.
    TimestampMicros,
    /// Milliseconds since the epoch in local time.
    LocalTimestampMillis,
    /// Microseconds since the epoch in local time.
    LocalTimestampMicros,
}

/// Logical types carried by `string`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringLogical {
    /// A plain string.
    None,
    /// An RFC 4122 UUID in its 36-character text form.
    Uuid,
}

/// The `decimal` logical type on bytes or fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// Total number of digits.
    pub precision: u32,
    /// Digits after the point.
    pub scale: u32,
}

/// A full Avro name: the short name and its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The full name (`namespace.name`, or `name` without a namespace).
    pub full: String,
    /// Length of the namespace prefix in `full`, dot excluded.
    namespace_len: usize,
}

impl Name {
    pub(crate) fn new(full: String) -> Self {
        let namespace_len = full.bytes().rposition(|b| b == b'.').unwrap_or(0);
        Name { full, namespace_len }
    }

    /// The name without its namespace.
    pub fn short(&self) -> &str {
        match self.namespace_len {
            0 => &self.full,
            n => self.full.get(n + 1..).unwrap_or_default(),
        }
    }

    /// The namespace, empty when there is none.
    pub fn namespace(&self) -> &str {
        self.full.get(..self.namespace_len).unwrap_or_default()
    }
}

/// A record type.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its full name.
    pub name: Name,
    /// Its fields in schema order (the order of the encoding).
    pub fields: Vec<Field>,
}

/// A field of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// The field's type.
    pub node: NodeId,
    /// The default, already Avro-encoded, written when a row leaves the field out.
    pub default: Option<Vec<u8>>,
    /// The default as compact JSON, for the wire form.
    pub(crate) default_text: Option<String>,
    /// The node again, with its kind: what the encoder reads in place.
    pub(crate) target: Target,
    pub(crate) key_seen: KeySeen,
}

/// What a value is serialized against: a node, with its kind when the
/// encoder can write it inline. A field keeps its own, so that the encoder
/// points at schema memory rather than at a copy it just made on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    pub node: NodeId,
    pub hint: Hint,
}

impl Target {
    /// A node whose kind the caller does not know.
    pub(crate) fn of(node: NodeId) -> Self {
        Target { node, hint: Hint::Other }
    }
}

/// The kind of a node when it is one the encoder writes inline without
/// looking the node up: following field → node → kind was a chain of
/// dependent loads worth a third of encoding time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    Long,
    Int,
    String,
    Other,
}

/// The address of the last `&'static str` key that matched a field. Derived
/// `Serialize` impls pass the same static key for a field every time, so an
/// equal address and length prove an equal name without comparing bytes
/// (that comparison was 8% of encoding time in `benches/encode.rs`).
#[derive(Debug, Default)]
pub(crate) struct KeySeen(AtomicUsize);

impl KeySeen {
    #[inline]
    pub(crate) fn matches(&self, key: &'static str, name: &str) -> bool {
        self.0.load(Ordering::Relaxed) == key.as_ptr() as usize && key.len() == name.len()
    }

    #[inline]
    pub(crate) fn remember(&self, key: &'static str) {
        self.0.store(key.as_ptr() as usize, Ordering::Relaxed);
    }
}

impl Clone for KeySeen {
    fn clone(&self) -> Self {
        KeySeen(AtomicUsize::new(self.0.load(Ordering::Relaxed)))
    }
}

/// A cache, not part of the field's meaning.
impl PartialEq for KeySeen {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// An enum type.
#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    /// Its full name.
    pub name: Name,
    /// The symbols, in index order.
    pub symbols: Vec<String>,
}

/// A union type.
#[derive(Debug, Clone, PartialEq)]
pub struct Union {
    /// The branches, in index order.
    pub branches: Vec<NodeId>,
    /// Index of the `null` branch, if any.
    pub null_branch: Option<u32>,
}

/// A fixed type.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixed {
    /// Its full name.
    pub name: Name,
    /// Its size in bytes.
    pub size: usize,
    /// Set when it carries the `decimal` logical type.
    pub decimal: Option<Decimal>,
}

/// Why a schema was refused: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Dotted path of fields leading to the problem; empty at the top level.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "schema: {}", self.message)
        } else {
            write!(f, "field \"{}\": {}", self.path, self.message)
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SchemaError {}

impl Schema {
    /// Parses schema JSON text; the top level must be a record.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        parse::parse(text)
    }

    /// The top-level record node.
    pub fn root(&self) -> NodeId {
        0
    }

    /// The node with this id.
    #[inline]
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The top-level record.
    pub fn record(&self) -> &Record {
        match &self.nodes[0] {
            Node::Record(r) => r,
            _ => unreachable!("the parser only accepts a record at the top level"),
        }
    }

    /// The collection name: the top-level record's short name, as
    /// castai/metrics uses it.
    pub fn collection(&self) -> &str {
        self.record().name.short()
    }

    /// The schema text as given to [`Schema::parse`].
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The Parsing Canonical Form: the schema stripped of everything that
    /// does not affect how data is read (docs, defaults, logical types).
    pub fn canonical_form(&self) -> &str {
        &self.canonical
    }

    /// The text chunks carry as their schema: the canonical form with the
    /// logical types (as written) and field defaults kept, so that one
    /// schema is one text however it was written (spacing, key order, docs,
    /// namespaces inherited or spelt out), and a chunk does not carry the docs.
    pub fn wire_form(&self) -> &str {
        &self.wire
    }

    /// CRC-64-AVRO (Rabin) fingerprint of the canonical form: 8 bytes that
    /// identify the schema.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// A short description of a node's type, for error messages.
    pub fn describe(&self, id: NodeId) -> &str {
        match self.node(id) {
            Node::Null => "null",
            Node::Boolean => "boolean",
            Node::Int(_) => "int",
            Node::Long(_) => "long",
            Node::Float => "float",
            Node::Double => "double",
            Node::Bytes(_) => "bytes",
            Node::String(_) => "string",
            Node::Record(r) => &r.name.full,
            Node::Enum(e) => &e.name.full,
            Node::Array(_) => "array",
            Node::Map(_) => "map",
            Node::Union(_) => "union",
            Node::Fixed(f) => &f.name.full,
        }
    }

    /// The name a union branch is selected by: the full name of a named
    /// type, the type name otherwise (`"int"`, `"array"`, ...).
    pub fn branch_name(&self, id: NodeId) -> &str {
        self.describe(id)
    }
}
