//! Rows from JavaScript: a plain object is walked along its metric's schema
//! and handed to the engine's Avro encoder through serde, so a JS row and a
//! Rust struct are checked by the same code and fail with the same errors
//! naming the field.
//!
//! Field names are looked up with JS strings made once per schema, and the
//! object is read only where the schema says a field is, so a row costs one
//! property read and one type check per field on the way into wasm.
//! Properties that are not fields of the record are ignored (as `avsc` does).

use std::sync::Arc;

use js_sys::{Array, Uint8Array};
use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};
use wasm_bindgen::{JsCast, JsValue};

use super::js;
use super::options::kind;
use crate::engine::schema::{Node, NodeId, Schema};

/// A schema with the JS strings of its records' field names.
pub(crate) struct Plan {
    schema: Arc<Schema>,
    /// `keys[node]`: the field names of record `node` as JS strings; empty
    /// for other nodes.
    keys: Vec<Vec<JsValue>>,
}

impl Plan {
    /// Makes the field-name strings of every record of `schema`.
    pub(crate) fn new(schema: Arc<Schema>) -> Plan {
        let keys = (0..count_nodes(&schema))
            .map(|id| match schema.node(id) {
                Node::Record(record) => record.fields.iter().map(|f| JsValue::from_str(&f.name)).collect(),
                _ => Vec::new(),
            })
            .collect();
        Plan { schema, keys }
    }

    /// The schema.
    pub(crate) fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The JS names of record `node`'s fields.
    pub(crate) fn keys(&self, node: NodeId) -> &[JsValue] {
        &self.keys[node as usize]
    }

    /// A row of this schema.
    pub(crate) fn row<'a>(&'a self, value: &'a JsValue) -> JsRow<'a> {
        JsRow { plan: self, node: self.schema.root(), value }
    }
}

/// One past the largest node id reachable from the root (`Schema` keeps
/// its node list private; ids index it, so every smaller id is valid).
fn count_nodes(schema: &Schema) -> NodeId {
    fn visit(schema: &Schema, id: NodeId, seen: &mut Vec<bool>) {
        let index = id as usize;
        if index >= seen.len() {
            seen.resize(index + 1, false);
        }
        if seen[index] {
            return;
        }
        seen[index] = true;
        match schema.node(id) {
            Node::Record(record) => record.fields.iter().for_each(|f| visit(schema, f.node, seen)),
            Node::Array(items) | Node::Map(items) => visit(schema, *items, seen),
            Node::Union(union) => union.branches.iter().for_each(|b| visit(schema, *b, seen)),
            _ => {}
        }
    }
    let mut seen = Vec::new();
    visit(schema, schema.root(), &mut seen);
    seen.len() as NodeId
}

/// A JS value seen as a value of schema node `node`.
pub(crate) struct JsRow<'a> {
    plan: &'a Plan,
    node: NodeId,
    value: &'a JsValue,
}

/// JavaScript numbers are doubles; integers beyond this lose precision and
/// must come as BigInt.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

impl Serialize for JsRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = self.value;
        // The kind the schema expects is tried first: one check per field
        // for rows that fit. A value of the wrong JS kind for a plain type
        // is refused here, in JS terms ("found a string"); everything else
        // goes to the encoder, which knows unions and conversions.
        let fits = match self.plan.schema.node(self.node) {
            Node::Long(_) | Node::Int(_) => match value.as_f64() {
                Some(n) => return integer_or_float(n, s),
                None => value.is_bigint(),
            },
            Node::Double | Node::Float => match value.as_f64() {
                Some(n) => return s.serialize_f64(n),
                None => value.is_bigint(),
            },
            Node::String(_) | Node::Enum(_) => match value.as_string() {
                Some(text) => return s.serialize_str(&text),
                None => false,
            },
            Node::Record(_) if value.is_object() && !Array::is_array(value) => return self.record(self.node, s),
            Node::Record(_) | Node::Map(_) => value.is_object() && !Array::is_array(value),
            Node::Boolean => value.as_bool().is_some(),
            Node::Null => value.is_null() || value.is_undefined(),
            Node::Array(_) => Array::is_array(value),
            Node::Bytes(_) | Node::Fixed(_) => value.is_instance_of::<Uint8Array>() || Array::is_array(value),
            Node::Union(_) => true,
        };
        match fits {
            true => self.any(s),
            false => Err(self.mismatch::<S>()),
        }
    }
}

impl JsRow<'_> {
    /// Any value, whatever the node expects: the encoder reports a mismatch.
    fn any<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = self.value;
        if let Some(n) = value.as_f64() {
            return match self.plan.schema.node(self.node) {
                Node::Double | Node::Float => s.serialize_f64(n),
                _ => integer_or_float(n, s),
            };
        }
        if let Some(text) = value.as_string() {
            return s.serialize_str(&text);
        }
        if value.is_null() || value.is_undefined() {
            return s.serialize_none();
        }
        if let Some(b) = value.as_bool() {
            return s.serialize_bool(b);
        }
        if value.is_bigint() {
            if let Ok(n) = i64::try_from(value.clone()) {
                return s.serialize_i64(n);
            }
            if let Ok(n) = u64::try_from(value.clone()) {
                return s.serialize_u64(n);
            }
            return Err(S::Error::custom("a BigInt outside the 64-bit range"));
        }
        if Array::is_array(value) {
            return self.array(s);
        }
        if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
            return s.serialize_bytes(&bytes.to_vec());
        }
        if value.is_object() {
            let schema = &*self.plan.schema;
            // The branch the encoder picks for a map: the first record or map.
            let node = resolve(schema, self.node, |n| matches!(n, Node::Record(_) | Node::Map(_)));
            return match schema.node(node) {
                Node::Map(values) => self.map(*values, s),
                _ => self.record(node, s),
            };
        }
        Err(self.mismatch::<S>())
    }

    /// The value is not of a JS kind the node takes.
    fn mismatch<S: Serializer>(&self) -> S::Error {
        S::Error::custom(format!("expected {}, found {}", self.plan.schema.describe(self.node), kind(self.value)))
    }

    /// An object as record `node`: each field read by name, in schema
    /// order; `undefined` fields take their default.
    fn record<S: Serializer>(&self, node: NodeId, s: S) -> Result<S::Ok, S::Error> {
        let Node::Record(record) = self.plan.schema.node(node) else {
            // Not a record (nor a union with one): the encoder says so.
            return s.serialize_map(None)?.end();
        };
        let mut map = s.serialize_map(None)?;
        for (field, key) in record.fields.iter().zip(self.plan.keys(node)) {
            let value = js::get(self.value, key);
            if value.is_undefined() {
                continue;
            }
            map.serialize_entry(field.name.as_str(), &JsRow { plan: self.plan, node: field.node, value: &value })?;
        }
        map.end()
    }

    /// An object as an Avro map of `values`.
    fn map<S: Serializer>(&self, values: NodeId, s: S) -> Result<S::Ok, S::Error> {
        let keys = js::keys(self.value);
        let mut map = s.serialize_map(Some(keys.length() as usize))?;
        for key in keys.iter() {
            let value = js::get(self.value, &key);
            let name = key.as_string().unwrap_or_default();
            map.serialize_entry(&name, &JsRow { plan: self.plan, node: values, value: &value })?;
        }
        map.end()
    }

    /// An array as an Avro array (or bytes from numbers 0 to 255).
    fn array<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let schema = &*self.plan.schema;
        // The branch the encoder picks for a sequence.
        let node = resolve(schema, self.node, |n| matches!(n, Node::Array(_) | Node::Bytes(_) | Node::Fixed(_)));
        let items = match schema.node(node) {
            Node::Array(items) => *items,
            _ => node,
        };
        let array: &Array = self.value.unchecked_ref();
        let mut seq = s.serialize_seq(Some(array.length() as usize))?;
        for item in array.iter() {
            seq.serialize_element(&JsRow { plan: self.plan, node: items, value: &item })?;
        }
        seq.end()
    }
}

/// A whole number in the 64-bit range as an integer (the encoder checks it
/// fits an int), anything else as a double.
fn integer_or_float<S: Serializer>(n: f64, s: S) -> Result<S::Ok, S::Error> {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER { s.serialize_i64(n as i64) } else { s.serialize_f64(n) }
}

/// In a union, the first branch `fits` holds for; otherwise the node itself.
fn resolve(schema: &Schema, node: NodeId, fits: impl Fn(&Node) -> bool) -> NodeId {
    match schema.node(node) {
        Node::Union(union) => union.branches.iter().copied().find(|&b| fits(schema.node(b))).unwrap_or(node),
        _ => node,
    }
}
