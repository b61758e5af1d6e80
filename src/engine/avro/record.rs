//! The serializer for keyed values: records, whose fields follow the
//! schema's order, and Avro maps.

use alloc::format;
use alloc::vec::Vec;
use core::slice;
use serde::ser::{self, Impossible, Serialize};

use super::error::{EncodeError, Problem};
use super::ser::{NodeSer, Out};
use super::varint::put_len;
use crate::engine::schema::{Field, NodeId, Record, Target};

/// Writes a record or an Avro map, from a serde struct or map.
///
/// A record's fields that arrive in schema order (any derived struct whose
/// fields follow the schema) are written straight out; the first one out of
/// order switches to collecting spans that `end` reorders, which costs one
/// copy of the row.
///
/// One type for records and maps rather than an enum of two, so that the
/// in-order path stays in registers: it reads only `out` and `ahead`, and
/// the rest is in `rest`, whose methods take `ahead` by value and return it.
/// An enum around the serializer, or a `&mut self` handed to any call left
/// out of line, kept all of it on the stack, stored and reloaded at every
/// field (in `benches/encode.rs`, the enum cost 0.5 ns/row and the
/// `&mut self` 0.7, of 22).
pub(crate) struct KeyedSer<'o, 's> {
    out: &'o mut Out<'s>,
    /// The record's fields still to be written while they arrive in schema
    /// order; emptied at the first one out of order, and always empty for
    /// a map.
    ahead: slice::Iter<'s, Field>,
    rest: Rest<'s>,
}

enum Rest<'s> {
    Record(RecordRest<'s>),
    Map(MapRest),
}

/// A record's state beyond the in-order fields.
struct RecordRest<'s> {
    record: &'s Record,
    /// The first field not written in order, once one was not.
    next: usize,
    /// Where the out-of-order spans start in the output.
    mark: usize,
    /// Out-of-order fields: (field index, start, end) in the output; empty
    /// while fields come in order.
    spans: Vec<(usize, usize, usize)>,
    /// The field whose key `serialize_key` matched, until its value comes.
    pending: Option<usize>,
}

/// An Avro map's state. Avro prefixes a block with its entry count; when
/// serde does not announce it, the count is inserted at the end.
struct MapRest {
    values: NodeId,
    announced: Option<usize>,
    start: usize,
    count: usize,
    /// A key was written and its value has not come yet.
    key_open: bool,
}

impl<'o, 's> KeyedSer<'o, 's> {
    #[inline(always)]
    pub(crate) fn record(record: &'s Record, out: &'o mut Out<'s>) -> Self {
        let rest = RecordRest { record, next: 0, mark: 0, spans: Vec::new(), pending: None };
        KeyedSer { out, ahead: record.fields.iter(), rest: Rest::Record(rest) }
    }

    pub(crate) fn map(values: NodeId, out: &'o mut Out<'s>, len: Option<usize>) -> Self {
        if let Some(n @ 1..) = len {
            put_len(out.bytes, n);
        }
        let rest = MapRest { values, announced: len, start: out.bytes.len(), count: 0, key_open: false };
        KeyedSer { out, ahead: [].iter(), rest: Rest::Map(rest) }
    }

    #[inline(always)]
    fn finish(&mut self) -> Result<(), EncodeError> {
        // A key waiting for its value never leaves every field written in
        // order, so the first arm needs no look at `pending`.
        match &mut self.rest {
            Rest::Record(record) if self.ahead.len() == 0 && record.spans.is_empty() => Ok(()),
            Rest::Record(record) => record.finish(self.out, self.ahead.len()),
            Rest::Map(map) => map.finish(self.out),
        }
    }
}

/// A field that is not the next one in order under its known key; returns
/// the fields still ahead in order. A free function, not a method: see
/// [`KeyedSer`].
fn other_field<'s, T: ?Sized + Serialize>(
    out: &mut Out<'s>,
    ahead: slice::Iter<'s, Field>,
    rest: &mut Rest<'s>,
    key: &'static str,
    value: &T,
) -> Result<slice::Iter<'s, Field>, EncodeError> {
    match rest {
        Rest::Record(record) => {
            let index = match ahead.as_slice().first() {
                Some(field) if field.name == key => {
                    field.key_seen.remember(key);
                    record.record.fields.len() - ahead.len()
                }
                _ => record.field_index(ahead.len(), key)?,
            };
            record.value(out, ahead, index, value)
        }
        Rest::Map(map) => {
            map.key(out, key)?;
            map.value(out, value)?;
            Ok(ahead)
        }
    }
}

impl<'s> RecordRest<'s> {
    /// The index of the first field not written in order, given how many
    /// fields are still `ahead`.
    fn next(&self, ahead: usize) -> usize {
        match self.spans.is_empty() {
            true => self.record.fields.len() - ahead,
            false => self.next,
        }
    }

    fn field_index(&self, ahead: usize, key: &str) -> Result<usize, EncodeError> {
        let fields = &self.record.fields;
        let next = self.next(ahead);
        if self.spans.is_empty() && next < fields.len() && fields[next].name == key {
            return Ok(next);
        }
        let index = fields.iter().position(|f| f.name == key).ok_or_else(|| {
            EncodeError::new(Problem::UnknownField { record: self.record.name.full.clone() }).within(key)
        })?;
        if index < next || self.spans.iter().any(|s| s.0 == index) {
            return Err(EncodeError::new(Problem::DuplicateField).within(key));
        }
        Ok(index)
    }

    /// Writes field `index` and returns the fields still ahead in order.
    fn value<T: ?Sized + Serialize>(
        &mut self,
        out: &mut Out<'s>,
        mut ahead: slice::Iter<'s, Field>,
        index: usize,
        value: &T,
    ) -> Result<slice::Iter<'s, Field>, EncodeError> {
        let next = self.next(ahead.len());
        let field = &self.record.fields[index];
        let start = out.bytes.len();
        value.serialize(NodeSer { out, at: &field.target }).map_err(|e| e.within(field.name.as_str()))?;
        if self.spans.is_empty() {
            if index == next {
                ahead.next();
                return Ok(ahead);
            }
            self.next = next;
            self.mark = start;
            ahead = [].iter();
        }
        self.spans.push((index, start, out.bytes.len()));
        Ok(ahead)
    }

    /// Moves the out-of-order spans into place and writes the defaults of
    /// the fields never given.
    fn finish(&mut self, out: &mut Out<'_>, ahead: usize) -> Result<(), EncodeError> {
        if self.pending.is_some() {
            return Err(key_without_value());
        }
        let from = self.next(ahead);
        let tail = match self.spans.is_empty() {
            true => Vec::new(),
            false => out.bytes.split_off(self.mark),
        };
        for index in from..self.record.fields.len() {
            let field = &self.record.fields[index];
            if let Some(&(_, start, end)) = self.spans.iter().find(|s| s.0 == index) {
                out.bytes.extend_from_slice(&tail[start - self.mark..end - self.mark]);
            } else if let Some(default) = &field.default {
                out.bytes.extend_from_slice(default);
            } else {
                return Err(EncodeError::new(Problem::MissingField).within(field.name.as_str()));
            }
        }
        Ok(())
    }
}

impl MapRest {
    fn key<T: ?Sized + Serialize>(&mut self, out: &mut Out<'_>, key: &T) -> Result<(), EncodeError> {
        if self.key_open {
            return Err(key_without_value());
        }
        self.count += 1;
        self.key_open = true;
        key.serialize(KeySer { out: out.bytes })
    }

    fn value<T: ?Sized + Serialize>(&mut self, out: &mut Out<'_>, value: &T) -> Result<(), EncodeError> {
        if !core::mem::take(&mut self.key_open) {
            return Err(value_without_key());
        }
        value
            .serialize(NodeSer { out, at: &Target::of(self.values) })
            .map_err(|e| e.within(format!("[{}]", self.count - 1)))
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), EncodeError> {
        if self.key_open {
            return Err(key_without_value());
        }
        match self.announced {
            Some(n) if n != self.count => {
                return Err(ser::Error::custom(format!("the map announced {n} entries and gave {}", self.count)));
            }
            Some(_) => {}
            None if self.count > 0 => {
                let mut prefix = Vec::new();
                put_len(&mut prefix, self.count);
                out.bytes.splice(self.start..self.start, prefix);
            }
            None => {}
        }
        out.bytes.push(0);
        Ok(())
    }
}

impl ser::SerializeStruct for KeyedSer<'_, '_> {
    type Ok = ();
    type Error = EncodeError;
    #[inline(always)]
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), EncodeError> {
        // The fast path: the next field, in order, under the static key seen
        // before for it.
        if let Some(field) = self.ahead.as_slice().first()
            && field.key_seen.matches(key, &field.name)
        {
            value
                .serialize(NodeSer { out: &mut *self.out, at: &field.target })
                .map_err(|e| e.within(field.name.as_str()))?;
            self.ahead.next();
            return Ok(());
        }
        self.ahead = other_field(self.out, self.ahead.clone(), &mut self.rest, key, value)?;
        Ok(())
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), EncodeError> {
        Ok(())
    }
    #[inline(always)]
    fn end(mut self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for KeyedSer<'_, '_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), EncodeError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(mut self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeMap for KeyedSer<'_, '_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), EncodeError> {
        match &mut self.rest {
            Rest::Record(record) => {
                if record.pending.is_some() {
                    return Err(key_without_value());
                }
                record.pending = Some(key.serialize(FieldKey { record, ahead: self.ahead.len() })?);
                Ok(())
            }
            Rest::Map(map) => map.key(self.out, key),
        }
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), EncodeError> {
        match &mut self.rest {
            Rest::Record(record) => {
                let index = record.pending.take().ok_or_else(value_without_key)?;
                self.ahead = record.value(self.out, self.ahead.clone(), index, value)?;
                Ok(())
            }
            Rest::Map(map) => map.value(self.out, value),
        }
    }
    fn end(mut self) -> Result<(), EncodeError> {
        self.finish()
    }
}

/// A `Serialize` impl that gave a map key and then another key, or ended,
/// without the value.
fn key_without_value() -> EncodeError {
    ser::Error::custom("a map key came without its value")
}

/// A `Serialize` impl that gave a map value before its key.
fn value_without_key() -> EncodeError {
    ser::Error::custom("a map value came without its key")
}

/// Writes an Avro map key (a string).
struct KeySer<'a> {
    out: &'a mut Vec<u8>,
}

impl ser::Serializer for KeySer<'_> {
    type Ok = ();
    type Error = EncodeError;
    refuse_compound!(EncodeError::new(Problem::KeyNotString));
    refuse!(EncodeError::new(Problem::KeyNotString); serialize_i32(i32), serialize_i64(i64), serialize_u8(u8),
        serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_char(char));
    fn serialize_str(self, v: &str) -> Result<(), EncodeError> {
        put_len(self.out, v.len());
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }
}

/// Matches a map key against a record's fields, returning the field index.
struct FieldKey<'r, 's> {
    record: &'r RecordRest<'s>,
    ahead: usize,
}

impl ser::Serializer for FieldKey<'_, '_> {
    type Ok = usize;
    type Error = EncodeError;
    refuse_compound!(EncodeError::new(Problem::KeyNotString));
    refuse!(EncodeError::new(Problem::KeyNotString); serialize_i32(i32), serialize_i64(i64), serialize_u8(u8),
        serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_char(char));
    fn serialize_str(self, v: &str) -> Result<usize, EncodeError> {
        self.record.field_index(self.ahead, v)
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;
    use serde::Serialize;

    use crate::engine::avro::{Problem, encode};
    use crate::engine::schema::Schema;

    fn schema() -> Schema {
        Schema::parse(
            r#"{"type":"record","name":"r","fields":[
                {"name":"a","type":"int"},{"name":"b","type":"string"},
                {"name":"c","type":"long","default":7},{"name":"d","type":{"type":"map","values":"int"}}]}"#,
        )
        .unwrap()
    }

    #[derive(Serialize)]
    struct Counts {
        x: i32,
        y: i32,
    }

    #[derive(Serialize)]
    struct InOrder {
        a: i32,
        b: &'static str,
        c: i64,
        d: Counts,
    }

    #[derive(Serialize)]
    struct Reversed {
        d: Counts,
        c: i64,
        b: &'static str,
        a: i32,
    }

    #[derive(Serialize)]
    struct NoDefault {
        d: Counts,
        b: &'static str,
        a: i32,
    }

    fn bytes<T: Serialize>(schema: &Schema, row: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode(schema, row, &mut out).unwrap();
        out
    }

    /// a=1, b="hi", c=7, d={x: 2, y: 3} (a struct written as an Avro map).
    const EXPECTED: [u8; 13] = [2, 4, b'h', b'i', 14, 4, 2, b'x', 4, 2, b'y', 6, 0];

    #[test]
    fn fields_in_any_order_give_the_same_bytes_whichever_type_came_first() {
        let schema = schema();
        let in_order = InOrder { a: 1, b: "hi", c: 7, d: Counts { x: 2, y: 3 } };
        let reversed = Reversed { d: Counts { x: 2, y: 3 }, c: 7, b: "hi", a: 1 };
        let defaulted = NoDefault { d: Counts { x: 2, y: 3 }, b: "hi", a: 1 };
        // Twice each, interleaved: the key cache of one type must not
        // mislead the next.
        for _ in 0..2 {
            assert_eq!(bytes(&schema, &in_order), EXPECTED);
            assert_eq!(bytes(&schema, &reversed), EXPECTED);
            assert_eq!(bytes(&schema, &defaulted), EXPECTED);
        }
    }

    #[test]
    fn a_map_row_may_give_fields_in_any_order_but_not_twice() {
        let schema = schema();
        let mut row: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
        row.insert("b", "hi".into());
        row.insert("a", 1.into());
        row.insert("d", serde_json::json!({"x": 2, "y": 3}));
        assert_eq!(bytes(&schema, &row), EXPECTED);

        // "b" goes out of order, "a" in order, then "a" again.
        let twice = [("b", serde_json::json!("hi")), ("a", 1.into()), ("a", 1.into())];
        let mut out = vec![9];
        let error = encode(&schema, &Pairs(&twice), &mut out).unwrap_err();
        assert_eq!(error.problem(), &Problem::DuplicateField);
        assert_eq!(error.path(), "a");
        assert_eq!(out, [9], "the buffer is left as it was");
    }

    #[test]
    fn a_missing_field_without_default_is_named() {
        #[derive(Serialize)]
        struct NoB {
            a: i32,
            d: Counts,
        }
        let mut out = Vec::new();
        let error = encode(&schema(), &NoB { a: 1, d: Counts { x: 2, y: 3 } }, &mut out).unwrap_err();
        assert_eq!(error.problem(), &Problem::MissingField);
        assert_eq!(error.path(), "b");
        assert!(out.is_empty());
    }

    /// Every order of a record's fields, with and without its defaulted
    /// field, gives the bytes of the schema order; giving any field again,
    /// anywhere after it, is refused.
    #[test]
    fn every_order_of_the_fields_gives_the_same_bytes() {
        let schema = schema();
        let fields = [
            ("a", serde_json::json!(1)),
            ("b", "hi".into()),
            ("c", 7.into()),
            ("d", serde_json::json!({"x": 2, "y": 3})),
        ];
        let mut orders = Vec::new();
        permutations(&mut [0, 1, 2, 3], 0, &mut orders);
        assert_eq!(orders.len(), 24);
        for order in &orders {
            for skip_default in [false, true] {
                let row: Vec<_> =
                    order.iter().filter(|&&i| !(skip_default && i == 2)).map(|&i| fields[i].clone()).collect();
                assert_eq!(bytes(&schema, &Pairs(&row)), EXPECTED, "{order:?} without c: {skip_default}");
                for at in 0..row.len() {
                    for again in at + 1..=row.len() {
                        let mut twice = row.clone();
                        twice.insert(again, row[at].clone());
                        let mut out = vec![9];
                        let error = encode(&schema, &Pairs(&twice), &mut out).unwrap_err();
                        assert_eq!(error.problem(), &Problem::DuplicateField, "{twice:?}");
                        assert_eq!(error.path(), row[at].0);
                        assert_eq!(out, [9]);
                    }
                }
            }
        }
    }

    fn permutations(items: &mut [usize; 4], k: usize, out: &mut Vec<[usize; 4]>) {
        if k == items.len() {
            out.push(*items);
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permutations(items, k + 1, out);
            items.swap(k, i);
        }
    }

    /// Map keys and values out of step, as only a hand-written `Serialize`
    /// impl gives them: refused, not written as bytes nobody can read.
    #[test]
    fn keys_and_values_out_of_step_are_refused() {
        use Step::{Key, Value};
        let empty = Schema::parse(r#"{"type":"record","name":"e","fields":[]}"#).unwrap();
        let map_field = Schema::parse(
            r#"{"type":"record","name":"m","fields":[{"name":"m","type":{"type":"map","values":"int"}}]}"#,
        )
        .unwrap();
        let record = schema();
        // (schema, the steps, whether they go into field "m"'s Avro map, the error)
        let cases: [(&Schema, &[Step], bool, &str); 8] = [
            (&empty, &[Value(1)], false, "a map value came without its key"),
            (&record, &[Value(1)], false, "a map value came without its key"),
            (&record, &[Key("a")], false, "a map key came without its value"),
            (&record, &[Key("a"), Key("b")], false, "a map key came without its value"),
            (&record, &[Key("a"), Value(1), Value(2)], false, "a map value came without its key"),
            (&map_field, &[Value(1)], true, "a map value came without its key"),
            (&map_field, &[Key("k")], true, "a map key came without its value"),
            (&map_field, &[Key("k"), Key("l")], true, "a map key came without its value"),
        ];
        for (schema, steps, nested, message) in cases {
            let mut out = vec![9];
            let error = encode(schema, &Script { steps, nested }, &mut out).unwrap_err();
            assert!(error.to_string().contains(message), "{steps:?}: {error}");
            assert_eq!(out, [9], "{steps:?}: the buffer is left as it was");
        }
    }

    #[derive(Debug)]
    enum Step {
        Key(&'static str),
        Value(i32),
    }

    /// Replays `steps` on a map, or with `nested` on the value of key "m".
    struct Script<'a> {
        steps: &'a [Step],
        nested: bool,
    }

    impl Serialize for Script<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(None)?;
            if self.nested {
                map.serialize_key("m")?;
                map.serialize_value(&Script { steps: self.steps, nested: false })?;
                return map.end();
            }
            for step in self.steps {
                match step {
                    Step::Key(k) => map.serialize_key(k)?,
                    Step::Value(v) => map.serialize_value(v)?,
                }
            }
            map.end()
        }
    }

    /// A map given as key-value pairs, duplicates and all.
    struct Pairs<'a>(&'a [(&'a str, serde_json::Value)]);

    impl Serialize for Pairs<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }
}
