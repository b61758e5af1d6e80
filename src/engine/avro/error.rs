//! Errors of encoding and decoding rows.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Why a row does not fit its schema: the path of the field and the problem.
///
/// Boxed so that the `Result` of every encoding step stays one word wide on
/// the hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    /// Path segments from the innermost outwards (pushed while unwinding).
    reversed_path: Vec<String>,
    problem: Problem,
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The value's kind does not fit the schema type.
    Mismatch {
        /// The schema type.
        expected: String,
        /// The value's kind.
        found: &'static str,
    },
    /// A number that the schema type cannot hold.
    OutOfRange {
        /// The schema type.
        expected: String,
        /// The value, as text.
        value: String,
    },
    /// A field the schema requires (it has no default) is absent.
    MissingField,
    /// The row has a field the record does not.
    UnknownField {
        /// The record's full name.
        record: String,
    },
    /// The row gives a field twice.
    DuplicateField,
    /// A string that is not a symbol of the enum.
    UnknownSymbol {
        /// The enum's full name.
        enumeration: String,
        /// The string given.
        symbol: String,
    },
    /// No branch of the union takes the value.
    NoUnionBranch {
        /// The union's branches, as written in the schema.
        branches: String,
        /// The value's kind.
        found: &'static str,
    },
    /// Bytes whose length differs from the fixed size.
    FixedSize {
        /// The fixed size.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A string that is not a UUID.
    InvalidUuid,
    /// Map keys must be strings.
    KeyNotString,
    /// A row larger than the chunk size limit.
    RowTooLarge {
        /// Encoded size of the row.
        size: usize,
        /// The metric's max chunk size.
        limit: usize,
    },
    /// A message from the value's own `Serialize` implementation.
    Custom(String),
}

impl EncodeError {
    pub(crate) fn new(problem: Problem) -> Self {
        EncodeError(Box::new(Inner { reversed_path: Vec::new(), problem }))
    }

    pub(crate) fn mismatch(expected: &str, found: &'static str) -> Self {
        Self::new(Problem::Mismatch { expected: expected.into(), found })
    }

    pub(crate) fn out_of_range(expected: &str, value: impl fmt::Display) -> Self {
        Self::new(Problem::OutOfRange { expected: expected.into(), value: value.to_string() })
    }

    /// Adds an outer path segment: a field name, or `[i]` for an array item.
    pub(crate) fn within(mut self, segment: impl Into<String>) -> Self {
        self.0.reversed_path.push(segment.into());
        self
    }

    /// The dotted path of the field at fault (`outer.inner`, `tags[2]`);
    /// empty when the row itself is at fault.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.0.reversed_path.iter().rev() {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        path
    }

    /// What is wrong.
    pub fn problem(&self) -> &Problem {
        &self.0.problem
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Mismatch { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            Problem::OutOfRange { expected, value } => {
                write!(f, "{value} is out of range for {expected}")
            }
            Problem::MissingField => f.write_str("missing, and the schema gives no default"),
            Problem::UnknownField { record } => write!(f, "not a field of record \"{record}\""),
            Problem::DuplicateField => f.write_str("given twice"),
            Problem::UnknownSymbol { enumeration, symbol } => {
                write!(f, "\"{symbol}\" is not a symbol of enum \"{enumeration}\"")
            }
            Problem::NoUnionBranch { branches, found } => {
                write!(f, "no branch of the union {branches} takes {found}")
            }
            Problem::FixedSize { expected, found } => {
                write!(f, "expected exactly {expected} bytes, found {found}")
            }
            Problem::InvalidUuid => f.write_str("not a UUID (expected 8-4-4-4-12 hexadecimal digits)"),
            Problem::KeyNotString => f.write_str("map keys must be strings"),
            Problem::RowTooLarge { size, limit } => {
                write!(f, "the encoded row is {size} bytes, more than the max chunk size of {limit} bytes")
            }
            Problem::Custom(message) => f.write_str(message),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            write!(f, "row: {}", self.0.problem)
        } else {
            write!(f, "field \"{path}\": {}", self.0.problem)
        }
    }
}

impl serde::ser::StdError for EncodeError {}

impl serde::ser::Error for EncodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(Problem::Custom(msg.to_string()))
    }
}

/// Why bytes could not be read as rows of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset of the problem, in bytes from the start of the input.
    pub offset: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Avro data at byte {}: {}", self.offset, self.message)
    }
}

impl serde::de::StdError for DecodeError {}

impl serde::de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError { offset: 0, message: msg.to_string() }
    }
}
