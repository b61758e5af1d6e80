//! Labels: the key/value pairs that tell an instrument's series apart.
//!
//! Given in any order, a set is the same series: it is kept sorted by key,
//! and looked up by a hash of the pairs that ignores their order. A lookup
//! of a set that already has a series allocates nothing. It compares the
//! caller's strings by two words read from their ends, which are all of a
//! string of up to 16 bytes (most label keys and values), and only longer
//! strings byte by byte: for 4 labels, 8 calls to `memcmp` and 8 reads of
//! strings on the heap were half of the labelled `add`.
//!
//! The word functions are inlined by force natively, where a call each
//! was a tenth of a lookup, and left to the optimiser in wasm, where their
//! copies were 4 KB of the instruments' module.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::InstrumentError;

/// The most labels a set may have.
pub const MAX_LABELS: usize = 16;
/// The longest label key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// The longest label value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// The strings up to this long are whole in their [`halves`].
const WHOLE_IN_HALVES: usize = 16;

/// A string as two words that are all of it up to 16 bytes: up to 3 its
/// first, middle and last byte, up to 8 its first and last four (and 0),
/// beyond its first and last eight (overlapping reads: no copy of a tail).
/// Tests of the length rather than a `match` on it, which compiled to a
/// jump through a table: two such jumps a label were a fifth of a lookup.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn halves(b: &[u8]) -> [u64; 2] {
    let n = b.len();
    if n > 8 {
        [word8(b.first_chunk()), word8(b.last_chunk())]
    } else if n >= 4 {
        [word4(b.first_chunk()) | (word4(b.last_chunk()) << 32), 0]
    } else if let [first, .., last] | [first @ last] = b {
        let middle = b.get(n / 2).map_or(0, |m| u64::from(*m));
        [(u64::from(*first) << 16) | (middle << 8) | u64::from(*last), 0]
    } else {
        [0, 0]
    }
}

/// A string as one word of a hash: its `halves` folded up to 16 bytes,
/// and the middle mixed in beyond.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn word(s: &[u8], [head, tail]: [u64; 2]) -> u64 {
    if s.len() <= WHOLE_IN_HALVES { head ^ tail.rotate_left(32) } else { hash_bytes(P2, s) }
}

/// A pair's lengths in one word: the key's, and the value's in the top half.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn lens(key: &str, value: &str) -> u64 {
    key.len() as u64 | ((value.len() as u64) << 32)
}

/// How far one of the caller's pairs is from a [`Given`]: 0 when its
/// lengths and halves are the same, which is all of each string of up to
/// 16 bytes.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn distance(given: &Given, [[k0, k1], [v0, v1]]: PairHalves, lens: u64) -> u64 {
    let [[g0, g1], [g2, g3]] = given.halves;
    (k0 ^ g0) | (k1 ^ g1) | (v0 ^ g2) | (v1 ^ g3) | (lens ^ given.lens)
}

/// The halves of a pair's key and of its value.
type PairHalves = [[u64; 2]; 2];

/// The halves of a pair.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn pair_halves(key: &str, value: &str) -> PairHalves {
    [halves(key.as_bytes()), halves(value.as_bytes())]
}

/// One pair of a set as its first caller gave it: the halves of its key
/// and value, their lengths, and where the pair is in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Given {
    halves: PairHalves,
    lens: u64,
    sorted: usize,
}

/// The hash of a set, whatever the order of its pairs: the wrapping sum
/// of the pairs' hashes, so that a lookup needs no sorting. Not for
/// hostile keys: the series a user makes are their own, and the table
/// caps them. (The lookup makes each pair's halves again to compare them:
/// keeping them from the hash for it was as many instructions, by
/// callgrind, and more code.)
#[inline]
pub(crate) fn hash(pairs: &[(&str, &str)]) -> u64 {
    pairs.iter().fold(0u64, |hash, &(key, value)| {
        let [key_halves, value_halves] = pair_halves(key, value);
        let words = [word(key.as_bytes(), key_halves), word(value.as_bytes(), value_halves)];
        hash.wrapping_add(pair_hash(words, lens(key, value)))
    })
}

/// A label set as kept by a series: its pairs sorted by key in one string,
/// the halves and lengths of the pairs in the order they were first given,
/// its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    /// Every key and value, sorted by key, back to back.
    text: Box<str>,
    /// Where each pair's key and value end in `text`, in key order.
    ends: Box<[(u32, u32)]>,
    given: Box<[Given]>,
    hash: u64,
    /// Whether a key or value is longer than its halves hold whole.
    long: bool,
}

impl LabelSet {
    /// How many pairs the set has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the set has no pairs.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Pair `i` in key order.
    fn pair(&self, i: usize) -> (&str, &str) {
        let start = if i == 0 { 0 } else { self.ends[i - 1].1 as usize };
        let (key_end, value_end) = self.ends.get(i).map_or((0, 0), |&(k, v)| (k as usize, v as usize));
        // `get` rather than indexing: the ends are the strings' own, and
        // a panic's message would link the browser build's formatting.
        (self.text.get(start..key_end).unwrap_or_default(), self.text.get(key_end..value_end).unwrap_or_default())
    }

    /// The pairs, sorted by key.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        (0..self.len()).map(|i| self.pair(i))
    }

    /// The hash the series table files this set under.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Whether the set is the caller's pairs, in any order (which the
    /// caller checked have no key twice when the set was made).
    #[inline]
    pub(crate) fn is(&self, pairs: &[(&str, &str)]) -> bool {
        self.is_as_given(pairs) || (self.given.len() == pairs.len() && self.is_reordered(pairs))
    }

    /// Whether the set is the caller's pairs in the order the set was made
    /// with (the usual case): lengths and halves, which are the strings
    /// when none is longer than 16 bytes, and the set's text otherwise.
    /// The halves are made as they are compared, so that the series last
    /// found is tried before any hash and a hit costs no more than its
    /// comparison (with the words of every pair made first, a labelled
    /// add was 482 instructions by callgrind; it is about 330).
    #[inline]
    pub(crate) fn is_as_given(&self, pairs: &[(&str, &str)]) -> bool {
        let given = &*self.given;
        if given.len() != pairs.len() {
            return false;
        }
        // One branch a pair: iterator adapters and `&&` chains made this
        // twice as long.
        for (given, &(key, value)) in given.iter().zip(pairs) {
            if distance(given, pair_halves(key, value), lens(key, value)) != 0 {
                return false;
            }
        }
        // The lengths are the set's: so is whether any string is long.
        !self.long || self.long_strings_match(pairs)
    }

    /// Whether the strings of `pairs` longer than their halves hold are
    /// the set's, pair by pair in the order the set was made with.
    fn long_strings_match(&self, pairs: &[(&str, &str)]) -> bool {
        self.given.iter().zip(pairs).all(|(given, &(key, value))| {
            if key.len().max(value.len()) <= WHOLE_IN_HALVES {
                return true;
            }
            // A string of up to 16 bytes was all in its halves.
            let (set_key, set_value) = self.pair(given.sorted);
            (key.len() <= WHOLE_IN_HALVES || set_key == key) && (value.len() <= WHOLE_IN_HALVES || set_value == value)
        })
    }

    /// Whether the set is `pairs` given in another order: each pair found,
    /// and no key given twice.
    #[cold]
    fn is_reordered(&self, pairs: &[(&str, &str)]) -> bool {
        pairs.iter().enumerate().all(|(i, (key, value))| {
            let found = self.find(key).is_some_and(|at| self.pair(at).1 == *value);
            found && pairs[..i].iter().all(|(other, _)| other != key)
        })
    }

    /// Where `key` is in key order (a binary search over the pairs).
    fn find(&self, key: &str) -> Option<usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = (low + high) / 2;
            match self.pair(middle).0.cmp(key) {
                core::cmp::Ordering::Less => low = middle + 1,
                core::cmp::Ordering::Greater => high = middle,
                core::cmp::Ordering::Equal => return Some(middle),
            }
        }
        None
    }

    /// The owned set of checked pairs: `sorted`, which are `given` sorted by key.
    pub(crate) fn new(sorted: &[(&str, &str)], given: &[(&str, &str)], hash: u64) -> Self {
        let mut text = String::new();
        let ends = sorted
            .iter()
            .map(|(key, value)| {
                text.push_str(key);
                let key_end = text.len() as u32;
                text.push_str(value);
                (key_end, text.len() as u32)
            })
            .collect();
        let given_halves = given
            .iter()
            .map(|(key, value)| Given {
                halves: pair_halves(key, value),
                lens: lens(key, value),
                // Keys are unique: the one place of this key.
                sorted: sorted.iter().position(|(k, _)| k == key).unwrap_or(0),
            })
            .collect();
        let long = given.iter().any(|(key, value)| key.len().max(value.len()) > WHOLE_IN_HALVES);
        LabelSet { text: text.into_boxed_str(), ends, given: given_halves, hash, long }
    }
}

/// The caller's pairs sorted by key, on the stack; `None` past [`MAX_LABELS`].
pub(crate) fn sort<'a>(labels: &[(&'a str, &'a str)]) -> Option<([(&'a str, &'a str); MAX_LABELS], usize)> {
    if labels.len() > MAX_LABELS {
        return None;
    }
    let mut sorted = [("", ""); MAX_LABELS];
    sorted[..labels.len()].copy_from_slice(labels);
    let part = &mut sorted[..labels.len()];
    // Insertion sort: a handful of pairs, usually given in the same order.
    for i in 1..part.len() {
        let mut j = i;
        while j > 0 && part[j - 1].0 > part[j].0 {
            part.swap(j - 1, j);
            j -= 1;
        }
    }
    Some((sorted, labels.len()))
}

/// A 64x64 -> 128-bit multiply folded to 64 bits: the mixing step of
/// wyhash, one multiply for 16 bytes of input.
#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
fn read8(b: &[u8], at: usize) -> u64 {
    word8(b[at..].first_chunk())
}

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn word4(chunk: Option<&[u8; 4]>) -> u64 {
    chunk.map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
}

#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn word8(chunk: Option<&[u8; 8]>) -> u64 {
    chunk.map_or(0, |c| u64::from_le_bytes(*c))
}

/// wyhash's way with a string longer than 16 bytes: its [`halves`], and
/// one multiply per 16 bytes of what lies between them.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn hash_bytes(seed: u64, b: &[u8]) -> u64 {
    let n = b.len();
    let [mut a, mut c] = halves(b);
    let mut h = seed ^ n as u64;
    let mut at = 8;
    while at + 8 < n {
        // Longer than 16: the middle, 16 bytes at a time (the ends read above).
        h = mum(read8(b, at) ^ P1, (if at + 16 <= n { read8(b, at + 8) } else { 0 }) ^ h);
        at += 16;
    }
    a ^= P1;
    c ^= h;
    mum(a, c ^ P0)
}

/// One pair's hash: one multiply of its key's word by its value's, each
/// with its length in the top bits (one multiply a pair rather than the
/// three of hashing each string whole).
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn pair_hash([key, value]: [u64; 2], lens: u64) -> u64 {
    mum(key ^ P0 ^ (lens & 0xffff_ffff).rotate_right(8), value ^ P1 ^ (lens >> 32).rotate_right(8))
}

/// Checks a sorted set: keys are `[A-Za-z_][A-Za-z0-9_.]*` and not
/// `__`-prefixed (Prometheus reserves those), unique, and both sides of a
/// pair are within their byte limits.
pub(crate) fn check(sorted: &[(&str, &str)]) -> Result<(), InstrumentError> {
    for (i, (key, value)) in sorted.iter().enumerate() {
        let valid = key
            .bytes()
            .enumerate()
            .all(|(j, b)| b.is_ascii_alphabetic() || b == b'_' || (j > 0 && (b.is_ascii_digit() || b == b'.')));
        if key.is_empty() || !valid || key.len() > MAX_KEY_BYTES || key.starts_with("__") {
            return Err(InstrumentError::label(
                key,
                "is not a label name: 1 to 128 of [A-Za-z0-9_.], not starting with a digit, a dot or __",
            ));
        }
        if i > 0 && sorted[i - 1].0 == *key {
            return Err(InstrumentError::label(key, "is given twice"));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(InstrumentError::label(key, "has a value longer than 1024 bytes"));
        }
    }
    Ok(())
}

/// Owned pairs for a bound handle or a test: `[("route", "/")]` as a `Vec`.
pub fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels.iter().map(|(k, v)| (String::from(*k), String::from(*v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is(set: &LabelSet, pairs: &[(&str, &str)]) -> bool {
        set.is(pairs)
    }

    #[test]
    fn order_does_not_matter_and_the_hash_tells_sets_apart() {
        let (a, n) = sort(&[("b", "2"), ("a", "1"), ("c", "3")]).unwrap();
        let (b, m) = sort(&[("c", "3"), ("b", "2"), ("a", "1")]).unwrap();
        assert_eq!(&a[..n], &b[..m]);
        assert_eq!(hash(&a[..n]), hash(&b[..m]));
        assert_eq!(hash(&[("b", "2"), ("a", "1")]), hash(&[("a", "1"), ("b", "2")]), "the hash ignores the order");
        assert_ne!(hash(&[("a", "1b")]), hash(&[("a1", "b")]), "lengths are in the hash");
        assert_ne!(hash(&[("a", "1"), ("b", "2")]), hash(&[("a", "2"), ("b", "1")]));
        assert_ne!(hash(&[("a", "")]), hash(&[]));
        let set = LabelSet::new(&a[..n], &[("b", "2"), ("a", "1"), ("c", "3")], hash(&a[..n]));
        assert_eq!(set.pairs().collect::<Vec<_>>(), [("a", "1"), ("b", "2"), ("c", "3")]);
        assert!(is(&set, &b[..m]));
        assert!(is(&set, &[("c", "3"), ("a", "1"), ("b", "2")]), "any order");
        assert!(!is(&set, &[("c", "3"), ("a", "1"), ("b", "9")]));
        assert!(!is(&set, &b[..m - 1]));
        assert!(!is(&set, &[("c", "3"), ("a", "1"), ("a", "1")]), "a key twice is not the set");
    }

    #[test]
    fn strings_of_one_hash_word_are_told_apart_by_their_halves() {
        // 16 bytes each, the same word (first eight xor last eight turned),
        // so the same hash: only the halves tell them apart.
        let (one, other) = ("aaaaaaaabbbbbbbb", "`aaa`aaacbbbcbbb");
        let word_of = |s: &str| word(s.as_bytes(), halves(s.as_bytes()));
        assert_eq!(word_of(one), word_of(other));
        assert_eq!(hash(&[("k", one)]), hash(&[("k", other)]));
        let set = LabelSet::new(&[("k", one)], &[("k", one)], hash(&[("k", one)]));
        assert!(is(&set, &[("k", one)]));
        assert!(!is(&set, &[("k", other)]));
    }

    #[test]
    fn strings_past_their_halves_are_told_apart_by_their_middles() {
        // 18 bytes each: the same length and halves, another middle.
        let (one, other) = ("abcdefghabcdefghij", "abcdefghbacdefghij");
        assert_eq!(halves(one.as_bytes()), halves(other.as_bytes()));
        let set = LabelSet::new(&[("k", one)], &[("k", one)], hash(&[("k", one)]));
        assert!(set.is_as_given(&[("k", one)]));
        assert!(!set.is_as_given(&[("k", other)]), "the series last found is not taken for it");
        assert_ne!(hash(&[("k", one)]), hash(&[("k", other)]), "the middle is in the hash");
    }

    #[test]
    fn bad_names_and_duplicates_are_refused() {
        for bad in ["", "1a", ".a", "__name__", "a-b", "é"] {
            assert!(check(&[(bad, "v")]).is_err(), "{bad}");
        }
        assert_eq!(check(&[("a", "1"), ("a", "2")]).unwrap_err().message, "is given twice");
        assert!(check(&[("a.b_c9", "v"), ("_x", "")]).is_ok());
        assert!(sort(&[("a", ""); 17]).is_none());
    }
}
