//! The Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint, as
//! the Avro specification defines them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::{Node, NodeId};
use crate::engine::json::write_string;

pub(super) fn canonical_form(nodes: &[Node]) -> String {
    let mut out = String::new();
    let mut written = Vec::new();
    write_node(nodes, 0, &mut out, &mut written);
    out
}

fn write_node(nodes: &[Node], id: NodeId, out: &mut String, written: &mut Vec<NodeId>) {
    let node = &nodes[id as usize];
    let named = match node {
        Node::Record(r) => Some(&r.name.full),
        Node::Enum(e) => Some(&e.name.full),
        Node::Fixed(f) => Some(&f.name.full),
        _ => None,
    };
    if let Some(full) = named {
        if written.contains(&id) {
            write_string(out, full);
            return;
        }
        written.push(id);
    }
    match node {
        Node::Null => out.push_str("\"null\""),
        Node::Boolean => out.push_str("\"boolean\""),
        Node::Int(_) => out.push_str("\"int\""),
        Node::Long(_) => out.push_str("\"long\""),
        Node::Float => out.push_str("\"float\""),
        Node::Double => out.push_str("\"double\""),
        Node::Bytes(_) => out.push_str("\"bytes\""),
        Node::String(_) => out.push_str("\"string\""),
        Node::Record(r) => {
            out.push_str("{\"name\":");
            write_string(out, &r.name.full);
            out.push_str(",\"type\":\"record\",\"fields\":[");
            for (i, field) in r.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                write_string(out, &field.name);
                out.push_str(",\"type\":");
                write_node(nodes, field.node, out, written);
                out.push('}');
            }
            out.push_str("]}");
        }
        Node::Enum(e) => {
            out.push_str("{\"name\":");
            write_string(out, &e.name.full);
            out.push_str(",\"type\":\"enum\",\"symbols\":[");
            for (i, symbol) in e.symbols.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, symbol);
            }
            out.push_str("]}");
        }
        Node::Array(items) => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write_node(nodes, *items, out, written);
            out.push('}');
        }
        Node::Map(values) => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write_node(nodes, *values, out, written);
            out.push('}');
        }
        Node::Union(u) => {
            out.push('[');
            for (i, branch) in u.branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_node(nodes, *branch, out, written);
            }
            out.push(']');
        }
        Node::Fixed(f) => {
            out.push_str("{\"name\":");
            write_string(out, &f.name.full);
            let _ = write!(out, ",\"type\":\"fixed\",\"size\":{}}}", f.size);
        }
    }
}

const EMPTY: u64 = 0xc15d_213a_a4d7_a795;

const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut bit = 0;
        while bit < 8 {
            fp = (fp >> 1) ^ (EMPTY & (0u64.wrapping_sub(fp & 1)));
            bit += 1;
        }
        table[i] = fp;
        i += 1;
    }
    table
};

/// CRC-64-AVRO of `bytes`: the 64-bit Rabin fingerprint the Avro
/// specification uses to identify a schema by its canonical form.
pub fn rabin_fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(EMPTY, |fp, &b| (fp >> 8) ^ TABLE[((fp ^ b as u64) & 0xff) as usize])
}

#[cfg(test)]
mod tests {
    use super::super::Schema;
    use super::rabin_fingerprint;

    #[test]
    fn canonical_form_strips_and_orders() {
        let text = r#"{"fields":[{"doc":"x","type":{"type":"long","logicalType":"timestamp-millis"},"name":"ts","default":0},
            {"name":"self","type":["null","ns.r"]},{"name":"e","type":{"type":"enum","symbols":["A"],"name":"E"}}],
            "type":"record","name":"r","namespace":"ns","doc":"ignored"}"#;
        let schema = Schema::parse(text).unwrap();
        assert_eq!(
            schema.canonical_form(),
            r#"{"name":"ns.r","type":"record","fields":[{"name":"ts","type":"long"},{"name":"self","type":["null","ns.r"]},{"name":"e","type":{"name":"ns.E","type":"enum","symbols":["A"]}}]}"#
        );
    }

    #[test]
    fn fingerprint_matches_the_specification() {
        // Values from the Avro specification's test vectors for primitives.
        assert_eq!(rabin_fingerprint(b"\"null\"") as i64, 7195948357588979594);
        assert_eq!(rabin_fingerprint(b"\"int\"") as i64, 8247732601305521295);
    }
}
