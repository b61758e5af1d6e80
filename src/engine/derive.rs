//! What `#[derive(edgemetrics::Metric)]` builds on: the [`Avro`] trait, its
//! impls for the field types a row holds, and the writers the derived code
//! calls. A derived type knows its schema and writes itself field by field,
//! so a row costs what its fields cost, without walking a schema or going
//! through serde (`benches/encode.rs` has the figures).

pub use alloc::string::String;
pub use alloc::vec::Vec;
pub use core::any::TypeId;

pub use super::avro::varint::{put_int, put_len, put_long};

/// The named types a schema has defined so far, and the namespace the type
/// being written sits in: Avro gives a named type without a namespace of
/// its own the enclosing one, so one Rust type may be two Avro types (and
/// is then defined twice, under each full name).
#[derive(Debug, Default)]
pub struct Names {
    namespace: Option<String>,
    defined: Vec<(String, TypeId)>,
}

impl Names {
    /// Called by a derived type before it writes its definition: writes a
    /// reference instead (and gives `None`) when the same type is defined
    /// under this full name already; else gives the enclosing namespace,
    /// for [`Names::leave`]. Another type with the same full name is
    /// defined again, which the schema parser refuses, naming it.
    pub fn enter(
        &mut self,
        out: &mut String,
        name: &str,
        namespace: Option<&str>,
        id: TypeId,
    ) -> Option<Option<String>> {
        let space = namespace.map(String::from).or_else(|| self.namespace.clone()).filter(|ns| !ns.is_empty());
        let full = match &space {
            Some(ns) => alloc::format!("{ns}.{name}"),
            None => String::from(name),
        };
        match self.defined.iter().find(|(known, _)| *known == full) {
            Some((_, known)) if *known == id => {
                out.push('"');
                out.push_str(&full);
                out.push('"');
                return None;
            }
            Some(_) => {}
            None => self.defined.push((full, id)),
        }
        Some(core::mem::replace(&mut self.namespace, space))
    }

    /// Called after the definition: back to the enclosing namespace.
    pub fn leave(&mut self, enclosing: Option<String>) {
        self.namespace = enclosing;
    }
}

/// A type with an Avro schema that writes itself in it. Derive it with
/// `#[derive(edgemetrics::Metric)]` for records (structs) and enums; the
/// field types below have it already.
pub trait Avro {
    /// The field default a record writes for a field of this type (JSON):
    /// `null` for an optional field, none for the rest.
    const DEFAULT: Option<&'static str> = None;

    /// Appends the type's schema to `out`. A named type already defined in
    /// the same schema (see [`Names`]) is written as its full name.
    fn write_schema(out: &mut String, names: &mut Names);

    /// Appends the value's Avro binary encoding.
    fn encode(&self, out: &mut Vec<u8>);
}

/// The schema (JSON) of `T`, as the metric's schema text.
pub fn schema_of<T: Avro + ?Sized>() -> String {
    let mut out = String::new();
    T::write_schema(&mut out, &mut Names::default());
    out
}

macro_rules! primitive {
    ($schema:literal, $($ty:ty => |$v:ident, $out:ident| $body:expr;)+) => {$(
        impl Avro for $ty {
            fn write_schema(out: &mut String, _: &mut Names) {
                out.push_str(concat!("\"", $schema, "\""));
            }

            #[inline(always)]
            fn encode(&self, $out: &mut Vec<u8>) {
                let $v = *self;
                $body
            }
        }
    )+};
}

primitive!("int",
    i8 => |v, out| put_int(out, i32::from(v));
    i16 => |v, out| put_int(out, i32::from(v));
    i32 => |v, out| put_int(out, v);
    u8 => |v, out| put_int(out, i32::from(v));
    u16 => |v, out| put_int(out, i32::from(v));
);
// u64 and usize have no Avro type that holds them all: no impl, so a field
// of them fails to build rather than to write.
primitive!("long",
    i64 => |v, out| put_long(out, v);
    u32 => |v, out| put_long(out, i64::from(v));
);
primitive!("float", f32 => |v, out| out.extend_from_slice(&v.to_le_bytes()););
primitive!("double", f64 => |v, out| out.extend_from_slice(&v.to_le_bytes()););
primitive!("boolean", bool => |v, out| out.push(u8::from(v)););

impl Avro for str {
    fn write_schema(out: &mut String, _: &mut Names) {
        out.push_str("\"string\"");
    }

    #[inline(always)]
    fn encode(&self, out: &mut Vec<u8>) {
        put_len(out, self.len());
        out.extend_from_slice(self.as_bytes());
    }
}

/// Types that hold their value behind `Deref` write it as that value.
macro_rules! through_deref {
    ($([$($generics:tt)*] $ty:ty => $target:ty;)+) => {$(
        impl<$($generics)*> Avro for $ty {
            const DEFAULT: Option<&'static str> = <$target as Avro>::DEFAULT;

            fn write_schema(out: &mut String, names: &mut Names) {
                <$target as Avro>::write_schema(out, names);
            }

            #[inline(always)]
            fn encode(&self, out: &mut Vec<u8>) {
                (**self).encode(out);
            }
        }
    )+};
}

through_deref! {
    [] String => str;
    [T: Avro + ?Sized] &T => T;
    [T: Avro + ?Sized] alloc::boxed::Box<T> => T;
}

/// `["null", T]` with `null` as the default, as Avro writes an optional
/// field.
impl<T: Avro> Avro for Option<T> {
    const DEFAULT: Option<&'static str> = Some("null");

    fn write_schema(out: &mut String, names: &mut Names) {
        out.push_str("[\"null\",");
        T::write_schema(out, names);
        out.push(']');
    }

    #[inline(always)]
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(2);
                value.encode(out);
            }
        }
    }
}

/// An Avro array of the items.
impl<T: Avro> Avro for Vec<T> {
    fn write_schema(out: &mut String, names: &mut Names) {
        out.push_str("{\"type\":\"array\",\"items\":");
        T::write_schema(out, names);
        out.push('}');
    }

    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        // One block of all the items, then the empty block that ends it.
        if !self.is_empty() {
            put_len(out, self.len());
            self.iter().for_each(|item| item.encode(out));
        }
        out.push(0);
    }
}
