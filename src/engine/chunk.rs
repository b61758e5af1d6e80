//! Chunks: the unit of sending, acknowledgement and de-duplication.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

/// Identifies a chunk across retries, so that the collector stores a retried
/// chunk once: the client session's random id, then the chunk's sequence
/// number in that session, both big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ChunkId(pub [u8; 16]);

impl ChunkId {
    /// The id of chunk `seq` of session `session`.
    pub fn new(session: u64, seq: u64) -> Self {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&session.to_be_bytes());
        bytes[8..].copy_from_slice(&seq.to_be_bytes());
        ChunkId(bytes)
    }

    /// The chunk's sequence number in its session (the order it was sealed in).
    pub fn seq(&self) -> u64 {
        let mut seq = [0; 8];
        seq.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(seq)
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// What every chunk of one metric shares: where its rows go and how to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInfo {
    /// The collection (the record's name) the rows are stored in.
    pub collection: String,
    /// The schema JSON, as the user gave it (the collector parses it).
    pub schema: String,
    /// When true, the collector adds no receive-time column.
    pub skip_timestamp: bool,
    /// Name of the collector's receive-time column; `timestamp` when absent.
    pub timestamp_column: Option<String>,
}

/// A sealed run of Avro-encoded rows of one metric, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub(crate) id: ChunkId,
    pub(crate) metric: Arc<MetricInfo>,
    pub(crate) data: Vec<u8>,
    pub(crate) rows: u32,
}

impl Chunk {
    /// A chunk of `rows` datums in `data`; its id is given when the
    /// [`Pipeline`](crate::engine::pipeline::Pipeline) takes it.
    pub fn new(metric: Arc<MetricInfo>, data: Vec<u8>, rows: u32) -> Self {
        Chunk { id: ChunkId::default(), metric, data, rows }
    }

    /// The de-duplication id (all zeros until the pipeline took the chunk).
    pub fn id(&self) -> ChunkId {
        self.id
    }

    /// The metric the rows belong to.
    pub fn metric(&self) -> &MetricInfo {
        &self.metric
    }

    /// The rows, as concatenated Avro binary datums.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Bytes allocated for `data`: its memory cost, at least its length.
    pub fn allocated_bytes(&self) -> usize {
        self.data.capacity()
    }

    /// How many rows `data` holds.
    pub fn rows(&self) -> u32 {
        self.rows
    }
}
