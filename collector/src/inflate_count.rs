//! Counting the chunks of a compressed gRPC batch as it arrives.
//!
//! A batch's chunks are counted on the wire ([`crate::wire_scan`]) so that a
//! message of millions of empty chunks is refused before prost makes a
//! struct of each. A compressed batch hides them: 64 KiB of gzip can hold
//! sixteen million. So a compressed batch message is decompressed here as
//! its bytes arrive, into nothing but the counter, and stopped at
//! `--max-message-bytes` of output — before tonic decompresses it for real.
//! Decompressing twice costs CPU on compressed batches only; streams
//! (`WriteMetrics`, the SDK's path) carry one chunk per message and are not
//! counted.

use std::io::Write;

use crate::wire_scan::ChunkCounter;

/// Where decompressed bytes go: the counter, up to a limit.
struct Sink {
    counter: ChunkCounter,
    left: usize,
    /// Why counting stopped, once it did.
    refused: Option<Refusal>,
}

/// Why a compressed batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// More chunks than `--max-chunks-per-request`.
    TooManyChunks(String),
    /// It decompresses past `--max-message-bytes`.
    TooLarge,
    /// The bytes are not of the encoding the request named.
    Corrupt(String),
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.len() > self.left {
            self.refused = Some(Refusal::TooLarge);
            return Err(std::io::Error::other("past --max-message-bytes"));
        }
        self.left -= data.len();
        if let Err(too_many) = self.counter.feed(data) {
            self.refused = Some(Refusal::TooManyChunks(too_many));
            return Err(std::io::Error::other("too many chunks"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The decompressor of one message.
pub struct InflateCounter(Decoder);

enum Decoder {
    Gzip(Box<flate2::write::GzDecoder<Sink>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Sink>>),
}

impl InflateCounter {
    /// A counter for a message compressed with `encoding` (the request's
    /// `grpc-encoding`), of at most `max_chunks` chunks and `max_bytes`
    /// decompressed; None for an encoding tonic does not accept (it refuses
    /// the call itself).
    pub fn new(encoding: &[u8], max_chunks: u64, max_bytes: usize) -> Option<Self> {
        let sink = Sink { counter: ChunkCounter::new(max_chunks), left: max_bytes, refused: None };
        match encoding {
            b"gzip" => Some(Self(Decoder::Gzip(Box::new(flate2::write::GzDecoder::new(sink))))),
            b"zstd" => zstd::stream::write::Decoder::new(sink).ok().map(|d| Self(Decoder::Zstd(Box::new(d)))),
            _ => None,
        }
    }

    /// Feeds compressed bytes of the message.
    pub fn feed(&mut self, compressed: &[u8]) -> Result<(), Refusal> {
        let written = match &mut self.0 {
            Decoder::Gzip(d) => d.write_all(compressed),
            Decoder::Zstd(d) => d.write_all(compressed),
        };
        written.map_err(|e| self.refusal().unwrap_or_else(|| Refusal::Corrupt(e.to_string())))
    }

    fn refusal(&mut self) -> Option<Refusal> {
        match &mut self.0 {
            Decoder::Gzip(d) => d.get_mut().refused.clone(),
            Decoder::Zstd(d) => d.get_mut().refused.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// Feeds `compressed` in pieces of `step` bytes.
    fn feed(mut counter: InflateCounter, compressed: &[u8], step: usize) -> Result<(), Refusal> {
        compressed.chunks(step).try_for_each(|piece| counter.feed(piece))
    }

    #[test]
    fn millions_of_empty_chunks_are_counted_through_gzip_and_zstd() {
        let batch = [0x0a, 0x00].repeat(1 << 20);
        let zstd = zstd::encode_all(&batch[..], 3).unwrap();
        for (encoding, compressed) in [(&b"gzip"[..], gzip(&batch)), (&b"zstd"[..], zstd)] {
            assert!(compressed.len() < 64 * 1024);
            let counter = InflateCounter::new(encoding, 1024, 32 << 20).unwrap();
            match feed(counter, &compressed, 1000) {
                Err(Refusal::TooManyChunks(message)) => assert!(message.contains("1024"), "{message}"),
                other => panic!("{encoding:?}: {other:?}"),
            }
            let counter = InflateCounter::new(encoding, 1 << 21, 1 << 20).unwrap();
            assert_eq!(feed(counter, &compressed, 1000), Err(Refusal::TooLarge), "{encoding:?}");
            let counter = InflateCounter::new(encoding, 1 << 21, 32 << 20).unwrap();
            assert_eq!(feed(counter, &compressed, 1000), Ok(()), "{encoding:?}");
        }
    }

    #[test]
    fn bytes_of_another_encoding_are_refused() {
        let counter = InflateCounter::new(b"gzip", 10, 1 << 20).unwrap();
        assert!(matches!(feed(counter, &[0x42; 100], 7), Err(Refusal::Corrupt(_))));
        assert!(InflateCounter::new(b"snappy", 10, 1 << 20).is_none());
    }
}
