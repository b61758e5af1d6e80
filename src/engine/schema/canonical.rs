//! The Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint, as
//! the Avro specification defines them, and the wire form: the canonical
//! form with what the collector needs to store and evolve a collection kept.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::{Name, Node, NodeId};
use crate::engine::json::write_string;

/// Which of the two normal forms to write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Form<'a> {
    /// The specification's Parsing Canonical Form, which the fingerprint is
    /// taken of.
    Parsing,
    /// The Parsing Canonical Form plus the logical-type attributes of
    /// primitive and fixed nodes as written (`logicalType`, `precision`,
    /// `scale`: these, by node) and field defaults, in that order after the
    /// specification's keys: what castai/metrics' Go client sends (it keeps
    /// logical types) and what a collection needs to add a field (its default).
    Wire(&'a [(NodeId, String)]),
}

impl<'a> Form<'a> {
    fn is_wire(self) -> bool {
        matches!(self, Form::Wire(_))
    }

    /// The logical-type attributes of node `id`, in the wire form. The
    /// parser adds them in node order (each right after its node), so they
    /// are found by halving, not by a scan per node.
    fn logical(self, id: NodeId) -> Option<&'a str> {
        match self {
            Form::Wire(logical) => {
                logical.binary_search_by_key(&id, |(node, _)| *node).ok().map(|at| logical[at].1.as_str())
            }
            Form::Parsing => None,
        }
    }
}

pub(super) fn write(nodes: &[Node], form: Form) -> String {
    let mut out = String::new();
    let mut written = Vec::new();
    write_node(nodes, 0, form, "", &mut out, &mut written);
    out
}

/// `{"name":"<full name>"`. A name without a namespace inside a record that
/// has one would take the record's when read again, so the wire form says
/// `"namespace":""` for it (the specification's form leaves that ambiguity).
fn open_named(out: &mut String, form: Form, name: &Name, enclosing: &str) {
    out.push_str("{\"name\":");
    write_string(out, &name.full);
    if form.is_wire() && name.namespace().is_empty() && !enclosing.is_empty() {
        out.push_str(",\"namespace\":\"\"");
    }
}

/// `{"type":"<primitive>",<its logical-type attributes>}` in the wire form
/// when it has them, `"<primitive>"` otherwise.
fn primitive(out: &mut String, logical: Option<&str>, primitive: &str) {
    match logical {
        Some(logical) => {
            let _ = write!(out, "{{\"type\":\"{primitive}\"{logical}}}");
        }
        None => {
            let _ = write!(out, "\"{primitive}\"");
        }
    }
}

/// Writes node `id`, met inside a record of namespace `enclosing`.
fn write_node(
    nodes: &[Node],
    id: NodeId,
    form: Form<'_>,
    enclosing: &str,
    out: &mut String,
    written: &mut Vec<NodeId>,
) {
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
        Node::Null => primitive(out, form.logical(id), "null"),
        Node::Boolean => primitive(out, form.logical(id), "boolean"),
        Node::Int(_) => primitive(out, form.logical(id), "int"),
        Node::Long(_) => primitive(out, form.logical(id), "long"),
        Node::Float => primitive(out, form.logical(id), "float"),
        Node::Double => primitive(out, form.logical(id), "double"),
        Node::Bytes(_) => primitive(out, form.logical(id), "bytes"),
        Node::String(_) => primitive(out, form.logical(id), "string"),
        Node::Record(r) => {
            open_named(out, form, &r.name, enclosing);
            out.push_str(",\"type\":\"record\",\"fields\":[");
            for (i, field) in r.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                write_string(out, &field.name);
                out.push_str(",\"type\":");
                write_node(nodes, field.node, form, r.name.namespace(), out, written);
                if let (Some(default), true) = (&field.default_text, form.is_wire()) {
                    out.push_str(",\"default\":");
                    out.push_str(default);
                }
                out.push('}');
            }
            out.push_str("]}");
        }
        Node::Enum(e) => {
            open_named(out, form, &e.name, enclosing);
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
            write_node(nodes, *items, form, enclosing, out, written);
            out.push('}');
        }
        Node::Map(values) => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write_node(nodes, *values, form, enclosing, out, written);
            out.push('}');
        }
        Node::Union(u) => {
            out.push('[');
            for (i, branch) in u.branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_node(nodes, *branch, form, enclosing, out, written);
            }
            out.push(']');
        }
        Node::Fixed(f) => {
            open_named(out, form, &f.name, enclosing);
            let _ = write!(out, ",\"type\":\"fixed\",\"size\":{}", f.size);
            out.push_str(form.logical(id).unwrap_or_default());
            out.push('}');
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
    fn wire_form_keeps_logical_types_as_written_defaults_and_the_null_namespace() {
        let text = r#"{"type": "record", "name": "r", "namespace": "ns", "doc": "dropped", "aliases": ["x"],
            "fields": [
              {"name": "ts", "doc": "dropped", "default": 0, "type": {"logicalType": "timestamp-millis", "type": "long"}},
              {"name": "day", "type": {"type": "int", "logicalType": "date"}},
              {"name": "unknown", "type": {"type": "long", "logicalType": "no-such-type"}},
              {"name": "id", "type": {"type": "string", "logicalType": "uuid"}, "default": "a\u0001\n"},
              {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
              {"name": "bad_decimal", "type": {"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 3}},
              {"name": "amount", "type": {"type": "fixed", "name": "A", "size": 8, "logicalType": "decimal", "precision": 18}},
              {"name": "ratio", "type": "double", "default": 1.50},
              {"name": "tags", "type": {"type": "map", "values": "string"}, "default": {"b": "1", "a": "2"}},
              {"name": "top", "type": {"type": "record", "name": "Top", "namespace": "", "fields": [
                {"name": "inner", "type": {"type": "enum", "name": "E", "symbols": ["X"], "default": "X"}}]}},
              {"name": "again", "type": ["null", "Top"], "default": null}]}"#;
        let schema = Schema::parse(text).unwrap();
        let wire = concat!(
            r#"{"name":"ns.r","type":"record","fields":["#,
            r#"{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"},"default":0},"#,
            r#"{"name":"day","type":{"type":"int","logicalType":"date"}},"#,
            r#"{"name":"unknown","type":{"type":"long","logicalType":"no-such-type"}},"#,
            r#"{"name":"id","type":{"type":"string","logicalType":"uuid"},"default":"a\u0001\n"},"#,
            r#"{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},"#,
            r#"{"name":"bad_decimal","type":{"type":"bytes","logicalType":"decimal","precision":2,"scale":3}},"#,
            r#"{"name":"amount","type":{"name":"ns.A","type":"fixed","size":8,"logicalType":"decimal","precision":18}},"#,
            r#"{"name":"ratio","type":"double","default":1.5},"#,
            r#"{"name":"tags","type":{"type":"map","values":"string"},"default":{"b":"1","a":"2"}},"#,
            r#"{"name":"top","type":{"name":"Top","namespace":"","type":"record","fields":["#,
            r#"{"name":"inner","type":{"name":"E","type":"enum","symbols":["X"]}}]}},"#,
            r#"{"name":"again","type":["null","Top"],"default":null}]}"#
        );
        assert_eq!(schema.wire_form(), wire);
        // Read again, it is the same schema: the same wire and canonical forms.
        let again = Schema::parse(wire).unwrap();
        assert_eq!(again.wire_form(), wire);
        assert_eq!(again.canonical_form(), schema.canonical_form());
        assert_eq!(again.record().fields[0].default, schema.record().fields[0].default);
    }

    #[test]
    fn fingerprint_matches_the_specification() {
        // Values from the Avro specification's test vectors for primitives.
        assert_eq!(rabin_fingerprint(b"\"null\"") as i64, 7195948357588979594);
        assert_eq!(rabin_fingerprint(b"\"int\"") as i64, 8247732601305521295);
    }
}
