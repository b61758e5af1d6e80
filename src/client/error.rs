//! The errors of the client API, shared by every target.

use std::fmt;

use crate::engine::avro::EncodeError;
use crate::engine::buffer::{OptionError, RowError};
use crate::engine::instruments::InstrumentError;
use crate::engine::schema::SchemaError;

/// Why a client call failed. Every variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An option is missing or out of bounds.
    Option(OptionError),
    /// The metric's schema is not a valid Avro record schema.
    Schema(SchemaError),
    /// A row does not fit its schema; nothing of it was buffered.
    Row(EncodeError),
    /// A row of a batch does not fit; nothing of the batch was buffered.
    Rows(RowError),
    /// An instrument, a label or a value is not what it must be.
    Instrument(InstrumentError),
    /// The client was shut down.
    Closed,
    /// A flush did not complete in time; the rows stay buffered and keep
    /// being retried.
    NotDelivered {
        /// Rows written before the flush that are still unacknowledged.
        pending_rows: u64,
        /// The transport's last error, if a send failed.
        last_error: Option<String>,
    },
    /// Rows written before a flush were dropped instead of delivered.
    Dropped {
        /// How many.
        rows: u64,
        /// The collector's error or the policy that dropped them.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Option(error) => error.fmt(f),
            Error::Schema(error) => write!(f, "invalid schema: {error}"),
            Error::Row(error) => error.fmt(f),
            Error::Rows(error) => error.fmt(f),
            Error::Instrument(error) => error.fmt(f),
            Error::Closed => f.write_str("the client is shut down"),
            Error::NotDelivered { pending_rows, last_error: Some(error) } => {
                write!(f, "{pending_rows} rows not delivered yet; last error: {error}")
            }
            Error::NotDelivered { pending_rows, last_error: None } => {
                write!(f, "{pending_rows} rows not delivered yet")
            }
            Error::Dropped { rows, reason } => write!(f, "{rows} rows were dropped: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<OptionError> for Error {
    fn from(error: OptionError) -> Self {
        Error::Option(error)
    }
}

impl From<SchemaError> for Error {
    fn from(error: SchemaError) -> Self {
        Error::Schema(error)
    }
}

impl From<EncodeError> for Error {
    fn from(error: EncodeError) -> Self {
        Error::Row(error)
    }
}

impl From<InstrumentError> for Error {
    fn from(error: InstrumentError) -> Self {
        Error::Instrument(error)
    }
}

impl From<RowError> for Error {
    fn from(error: RowError) -> Self {
        Error::Rows(error)
    }
}
