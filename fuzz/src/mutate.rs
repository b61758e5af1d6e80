//! Inputs made from the seeds by the mutations coverage-guided fuzzers
//! use, drawn from a seeded generator so that a run replays exactly.

/// Longest input made: the parsers' limits are far above it, so inputs
/// test the parsing, not the limits (which the collector's tests cover).
pub const MAX_INPUT: usize = 64 * 1024;

/// Bytes that sit on boundaries: signs, lengths, varint continuations.
const INTERESTING: [u8; 10] = [0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff, b'"', b'{'];

/// Makes inputs from seeds.
pub struct Mutator {
    state: u64,
    seeds: Vec<Vec<u8>>,
}

impl Mutator {
    /// A mutator of `seeds` (at least one is needed: an empty input is
    /// added when there are none), drawing from `seed`.
    pub fn new(seed: u64, mut seeds: Vec<Vec<u8>>) -> Self {
        if seeds.is_empty() {
            seeds.push(Vec::new());
        }
        Mutator { state: seed ^ 0x9e37_79b9_7f4a_7c15, seeds }
    }

    /// splitmix64: fast, and good enough to pick mutations.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// The next input, into `out`: a seed with 1 to 8 mutations.
    pub fn next(&mut self, out: &mut Vec<u8>) {
        let seed = self.below(self.seeds.len());
        out.clone_from(&self.seeds[seed]);
        for _ in 0..1 + self.below(8) {
            self.mutate(out);
        }
        out.truncate(MAX_INPUT);
    }

    fn mutate(&mut self, out: &mut Vec<u8>) {
        let len = out.len();
        match self.below(10) {
            // Flip a bit.
            0 if len > 0 => {
                let at = self.below(len);
                out[at] ^= 1 << self.below(8);
            }
            // A byte on a boundary.
            1 if len > 0 => {
                let at = self.below(len);
                out[at] = INTERESTING[self.below(INTERESTING.len())];
            }
            // A random byte.
            2 if len > 0 => {
                let at = self.below(len);
                out[at] = self.next_u64() as u8;
            }
            // Insert random bytes.
            3 => {
                let at = self.below(len + 1);
                let n = 1 + self.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| self.next_u64() as u8).collect();
                out.splice(at..at, bytes);
            }
            // Delete a range.
            4 if len > 0 => {
                let at = self.below(len);
                let n = 1 + self.below((len - at).min(32));
                out.drain(at..at + n);
            }
            // Duplicate a range (repeated fields, nested values).
            5 if len > 0 => {
                let at = self.below(len);
                let n = 1 + self.below((len - at).min(64));
                let copy = out[at..at + n].to_vec();
                let to = self.below(len + 1);
                out.splice(to..to, copy);
            }
            // A varint at its extremes: a long run of continuation bytes,
            // or the largest values.
            6 => {
                let at = self.below(len + 1);
                let bytes: Vec<u8> = match self.below(3) {
                    0 => vec![0xff; 1 + self.below(12)],
                    1 => vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                    _ => vec![0xfe, 0xff, 0xff, 0xff, 0x0f],
                };
                out.splice(at..at, bytes);
            }
            // Splice in a range of another seed.
            7 => {
                let other = self.below(self.seeds.len());
                let source_len = self.seeds[other].len();
                if source_len > 0 {
                    let from = self.below(source_len);
                    let n = 1 + self.below((source_len - from).min(256));
                    let piece = self.seeds[other][from..from + n].to_vec();
                    let at = self.below(len + 1);
                    let end = (at + self.below(n + 1)).min(len);
                    out.splice(at..end, piece);
                }
            }
            // Truncate.
            8 if len > 0 => {
                let keep = self.below(len);
                out.truncate(keep);
            }
            // Add or subtract a small number (lengths, counts).
            _ if len > 0 => {
                let at = self.below(len);
                let delta = self.below(33) as u8;
                out[at] = if self.below(2) == 0 { out[at].wrapping_add(delta) } else { out[at].wrapping_sub(delta) };
            }
            _ => out.push(self.next_u64() as u8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_inputs() {
        let seeds = vec![b"{\"type\":\"int\"}".to_vec(), vec![1, 2, 3]];
        let (mut a, mut b) = (Mutator::new(7, seeds.clone()), Mutator::new(7, seeds));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..10_000 {
            a.next(&mut x);
            b.next(&mut y);
            assert_eq!(x, y);
            assert!(x.len() <= MAX_INPUT);
        }
    }
}
