//! Generates the methods of serializers that take only some kinds of value
//! (map keys, bytes given as integers), refusing the rest with one error.

/// Generates the methods of a serializer that accepts only some kinds.
macro_rules! refuse {
    ($err:expr; $($method:ident($($arg:ty),*)),*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<Self::Ok, EncodeError> { Err($err) }
    )*};
}

/// Refuses every compound kind, and the scalar kinds that neither a map key
/// nor a byte can be; each serializer refuses the rest with `refuse!`.
macro_rules! refuse_compound {
    ($err:expr) => {
        type SerializeSeq = Impossible<Self::Ok, EncodeError>;
        type SerializeTuple = Impossible<Self::Ok, EncodeError>;
        type SerializeTupleStruct = Impossible<Self::Ok, EncodeError>;
        type SerializeTupleVariant = Impossible<Self::Ok, EncodeError>;
        type SerializeMap = Impossible<Self::Ok, EncodeError>;
        type SerializeStruct = Impossible<Self::Ok, EncodeError>;
        type SerializeStructVariant = Impossible<Self::Ok, EncodeError>;
        refuse!($err; serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_f32(f32), serialize_f64(f64),
            serialize_bytes(&[u8]), serialize_none(), serialize_unit(), serialize_unit_struct(&'static str));
        fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Self::Ok, EncodeError> { Err($err) }
        fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<Self::Ok, EncodeError> { Err($err) }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Result<Self::Ok, EncodeError> { Err($err) }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<Self::Ok, EncodeError> { Err($err) }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, EncodeError> { Err($err) }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, EncodeError> { Err($err) }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, EncodeError> { Err($err) }
        fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, EncodeError> { Err($err) }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, EncodeError> { Err($err) }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, EncodeError> { Err($err) }
        fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, EncodeError> { Err($err) }
    };
}
