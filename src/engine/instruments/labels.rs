//! Labels: the key/value pairs that tell an instrument's series apart.
//!
//! Given in any order, a set is the same series: it is kept sorted by key,
//! and looked up by a hash of the pairs that ignores their order. A lookup
//! of a set that already has a series allocates nothing. It compares the
//! caller's strings by the words it hashed them with, which are all of a
//! string of up to 8 bytes (most label keys and values; up to 16 with the
//! last eight bytes beside), and only longer strings byte by byte: for 4
//! labels, 8 calls to `memcmp` and 8 reads of strings on the heap were
//! half of the labelled `add`.
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

/// The strings up to this long are whole in their [`word`] (up to 16 with
/// their [`tail`]).
const WHOLE_IN_WORD: usize = 8;

/// A string as one word of a hash: all of it up to 8 bytes (the two reads
/// of [`ends`] side by side), its ends folded up to 16, and the middle
/// mixed in beyond.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn word(s: &[u8]) -> u64 {
    let (head, tail) = ends(s);
    if s.len() <= WHOLE_IN_WORD {
        head | (tail << 32)
    } else if s.len() <= 16 {
        head ^ tail.rotate_left(32)
    } else {
        hash_bytes(P2, s)
    }
}

/// A pair's lengths in one word: the key's, and the value's in the top half.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn lens(key: &str, value: &str) -> u64 {
    key.len() as u64 | ((value.len() as u64) << 32)
}

/// One pair of a set as its first caller gave it: the words of its key
/// and value (with their tails, all of a string of up to 16 bytes), their
/// lengths, and where the pair is in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Given {
    words: [u64; 2],
    /// The last 8 bytes of a key or value of 9 to 16, with which its word
    /// is all of it; 0 for the others.
    tails: [u64; 2],
    lens: u64,
    sorted: usize,
}

/// The last 8 bytes of a string of 9 to 16 bytes, 0 for others (see [`Given`]).
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn tail(s: &[u8]) -> u64 {
    if (WHOLE_IN_WORD + 1..=16).contains(&s.len()) { word8(s.last_chunk()) } else { 0 }
}

/// The pairs whose words a [`Probe`] keeps, made once for the hash and the
/// comparisons; a set's further pairs' words are made again when compared.
/// (Room for all 16 was an array to clear on every lookup.)
const PROBE_WORDS: usize = 4;

/// A caller's label pairs as a lookup uses them: the words of the first
/// pairs, and the set's hash when the lookup needs it (a series found as
/// the last one used needs none).
#[derive(Debug)]
pub(crate) struct Probe<'a> {
    pairs: &'a [(&'a str, &'a str)],
    words: [[u64; 2]; PROBE_WORDS],
}

impl<'a> Probe<'a> {
    /// The probe of `pairs`; `None` past [`MAX_LABELS`].
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub(crate) fn new(pairs: &'a [(&'a str, &'a str)]) -> Option<Self> {
        if pairs.len() > MAX_LABELS {
            return None;
        }
        let mut words = [[0; 2]; PROBE_WORDS];
        for ((key, value), words) in pairs.iter().zip(&mut words) {
            *words = [word(key.as_bytes()), word(value.as_bytes())];
        }
        Some(Probe { pairs, words })
    }

    /// The words of pair `i`, `(key, value)`.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    fn words(&self, i: usize, key: &str, value: &str) -> [u64; 2] {
        if i < PROBE_WORDS { self.words[i] } else { [word(key.as_bytes()), word(value.as_bytes())] }
    }

    /// The pairs as the caller gave them.
    pub(crate) fn pairs(&self) -> &'a [(&'a str, &'a str)] {
        self.pairs
    }

    /// The hash of the set, whatever the order of its pairs: the wrapping
    /// sum of the pairs' hashes, so that a lookup needs no sorting. Not for
    /// hostile keys: the series a user makes are their own, and the table
    /// caps them.
    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        self.pairs.iter().enumerate().fold(0u64, |hash, (i, &(key, value))| {
            hash.wrapping_add(pair_hash(self.words(i, key, value), lens(key, value)))
        })
    }
}

/// A label set as kept by a series: its pairs sorted by key in one string,
/// the words of the pairs in the order they were first given, its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    /// Every key and value, sorted by key, back to back.
    text: Box<str>,
    /// Where each pair's key and value end in `text`, in key order.
    ends: Box<[(u32, u32)]>,
    given: Box<[Given]>,
    hash: u64,
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
    pub(crate) fn is(&self, probe: &Probe<'_>) -> bool {
        self.is_as_given(probe) || (self.given.len() == probe.pairs.len() && self.is_reordered(probe.pairs))
    }

    /// Whether the set is the caller's pairs in the order the set was made
    /// with (the usual case): words and lengths, which are the strings
    /// when none is longer than a word holds, and the set's text otherwise.
    #[inline]
    pub(crate) fn is_as_given(&self, probe: &Probe<'_>) -> bool {
        let (given, pairs) = (&*self.given, probe.pairs);
        if given.len() != pairs.len() {
            return false;
        }
        // One branch a pair: iterator adapters and `&&` chains made this
        // twice as long, and so did the tails' comparison in this loop.
        let mut long = false;
        for (i, (given, &(key, value))) in given.iter().zip(pairs).enumerate() {
            let words = probe.words(i, key, value);
            let differ = (words[0] ^ given.words[0]) | (words[1] ^ given.words[1]) | (lens(key, value) ^ given.lens);
            if differ != 0 {
                return false;
            }
            long |= key.len().max(value.len()) > WHOLE_IN_WORD;
        }
        !long || self.long_strings_match(pairs)
    }

    /// Whether the strings of `pairs` longer than a word holds are the
    /// set's, pair by pair in the order the set was made with: by their
    /// tails up to 16 bytes, by the set's text beyond.
    fn long_strings_match(&self, pairs: &[(&str, &str)]) -> bool {
        self.given.iter().zip(pairs).all(|(given, &(key, value))| {
            let (key, value) = (key.as_bytes(), value.as_bytes());
            if key.len().max(value.len()) <= 16 {
                return [tail(key), tail(value)] == given.tails;
            }
            let (set_key, set_value) = self.pair(given.sorted);
            (set_key.as_bytes(), set_value.as_bytes()) == (key, value)
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
        let given = given
            .iter()
            .map(|(key, value)| Given {
                words: [word(key.as_bytes()), word(value.as_bytes())],
                tails: [tail(key.as_bytes()), tail(value.as_bytes())],
                lens: lens(key, value),
                // Keys are unique: the one place of this key.
                sorted: sorted.iter().position(|(k, _)| k == key).unwrap_or(0),
            })
            .collect();
        LabelSet { text: text.into_boxed_str(), ends, given, hash }
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

/// The two words a string is hashed and printed by: for up to 3 bytes its
/// first, middle and last byte, for up to 8 its first and last four, for
/// more its first and last eight (overlapping reads: no copy of a tail).
/// Tests of the length rather than a `match` on it, which compiled to a
/// jump through a table: two such jumps a label were a fifth of a lookup.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn ends(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n > 8 {
        (word8(b.first_chunk()), word8(b.last_chunk()))
    } else if n >= 4 {
        (word4(b.first_chunk()), word4(b.last_chunk()))
    } else if let [first, .., last] | [first @ last] = b {
        let middle = b.get(n / 2).map_or(0, |m| u64::from(*m));
        ((u64::from(*first) << 16) | (middle << 8) | u64::from(*last), 0)
    } else {
        (0, 0)
    }
}

#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn word4(chunk: Option<&[u8; 4]>) -> u64 {
    chunk.map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
}

#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn word8(chunk: Option<&[u8; 8]>) -> u64 {
    chunk.map_or(0, |c| u64::from_le_bytes(*c))
}

/// wyhash's way with a string: its [`ends`], and one multiply per 16 bytes
/// of what lies between them.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn hash_bytes(seed: u64, b: &[u8]) -> u64 {
    let n = b.len();
    let (mut a, mut c) = ends(b);
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

/// The hash of a set (see [`Probe::hash`]); 0 past [`MAX_LABELS`].
pub(crate) fn hash(pairs: &[(&str, &str)]) -> u64 {
    Probe::new(pairs).map_or(0, |probe| probe.hash())
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
        set.is(&Probe::new(pairs).unwrap())
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
    fn strings_of_one_word_are_told_apart_by_their_tails() {
        // 16 bytes each, the same word (first eight xor last eight turned):
        // only the tails tell them apart.
        let (one, other) = ("aaaaaaaabbbbbbbb", "`aaa`aaacbbbcbbb");
        assert_eq!(word(one.as_bytes()), word(other.as_bytes()));
        let set = LabelSet::new(&[("k", one)], &[("k", one)], hash(&[("k", one)]));
        assert!(is(&set, &[("k", one)]));
        assert!(!is(&set, &[("k", other)]));
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
