//! Rows into JavaScript: decoded Avro values become plain JS values, walked
//! along the schema so record fields reuse the field-name strings of the
//! schema's [`Plan`].
//!
//! records and maps → objects, arrays → arrays, `long` → a number when it
//! is a safe integer and a BigInt beyond, `bytes` and fixed → `Uint8Array`,
//! enums → their symbol, unions → the branch's value, `null` → `null`.

use js_sys::{Array, BigInt, Object, Uint8Array};
use wasm_bindgen::JsValue;

use super::js;
use super::row::Plan;
use crate::engine::avro::Value;
use crate::engine::schema::{Node, NodeId};

/// `value`, a value of schema node `node`, as a JS value.
pub(crate) fn to_js(plan: &Plan, node: NodeId, value: &Value) -> JsValue {
    let schema = plan.schema();
    match value {
        Value::Null => JsValue::NULL,
        Value::Boolean(b) => JsValue::from_bool(*b),
        Value::Int(i) => JsValue::from_f64(f64::from(*i)),
        Value::Long(l) => match l.unsigned_abs() < (1 << 53) {
            true => JsValue::from_f64(*l as f64),
            false => BigInt::from(*l).into(),
        },
        Value::Float(x) => JsValue::from_f64(f64::from(*x)),
        Value::Double(x) => JsValue::from_f64(*x),
        Value::Bytes(bytes) | Value::Fixed(bytes) => Uint8Array::from(bytes.as_slice()).into(),
        Value::String(text) | Value::Enum(_, text) => JsValue::from_str(text),
        Value::Array(items) => {
            let item = match schema.node(node) {
                Node::Array(item) => *item,
                _ => node,
            };
            items.iter().map(|v| to_js(plan, item, v)).collect::<Array>().into()
        }
        Value::Map(entries) => {
            let values = match schema.node(node) {
                Node::Map(values) => *values,
                _ => node,
            };
            let object = Object::new();
            for (key, v) in entries {
                js::set(&object, &JsValue::from_str(key), &to_js(plan, values, v));
            }
            object.into()
        }
        Value::Record(fields) => {
            let object = Object::new();
            let Node::Record(record) = schema.node(node) else {
                return object.into();
            };
            for ((field, key), (_, v)) in record.fields.iter().zip(plan.keys(node)).zip(fields) {
                js::set(&object, key, &to_js(plan, field.node, v));
            }
            object.into()
        }
        Value::Union(index, v) => {
            let branch = match schema.node(node) {
                Node::Union(union) => union.branches.get(*index as usize).copied().unwrap_or(node),
                _ => node,
            };
            to_js(plan, branch, v)
        }
    }
}
