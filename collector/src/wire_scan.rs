//! Counts the chunks of a `WriteMetricsBatchRequest` on the protobuf wire,
//! as its bytes arrive, before anything decodes it.
//!
//! prost turns each entry of a repeated message field into a whole struct:
//! two bytes (`0a 00`) become an empty `WriteMetricsRequest` of about 140
//! bytes, so a 32 MiB batch of empty chunks would decode into gigabytes
//! before any check saw it. The batch's top level is walked here instead
//! (tags, lengths, and skipping what they cover), and it is refused once it
//! holds more than `--max-chunks-per-request` chunks. Fed piece by piece, it
//! works on a streamed body as on a whole one.

/// Field number of `WriteMetricsBatchRequest.chunks`.
const CHUNKS: u64 = 1;

/// Where the walk is in the top level of the message.
#[derive(Debug, Clone, Copy)]
enum At {
    /// Reading a tag varint.
    Tag { value: u64, shift: u32 },
    /// Reading a length varint (of a length-delimited field).
    Length { value: u64, shift: u32 },
    /// Reading a varint value (wire type 0).
    Varint,
    /// Skipping this many bytes.
    Skip(u64),
}

/// The counter of one message.
#[derive(Debug, Clone)]
pub struct ChunkCounter {
    at: At,
    chunks: u64,
    max: u64,
}

impl ChunkCounter {
    /// A counter refusing more than `max` chunks.
    pub fn new(max: u64) -> Self {
        Self { at: At::Tag { value: 0, shift: 0 }, chunks: 0, max }
    }

    /// Walks the next bytes of the message; an error names the limit or
    /// the problem.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while let Some((&byte, rest)) = bytes.split_first() {
            match &mut self.at {
                At::Skip(left) => {
                    let n = (*left).min(bytes.len() as u64) as usize;
                    *left -= n as u64;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        self.at = At::Tag { value: 0, shift: 0 };
                    }
                    continue;
                }
                At::Tag { value, shift } | At::Length { value, shift } => {
                    if *shift > 63 {
                        return Err("the message is not protobuf: a varint is longer than ten bytes".into());
                    }
                    *value |= u64::from(byte & 0x7f) << *shift;
                    *shift += 7;
                    if byte & 0x80 == 0 {
                        let value = *value;
                        self.at = match self.at {
                            At::Tag { .. } => self.tag(value)?,
                            _ if value == 0 => At::Tag { value: 0, shift: 0 },
                            _ => At::Skip(value),
                        };
                    }
                }
                At::Varint => {
                    if byte & 0x80 == 0 {
                        self.at = At::Tag { value: 0, shift: 0 };
                    }
                }
            }
            bytes = rest;
        }
        Ok(())
    }

    fn tag(&mut self, tag: u64) -> Result<At, String> {
        let (field, wire_type) = (tag >> 3, tag & 7);
        if field == CHUNKS && wire_type == 2 {
            self.chunks += 1;
            if self.chunks > self.max {
                return Err(format!("the batch holds more than {} chunks (--max-chunks-per-request)", self.max));
            }
        }
        Ok(match wire_type {
            0 => At::Varint,
            1 => At::Skip(8),
            2 => At::Length { value: 0, shift: 0 },
            5 => At::Skip(4),
            other => return Err(format!("the message is not protobuf: wire type {other}")),
        })
    }

    /// Chunks counted so far.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::metrics::v1beta::{MetricsMetadata, WriteMetricsBatchRequest, WriteMetricsRequest};
    use prost::Message;

    fn batch(chunks: usize) -> Vec<u8> {
        let chunk = WriteMetricsRequest {
            collection: "c".into(),
            metrics: vec![1; 300],
            schema: b"{}".to_vec(),
            metadata: Some(MetricsMetadata { rows: 7, skip_timestamp: true, timestamp_column: Some("t".into()) }),
            chunk_id: vec![9; 16],
        };
        WriteMetricsBatchRequest { chunks: vec![chunk; chunks] }.encode_to_vec()
    }

    #[test]
    fn counts_chunks_whole_and_piece_by_piece() {
        let bytes = batch(5);
        let mut whole = ChunkCounter::new(5);
        whole.feed(&bytes).unwrap();
        assert_eq!(whole.chunks(), 5);
        let mut pieces = ChunkCounter::new(5);
        for piece in bytes.chunks(3) {
            pieces.feed(piece).unwrap();
        }
        assert_eq!(pieces.chunks(), 5);
    }

    #[test]
    fn refuses_more_than_the_limit_before_the_end() {
        // The finding's shape: empty chunks, two bytes each.
        let empty = [0x0a, 0x00].repeat(1_000_000);
        let mut counter = ChunkCounter::new(1024);
        let e = counter.feed(&empty).unwrap_err();
        assert_eq!(e, "the batch holds more than 1024 chunks (--max-chunks-per-request)");
        assert_eq!(counter.chunks(), 1025);
        assert!(ChunkCounter::new(10).feed(&[0x0f]).unwrap_err().contains("wire type 7"));
    }
}
