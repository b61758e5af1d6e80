//! Encoding of field defaults, done once when the schema is parsed so that a
//! row that leaves a field out costs one copy.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Node, NodeId};
use crate::engine::avro::varint::{put_len, put_long};
use crate::engine::json::Json;

/// Encodes the JSON default `value` for the type `id`, following the
/// specification: a union's default belongs to its first branch, and bytes
/// and fixed defaults are strings whose code points are the byte values.
pub(super) fn encode(nodes: &[Node], id: NodeId, value: &Json) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    write(nodes, id, value, &mut out)?;
    Ok(out)
}

fn expected(what: &str, value: &Json) -> String {
    format!("expected {what}, found {}", value.kind())
}

fn latin1(s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            u8::try_from(c as u32)
                .map_err(|_| format!("byte strings take code points up to 255, found U+{:04X}", c as u32))
        })
        .collect()
}

fn write(nodes: &[Node], id: NodeId, value: &Json, out: &mut Vec<u8>) -> Result<(), String> {
    match (&nodes[id as usize], value) {
        (Node::Null, Json::Null) => {}
        (Node::Null, v) => return Err(expected("null", v)),
        (Node::Boolean, Json::Bool(b)) => out.push(*b as u8),
        (Node::Boolean, v) => return Err(expected("a boolean", v)),
        (Node::Int(_), Json::Int(i)) => {
            let i = i32::try_from(*i).map_err(|_| format!("{i} is out of range for an int"))?;
            put_long(out, i as i64);
        }
        (Node::Int(_), v) => return Err(expected("an int", v)),
        (Node::Long(_), Json::Int(i)) => put_long(out, *i),
        (Node::Long(_), v) => return Err(expected("a long", v)),
        (Node::Float, Json::Int(i)) => out.extend_from_slice(&(*i as f32).to_le_bytes()),
        (Node::Float, Json::Float(x)) => out.extend_from_slice(&(*x as f32).to_le_bytes()),
        (Node::Float, v) => return Err(expected("a number", v)),
        (Node::Double, Json::Int(i)) => out.extend_from_slice(&(*i as f64).to_le_bytes()),
        (Node::Double, Json::Float(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Node::Double, v) => return Err(expected("a number", v)),
        (Node::Bytes(_), Json::String(s)) => {
            let bytes = latin1(s)?;
            put_len(out, bytes.len());
            out.extend_from_slice(&bytes);
        }
        (Node::Bytes(_), v) => return Err(expected("a string", v)),
        (Node::String(_), Json::String(s)) => {
            put_len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        (Node::String(_), v) => return Err(expected("a string", v)),
        (Node::Fixed(f), Json::String(s)) => {
            let bytes = latin1(s)?;
            if bytes.len() != f.size {
                return Err(format!("fixed \"{}\" takes {} bytes, found {}", f.name.full, f.size, bytes.len()));
            }
            out.extend_from_slice(&bytes);
        }
        (Node::Fixed(_), v) => return Err(expected("a string", v)),
        (Node::Enum(e), Json::String(s)) => {
            let index = e
                .symbols
                .iter()
                .position(|sym| sym == s)
                .ok_or_else(|| format!("\"{s}\" is not a symbol of enum \"{}\"", e.name.full))?;
            put_len(out, index);
        }
        (Node::Enum(_), v) => return Err(expected("a string", v)),
        (Node::Array(items), Json::Array(values)) => {
            if !values.is_empty() {
                put_len(out, values.len());
                for v in values {
                    write(nodes, *items, v, out)?;
                }
            }
            out.push(0);
        }
        (Node::Array(_), v) => return Err(expected("an array", v)),
        (Node::Map(values), Json::Object(members)) => {
            if !members.is_empty() {
                put_len(out, members.len());
                for (k, v) in members {
                    put_len(out, k.len());
                    out.extend_from_slice(k.as_bytes());
                    write(nodes, *values, v, out)?;
                }
            }
            out.push(0);
        }
        (Node::Map(_), v) => return Err(expected("an object", v)),
        (Node::Union(u), v) => {
            out.push(0);
            write(nodes, u.branches[0], v, out)
                .map_err(|e| format!("a union's default must fit its first branch: {e}"))?;
        }
        (Node::Record(r), Json::Object(members)) => {
            for field in &r.fields {
                match members.iter().find(|(k, _)| *k == field.name) {
                    Some((_, v)) => write(nodes, field.node, v, out).map_err(|e| format!("{}: {e}", field.name))?,
                    None => match &field.default {
                        Some(bytes) => out.extend_from_slice(bytes),
                        None => return Err(format!("missing field \"{}\"", field.name)),
                    },
                }
            }
        }
        (Node::Record(_), v) => return Err(expected("an object", v)),
    }
    Ok(())
}
