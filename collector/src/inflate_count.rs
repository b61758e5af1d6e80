//! Measuring a compressed gRPC message as it arrives, before tonic
//! decompresses it.
//!
//! What a compressed message holds is not on the wire: 64 KiB of gzip can
//! decompress to 64 MiB, or hold sixteen million empty chunks, each a
//! struct once prost decodes it. So every compressed message is
//! decompressed here as its bytes arrive, into nothing but a count: its
//! decompressed bytes (held on the request's in-flight ticket as they come,
//! and stopped at `--max-message-bytes`) and, for a batch, its chunks
//! (counted as [`crate::wire_scan`] counts them on the wire). tonic
//! decompresses it again for real once it has it whole; the CPU of the
//! first pass is what compression costs the collector.

use std::io::Write;

use crate::wire_scan::ChunkCounter;

/// Where decompressed bytes go: the counters, up to a limit.
struct Sink {
    /// A batch's chunks (None for a stream's message: one chunk).
    counter: Option<ChunkCounter>,
    left: usize,
    /// Bytes out since the last feed.
    produced: usize,
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
        self.produced += data.len();
        if let Some(Err(too_many)) = self.counter.as_mut().map(|c| c.feed(data)) {
            self.refused = Some(Refusal::TooManyChunks(too_many));
            return Err(std::io::Error::other("too many chunks"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// zstd's largest window accepted (16 MiB): what levels up to 19 use; the
/// decoder's memory is the window, so a frame asking for more is refused.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// The decompressor of one message.
pub struct InflateCounter(Decoder);

enum Decoder {
    Gzip(Box<flate2::write::GzDecoder<Sink>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Sink>>),
}

impl InflateCounter {
    /// A counter for a message compressed with `encoding` (the request's
    /// `grpc-encoding`) of at most `max_bytes` decompressed and, for a
    /// batch, `max_chunks` chunks; None for an encoding tonic does not
    /// accept (it refuses the call itself).
    pub fn new(encoding: &[u8], max_chunks: Option<u64>, max_bytes: usize) -> Option<Self> {
        let sink = Sink { counter: max_chunks.map(ChunkCounter::new), left: max_bytes, produced: 0, refused: None };
        match encoding {
            b"gzip" => Some(Self(Decoder::Gzip(Box::new(flate2::write::GzDecoder::new(sink))))),
            b"zstd" => {
                let mut decoder = zstd::stream::write::Decoder::new(sink).ok()?;
                decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).ok()?;
                Some(Self(Decoder::Zstd(Box::new(decoder))))
            }
            _ => None,
        }
    }

    /// Feeds compressed bytes of the message; the bytes they decompressed to.
    pub fn feed(&mut self, compressed: &[u8]) -> Result<usize, Refusal> {
        let written = match &mut self.0 {
            Decoder::Gzip(d) => d.write_all(compressed),
            Decoder::Zstd(d) => d.write_all(compressed),
        };
        written.map_err(|e| self.refusal().unwrap_or_else(|| Refusal::Corrupt(e.to_string())))?;
        let sink = match &mut self.0 {
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
        };
        Ok(std::mem::take(&mut sink.produced))
    }

    /// The message's last bytes were fed: what the decompressor still held
    /// back comes out (and is counted) now.
    pub fn finish(&mut self) -> Result<usize, Refusal> {
        let finished = match &mut self.0 {
            Decoder::Gzip(d) => d.try_finish(),
            Decoder::Zstd(d) => d.flush(),
        };
        finished.map_err(|e| self.refusal().unwrap_or_else(|| Refusal::Corrupt(e.to_string())))?;
        let sink = match &mut self.0 {
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
        };
        Ok(std::mem::take(&mut sink.produced))
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
    /// Feeds `compressed` in pieces of `step` bytes; the bytes it made.
    fn feed(mut counter: InflateCounter, compressed: &[u8], step: usize) -> Result<usize, Refusal> {
        let fed = compressed.chunks(step).try_fold(0, |made, piece| Ok(made + counter.feed(piece)?))?;
        Ok(fed + counter.finish()?)
    }

    #[test]
    fn millions_of_empty_chunks_are_counted_through_gzip_and_zstd() {
        let batch = [0x0a, 0x00].repeat(1 << 20);
        let zstd = zstd::encode_all(&batch[..], 3).unwrap();
        for (encoding, compressed) in [(&b"gzip"[..], gzip(&batch)), (&b"zstd"[..], zstd)] {
            assert!(compressed.len() < 64 * 1024);
            let counter = InflateCounter::new(encoding, Some(1024), 32 << 20).unwrap();
            match feed(counter, &compressed, 1000) {
                Err(Refusal::TooManyChunks(message)) => assert!(message.contains("1024"), "{message}"),
                other => panic!("{encoding:?}: {other:?}"),
            }
            let counter = InflateCounter::new(encoding, Some(1 << 21), 1 << 20).unwrap();
            assert_eq!(feed(counter, &compressed, 1000), Err(Refusal::TooLarge), "{encoding:?}");
            let counter = InflateCounter::new(encoding, Some(1 << 21), 32 << 20).unwrap();
            assert_eq!(feed(counter, &compressed, 1000), Ok(batch.len()), "{encoding:?}: every byte made is told");
            let counter = InflateCounter::new(encoding, None, 32 << 20).unwrap();
            assert_eq!(feed(counter, &compressed, 1000), Ok(batch.len()), "{encoding:?}: a stream's message");
        }
    }

    #[test]
    fn bytes_of_another_encoding_are_refused() {
        let counter = InflateCounter::new(b"gzip", Some(10), 1 << 20).unwrap();
        assert!(matches!(feed(counter, &[0x42; 100], 7), Err(Refusal::Corrupt(_))));
        assert!(InflateCounter::new(b"snappy", Some(10), 1 << 20).is_none());
    }

    #[test]
    fn a_zstd_window_past_the_limit_is_refused() {
        let data = vec![7u8; 1 << 16];
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(ZSTD_WINDOW_LOG_MAX + 3).unwrap();
        encoder.long_distance_matching(true).unwrap();
        std::io::Write::write_all(&mut encoder, &data).unwrap();
        let wide = encoder.finish().unwrap();
        let counter = InflateCounter::new(b"zstd", None, 32 << 20).unwrap();
        assert!(matches!(feed(counter, &wide, 1000), Err(Refusal::Corrupt(_))), "a 128 MiB window");
    }
}
