//! A walk over a chunk's Avro bytes that decodes nothing: it checks their
//! structure against the schema's [`Plan`], counts the values they hold
//! against the limits, and finds where each row ends.
//!
//! It runs before apache-avro decodes anything, because a decoder trusts
//! counts it has not read the items of: six bytes declaring an array of 2^25
//! nulls make any Avro decoder build 2^25 values. Here an array or map block
//! is charged to the budget when its count is read, before any item is
//! walked, so such a chunk is refused in the time it takes to read its
//! header. The walk keeps its own stack (as deep as the schema, which the
//! plan bounds) and checks every varint, length, UTF-8 string, union branch
//! and enum symbol, so the decoding that follows is over bytes known to be
//! well formed. Written by hand because apache-avro has no such pass: its
//! only guard is a cap on one allocation's bytes, which zero-byte items
//! never reach.

use crate::plan::{Node, NodeId, Plan};

/// Limits on what one chunk's bytes may hold.
#[derive(Clone, Copy, Debug)]
pub struct ScanLimits {
    /// Most values in the chunk.
    pub max_values_per_chunk: u64,
    /// Most values in one row.
    pub max_values_per_row: u64,
    /// Most values per byte of the chunk (plus [`VALUES_SLACK`]).
    pub max_values_per_byte: u64,
}

/// Values any chunk may hold whatever its size.
pub const VALUES_SLACK: u64 = 4096;

impl ScanLimits {
    /// The values a chunk of `bytes` may hold, and the flag that sets it.
    fn chunk_budget(&self, bytes: usize) -> (u64, String) {
        let per_byte = (bytes as u64).saturating_mul(self.max_values_per_byte).saturating_add(VALUES_SLACK);
        if per_byte < self.max_values_per_chunk {
            (
                per_byte,
                format!(": {} per byte of its {bytes} bytes of Avro (--max-values-per-byte)", self.max_values_per_byte),
            )
        } else {
            (self.max_values_per_chunk, " (--max-values-per-chunk)".to_owned())
        }
    }
}

/// Rows whose decoded values stay near a fixed count: apache-avro decodes
/// them in one call, and the values they hold are released before the next
/// group is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// Rows in the group.
    pub rows: u64,
    /// First byte of the group.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Scanned {
    /// Values in the chunk.
    pub values: u64,
    /// The rows cut into groups of about [`GROUP_VALUES`] values.
    pub groups: Vec<Group>,
}

/// A group closes once it holds this many values (or one row, if a row
/// holds more).
pub const GROUP_VALUES: u64 = 16 * 1024;

/// Why the bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Malformed or not matching the declared rows.
    Invalid(String),
    /// Over a limit.
    Limit(String),
}

/// What the walk does next inside the innermost frame.
enum Step {
    Value(NodeId),
    KeyThen(NodeId),
    Pop,
    Block,
}

enum Frame<'p> {
    Record { fields: &'p [crate::plan::Field], next: usize },
    Array { item: NodeId, left: u64, index: u64 },
    Map { value: NodeId, left: u64 },
}

struct Walk<'a, 'p> {
    plan: &'p Plan,
    bytes: &'a [u8],
    pos: usize,
    limits: ScanLimits,
    chunk_budget: (u64, String),
    values: u64,
    row_values: u64,
    stack: Vec<Frame<'p>>,
}

/// Walks `rows` rows over `bytes`, which must hold exactly them.
pub fn scan(plan: &Plan, bytes: &[u8], rows: u64, limits: ScanLimits) -> Result<Scanned, ScanError> {
    let chunk_budget = limits.chunk_budget(bytes.len());
    let mut walk = Walk { plan, bytes, pos: 0, limits, chunk_budget, values: 0, row_values: 0, stack: Vec::new() };
    let mut out = Scanned::default();
    let mut group = Group { rows: 0, start: 0, end: 0 };
    let mut group_values = 0;
    for row in 0..rows {
        let start = walk.pos;
        if start == bytes.len() {
            return Err(ScanError::Invalid(format!("metadata.rows is {rows} but the Avro bytes hold {row} rows")));
        }
        walk.row_values = 0;
        walk.row().map_err(|problem| walk.describe(problem, row, start))?;
        group.rows += 1;
        group.end = walk.pos;
        group_values += walk.row_values;
        if group_values >= GROUP_VALUES {
            out.groups.push(group);
            group = Group { rows: 0, start: walk.pos, end: walk.pos };
            group_values = 0;
        }
    }
    if group.rows > 0 {
        out.groups.push(group);
    }
    let left = bytes.len() - walk.pos;
    if left > 0 {
        return Err(ScanError::Invalid(format!("{left} bytes left over after {rows} rows (metadata.rows is {rows})")));
    }
    out.values = walk.values;
    Ok(out)
}

/// Where each of `rows` rows ends in `bytes`, which a scan found well
/// formed (to find one row among them when decoding a group fails).
pub fn row_ends(plan: &Plan, bytes: &[u8], rows: u64) -> Vec<usize> {
    let limits =
        ScanLimits { max_values_per_chunk: u64::MAX, max_values_per_row: u64::MAX, max_values_per_byte: u64::MAX };
    let chunk_budget = (u64::MAX, String::new());
    let mut walk = Walk { plan, bytes, pos: 0, limits, chunk_budget, values: 0, row_values: 0, stack: Vec::new() };
    let mut ends = Vec::new();
    for _ in 0..rows {
        if walk.row().is_err() {
            break;
        }
        ends.push(walk.pos);
    }
    ends
}

/// What went wrong inside a row, before it is placed.
enum Problem {
    Truncated,
    Invalid(String),
    Limit(String),
}

impl Walk<'_, '_> {
    fn row(&mut self) -> Result<(), Problem> {
        self.stack.clear();
        let mut pending = Some(0 as NodeId);
        loop {
            if let Some(node) = pending.take() {
                pending = self.value(node)?;
                continue;
            }
            let step = match self.stack.last_mut() {
                None => return Ok(()),
                Some(Frame::Record { fields, next }) => match fields.get(*next) {
                    Some(field) => {
                        *next += 1;
                        Step::Value(field.node)
                    }
                    None => Step::Pop,
                },
                Some(Frame::Array { item, left, index }) if *left > 0 => {
                    *left -= 1;
                    *index += 1;
                    Step::Value(*item)
                }
                Some(Frame::Map { value, left }) if *left > 0 => {
                    *left -= 1;
                    Step::KeyThen(*value)
                }
                Some(Frame::Array { .. } | Frame::Map { .. }) => Step::Block,
            };
            match step {
                Step::Value(node) => pending = Some(node),
                Step::KeyThen(node) => {
                    self.string()?;
                    pending = Some(node);
                }
                Step::Pop => {
                    self.stack.pop();
                }
                Step::Block => {
                    let count = self.block_count()?;
                    if count == 0 {
                        self.stack.pop();
                        continue;
                    }
                    // Each item is at least one value: refuse a block that
                    // would overrun a budget before reading any of it.
                    self.check_budget(count)?;
                    if let Some(Frame::Array { left, .. } | Frame::Map { left, .. }) = self.stack.last_mut() {
                        *left = count;
                    }
                }
            }
        }
    }

    /// Reads one value of `node`, or opens its frame; returns the node to
    /// read next when it is a union's branch.
    fn value(&mut self, node: NodeId) -> Result<Option<NodeId>, Problem> {
        let plan = self.plan;
        match &plan.nodes[node as usize] {
            Node::Union(branches) => {
                let index = self.long()?;
                return match usize::try_from(index).ok().and_then(|i| branches.get(i)) {
                    Some(&branch) => Ok(Some(branch)),
                    None => Err(Problem::Invalid(format!(
                        "union branch {index} does not exist (the union has {})",
                        branches.len()
                    ))),
                };
            }
            _ => self.charge(1)?,
        }
        match &plan.nodes[node as usize] {
            Node::Null => {}
            Node::Boolean => match self.take(1)?[0] {
                0 | 1 => {}
                other => return Err(Problem::Invalid(format!("boolean byte is {other}, not 0 or 1"))),
            },
            Node::Int => {
                let v = self.long()?;
                if i32::try_from(v).is_err() {
                    return Err(Problem::Invalid(format!("int value {v} does not fit in 32 bits")));
                }
            }
            Node::Long => {
                self.long()?;
            }
            Node::Float => {
                self.take(4)?;
            }
            Node::Double => {
                self.take(8)?;
            }
            Node::Bytes => {
                let len = self.length()?;
                self.take(len)?;
            }
            Node::BigDecimal => {
                let len = self.length()?;
                if len > crate::plan::MAX_BIG_DECIMAL_BYTES {
                    return Err(Problem::Invalid(format!(
                        "big-decimal of {len} bytes, the limit is {}",
                        crate::plan::MAX_BIG_DECIMAL_BYTES
                    )));
                }
                self.take(len)?;
            }
            Node::String => self.string()?,
            Node::Fixed(size) => {
                self.take(*size)?;
            }
            Node::Enum(symbols) => {
                let index = self.long()?;
                if usize::try_from(index).map_or(true, |i| i >= *symbols) {
                    return Err(Problem::Invalid(format!(
                        "enum symbol {index} does not exist (the enum has {symbols})"
                    )));
                }
            }
            Node::Array(item) => self.stack.push(Frame::Array { item: *item, left: 0, index: 0 }),
            Node::Map(value) => self.stack.push(Frame::Map { value: *value, left: 0 }),
            Node::Record(fields) => self.stack.push(Frame::Record { fields, next: 0 }),
            Node::Union(_) => unreachable!("handled above"),
        }
        Ok(None)
    }

    fn charge(&mut self, n: u64) -> Result<(), Problem> {
        self.values += n;
        self.row_values += n;
        self.check_budget(0)
    }

    fn check_budget(&self, more: u64) -> Result<(), Problem> {
        let max_values_per_row = self.limits.max_values_per_row;
        if self.row_values.saturating_add(more) > max_values_per_row {
            return Err(Problem::Limit(format!(
                "the row holds more than {max_values_per_row} values (--max-values-per-row)"
            )));
        }
        let (budget, why) = &self.chunk_budget;
        if self.values.saturating_add(more) > *budget {
            return Err(Problem::Limit(format!("the chunk holds more than {budget} values{why}")));
        }
        Ok(())
    }

    /// An array or map block's item count (its byte size, when given, is
    /// read and not trusted).
    fn block_count(&mut self) -> Result<u64, Problem> {
        let count = self.long()?;
        if count < 0 {
            let size = self.long()?;
            if size < 0 {
                return Err(Problem::Invalid(format!("block size {size} is negative")));
            }
        }
        Ok(count.unsigned_abs())
    }

    fn length(&mut self) -> Result<usize, Problem> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| Problem::Invalid(format!("length {len} is negative")))?;
        if len > self.bytes.len() - self.pos {
            return Err(Problem::Truncated);
        }
        Ok(len)
    }

    fn string(&mut self) -> Result<(), Problem> {
        let len = self.length()?;
        let text = self.take(len)?;
        std::str::from_utf8(text).map_err(|e| Problem::Invalid(format!("string is not UTF-8: {e}")))?;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Problem> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or(Problem::Truncated)?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    /// A zig-zag varint of up to ten bytes, as apache-avro reads it.
    fn long(&mut self) -> Result<i64, Problem> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let &byte = self.bytes.get(self.pos).ok_or(Problem::Truncated)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(Problem::Invalid("varint is longer than ten bytes".into()))
    }

    /// Places a problem: the row, the field path, and where the row starts.
    fn describe(&self, problem: Problem, row: u64, start: usize) -> ScanError {
        let path = self.path();
        let at = if path.is_empty() { String::new() } else { format!(", {path}") };
        let len = self.bytes.len();
        match problem {
            Problem::Truncated => ScanError::Invalid(format!(
                "Avro bytes are truncated in row {row}{at} (the row starts at byte {start} of {len})"
            )),
            Problem::Invalid(what) => ScanError::Invalid(format!(
                "Avro bytes are invalid in row {row}{at} (the row starts at byte {start} of {len}): {what}"
            )),
            Problem::Limit(what) => ScanError::Limit(format!("row {row}{at}: {what}")),
        }
    }

    /// `field "a"[3].b`: where the walk stopped.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Record { fields, next } => {
                    if let Some(field) = next.checked_sub(1).and_then(|i| fields.get(i)) {
                        if path.is_empty() {
                            path.push_str(&format!("field {:?}", field.name));
                        } else {
                            path.push_str(&format!(".{}", field.name));
                        }
                    }
                }
                Frame::Array { index, .. } if *index > 0 => path.push_str(&format!("[{}]", index - 1)),
                Frame::Array { .. } => {}
                Frame::Map { .. } => path.push_str("{}"),
            }
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{SchemaLimits, build};
    use apache_avro::Schema;
    use apache_avro::types::Value;

    const LIMITS: ScanLimits =
        ScanLimits { max_values_per_chunk: 1000, max_values_per_row: 100, max_values_per_byte: 1000 };

    fn planned(json: &str) -> (Plan, Schema) {
        let schema = Schema::parse_str(json).unwrap();
        let limits = SchemaLimits { max_depth: 32, max_nodes: 10_000, max_fields: 1000, max_fixed_bytes: 1 << 20 };
        (build(&schema, limits).unwrap(), schema)
    }

    fn encode(schema: &Schema, rows: &[Value]) -> Vec<u8> {
        rows.iter().flat_map(|r| apache_avro::to_avro_datum(schema, r.clone()).unwrap()).collect()
    }

    const EVERYTHING: &str = r#"{"type":"record","name":"r","fields":[
        {"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"f","type":"float"},
        {"name":"s","type":"string"},{"name":"u","type":["null","string"]},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
        {"name":"x","type":{"type":"fixed","name":"X","size":2}},
        {"name":"a","type":{"type":"array","items":"long"}},
        {"name":"m","type":{"type":"map","values":"double"}}]}"#;

    fn everything(i: i32, items: usize) -> Value {
        Value::Record(vec![
            ("b".into(), Value::Boolean(i % 2 == 0)),
            ("i".into(), Value::Int(i)),
            ("f".into(), Value::Float(1.5)),
            ("s".into(), Value::String(format!("row {i}"))),
            ("u".into(), Value::Union(1, Box::new(Value::String("u".into())))),
            ("e".into(), Value::Enum(1, "B".into())),
            ("x".into(), Value::Fixed(2, vec![1, 2])),
            ("a".into(), Value::Array((0..items as i64).map(Value::Long).collect())),
            ("m".into(), Value::Map([("k".to_owned(), Value::Double(2.0))].into_iter().collect())),
        ])
    }

    #[test]
    fn counts_values_and_groups_rows() {
        let (plan, schema) = planned(EVERYTHING);
        let rows: Vec<Value> = (0..5).map(|i| everything(i, 3)).collect();
        let bytes = encode(&schema, &rows);
        let scanned = scan(&plan, &bytes, 5, LIMITS).unwrap();
        // Per row: the record, 9 fields, 3 array items, 1 map value.
        assert_eq!(scanned.values, 5 * 14);
        assert_eq!(scanned.groups, vec![Group { rows: 5, start: 0, end: bytes.len() }]);
    }

    #[test]
    fn a_huge_block_is_refused_from_its_header() {
        let (plan, _) = planned(
            r#"{"type":"record","name":"r","fields":[{"name":"v","type":"long"},{"name":"a","type":{"type":"array","items":"null"}}]}"#,
        );
        // v = 1, then a block of 2^25 nulls, then the end of the array.
        let mut bytes = vec![2, 0x80, 0x80, 0x80, 0x20, 0];
        let e = scan(&plan, &bytes, 1, LIMITS).unwrap_err();
        assert_eq!(
            e,
            ScanError::Limit(r#"row 0, field "a": the row holds more than 100 values (--max-values-per-row)"#.into())
        );
        // A negative count (-128 items) is followed by the block's byte size.
        bytes = vec![2, 0xff, 0x01, 0, 0];
        assert!(matches!(scan(&plan, &bytes, 1, LIMITS), Err(ScanError::Limit(_))));
    }

    #[test]
    fn the_chunk_budget_holds_across_rows() {
        let (plan, schema) = planned(EVERYTHING);
        let rows: Vec<Value> = (0..80).map(|i| everything(i, 3)).collect();
        let e = scan(&plan, &encode(&schema, &rows), 80, LIMITS).unwrap_err();
        assert!(matches!(&e, ScanError::Limit(m) if m.contains("--max-values-per-chunk")), "{e:?}");
    }

    #[test]
    fn few_bytes_may_not_hold_many_values() {
        let (plan, _) = planned(
            r#"{"type":"record","name":"r","fields":[{"name":"v","type":"long"},{"name":"a","type":{"type":"array","items":"null"}}]}"#,
        );
        // 100 rows of 5 bytes, each with 90 nulls: under the row limit, over
        // 8 values per byte (400 * 8 + 4096 = 7296 < 100 * 93).
        let mut bytes = Vec::new();
        for _ in 0..100 {
            bytes.extend([2, 0xb4, 0x01, 0]);
        }
        let limits = ScanLimits { max_values_per_chunk: 1 << 30, max_values_per_row: 100, max_values_per_byte: 8 };
        let e = scan(&plan, &bytes, 100, limits).unwrap_err();
        let expected =
            "the chunk holds more than 7296 values: 8 per byte of its 400 bytes of Avro (--max-values-per-byte)";
        assert!(matches!(&e, ScanError::Limit(m) if m.ends_with(expected)), "{e:?}");
    }

    #[test]
    fn malformed_bytes_are_named_with_their_row_and_field() {
        let (plan, schema) = planned(EVERYTHING);
        let good = encode(&schema, &[everything(0, 1), everything(1, 1)]);
        let first = encode(&schema, &[everything(0, 1)]).len();
        // Cut inside row 1's string.
        let e = scan(&plan, &good[..first + 8], 2, LIMITS).unwrap_err();
        assert_eq!(
            e,
            ScanError::Invalid(format!(
                "Avro bytes are truncated in row 1, field \"s\" (the row starts at byte {first} of {})",
                first + 8
            ))
        );
        // A bad boolean in row 0.
        let mut bad = good.clone();
        bad[0] = 7;
        let e = scan(&plan, &bad, 2, LIMITS).unwrap_err();
        assert!(matches!(&e, ScanError::Invalid(m) if m.contains("row 0") && m.contains("boolean byte is 7")), "{e:?}");
        // Fewer rows than declared, and bytes left over.
        assert_eq!(
            scan(&plan, &good, 3, LIMITS).unwrap_err(),
            ScanError::Invalid("metadata.rows is 3 but the Avro bytes hold 2 rows".into())
        );
        assert_eq!(
            scan(&plan, &good, 1, LIMITS).unwrap_err(),
            ScanError::Invalid(format!("{} bytes left over after 1 rows (metadata.rows is 1)", good.len() - first))
        );
    }

    #[test]
    fn union_enum_and_utf8_are_checked() {
        let (plan, _) = planned(r#"{"type":"record","name":"r","fields":[{"name":"u","type":["null","long"]}]}"#);
        let e = scan(&plan, &[4], 1, LIMITS).unwrap_err();
        assert!(matches!(&e, ScanError::Invalid(m) if m.contains("union branch 2 does not exist")), "{e:?}");
        let (plan, _) = planned(r#"{"type":"record","name":"r","fields":[{"name":"s","type":"string"}]}"#);
        let e = scan(&plan, &[4, 0xff, 0xfe], 1, LIMITS).unwrap_err();
        assert!(matches!(&e, ScanError::Invalid(m) if m.contains("not UTF-8")), "{e:?}");
        let e = scan(&plan, &[3], 1, LIMITS).unwrap_err();
        assert!(matches!(&e, ScanError::Invalid(m) if m.contains("length -2 is negative")), "{e:?}");
    }

    #[test]
    fn groups_close_near_their_value_count() {
        let (plan, schema) = planned(r#"{"type":"record","name":"r","fields":[{"name":"v","type":"long"}]}"#);
        let rows: Vec<Value> = (0..20_000).map(|i| Value::Record(vec![("v".into(), Value::Long(i))])).collect();
        let bytes = encode(&schema, &rows);
        let limits = ScanLimits { max_values_per_chunk: 1 << 20, max_values_per_row: 100, max_values_per_byte: 8 };
        let scanned = scan(&plan, &bytes, 20_000, limits).unwrap();
        assert_eq!(scanned.groups.len(), 3);
        assert_eq!(scanned.groups.iter().map(|g| g.rows).sum::<u64>(), 20_000);
        assert_eq!(scanned.groups[0].rows, GROUP_VALUES / 2);
        assert!(scanned.groups.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(scanned.groups.last().unwrap().end, bytes.len());
    }
}
