//! Chunks: the unit of sending, acknowledgement and de-duplication.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::engine::buffer::OptionError;

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

/// What a metric's chunks are promised on their way to the collector.
///
/// The policy lives in the [`Pipeline`](crate::engine::pipeline::Pipeline),
/// so the native, browser and Worker clients keep the same promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Delivery {
    /// One attempt: a chunk whose send fails is dropped and counted
    /// ([`DropReason::BestEffort`](crate::engine::stats::DropReason)), never
    /// kept for a retry; it is sent without waiting for other chunks'
    /// backoff (after them when both are due), and goes first when the
    /// memory cap is reached. No chunk id
    /// is sent: the collector keeps no de-duplication record for it.
    BestEffort,
    /// Retried until acknowledged (or dropped by the memory cap), without
    /// a chunk id: a chunk resent after a lost acknowledgement may be stored
    /// twice; the collector keeps no de-duplication record for it.
    AtLeastOnce,
    /// Retried until acknowledged, with its chunk id: the collector stores
    /// it once however often it is resent. The default.
    #[default]
    ExactlyOnce,
}

impl Delivery {
    /// The three, in the order of their codes in the browser build.
    pub const ALL: [Delivery; 3] = [Delivery::BestEffort, Delivery::AtLeastOnce, Delivery::ExactlyOnce];

    /// The name the option takes (as in JS): `bestEffort`, `atLeastOnce`, `exactlyOnce`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::BestEffort => "bestEffort",
            Delivery::AtLeastOnce => "atLeastOnce",
            Delivery::ExactlyOnce => "exactlyOnce",
        }
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a delivery by its name, as a configuration file would give it;
/// anything else is an error naming the option and the names it takes.
impl core::str::FromStr for Delivery {
    type Err = OptionError;

    fn from_str(name: &str) -> Result<Self, OptionError> {
        Delivery::ALL.into_iter().find(|delivery| delivery.as_str() == name).ok_or_else(|| {
            OptionError::new(
                "delivery",
                alloc::format!("\"{name}\" is not one of bestEffort, atLeastOnce, exactlyOnce"),
            )
        })
    }
}

/// What every chunk of one metric shares: where its rows go and how to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInfo {
    /// The collection (the record's name) the rows are stored in.
    pub collection: String,
    /// The schema JSON in its wire form (`Schema::wire_form`); the collector
    /// parses it.
    pub schema: String,
    /// When true, the collector adds no receive-time column.
    pub skip_timestamp: bool,
    /// Name of the collector's receive-time column; `timestamp` when absent.
    pub timestamp_column: Option<String>,
    /// What its chunks are promised.
    pub delivery: Delivery,
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

    /// The id to send: the chunk id for [`Delivery::ExactlyOnce`], empty
    /// (no de-duplication) for the others.
    pub fn wire_id(&self) -> &[u8] {
        match self.metric.delivery {
            Delivery::ExactlyOnce => &self.id.0,
            _ => &[],
        }
    }

    /// Whether a failed send drops this chunk rather than retrying it.
    pub fn best_effort(&self) -> bool {
        self.metric.delivery == Delivery::BestEffort
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
