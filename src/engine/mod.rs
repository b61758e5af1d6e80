//! The sans-IO core: schemas, Avro encoding, chunked buffers, backoff and
//! the send pipeline. No clock, no threads, no I/O, no `std`: time comes in
//! as an argument and what to send goes out as values, so the browser, the
//! Worker and the tokio drivers share this one implementation.

pub mod avro;
pub mod backoff;
pub mod buffer;
pub mod chunk;
pub mod derive;
pub(crate) mod float;
pub mod instruments;
pub mod json;
pub mod pipeline;
pub mod schema;
#[cfg(feature = "recycle")]
pub mod spare;
pub mod stats;
pub mod text;
