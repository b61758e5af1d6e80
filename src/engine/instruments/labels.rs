//! Labels: the key/value pairs that tell an instrument's series apart.
//!
//! Given in any order, a set is the same series: it is kept sorted by key,
//! and looked up by a hash of the sorted pairs. A lookup of a set that
//! already has a series sorts references to the caller's strings on the
//! stack and allocates nothing.

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

/// A label set as kept by a series: sorted by key, with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    pairs: Box<[(Box<str>, Box<str>)]>,
    /// The pairs as the set's first caller gave them: callers that keep
    /// one order are matched in one pass.
    given: Box<[(Box<str>, Box<str>)]>,
    hash: u64,
}

impl LabelSet {
    /// The pairs, sorted by key.
    pub fn pairs(&self) -> &[(Box<str>, Box<str>)] {
        &self.pairs
    }

    /// The hash the series table files this set under.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Whether the set is the caller's `pairs`, in any order (which the
    /// caller checked have no key twice when the set was made).
    #[inline]
    pub(crate) fn is(&self, pairs: &[(&str, &str)]) -> bool {
        if self.pairs.len() != pairs.len() {
            return false;
        }
        // In the order the set was made with (the usual case): one pass.
        if self.given.iter().zip(pairs).all(|((k, v), (pk, pv))| **k == **pk && **v == **pv) {
            return true;
        }
        // In another order: each pair found, and no key given twice.
        pairs.iter().enumerate().all(|(i, (pk, pv))| {
            let found = match self.pairs.binary_search_by(|(k, _)| (**k).cmp(pk)) {
                Ok(at) => *self.pairs[at].1 == **pv,
                Err(_) => false,
            };
            found && pairs[..i].iter().all(|(other, _)| other != pk)
        })
    }

    /// The owned set of checked pairs: `sorted`, which are `given` sorted by key.
    pub(crate) fn new(sorted: &[(&str, &str)], given: &[(&str, &str)], hash: u64) -> Self {
        let own = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (Box::from(*k), Box::from(*v))).collect();
        LabelSet { pairs: own(sorted), given: own(given), hash }
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
    u64::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5], b[at + 6], b[at + 7]])
}

#[inline]
fn read4(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// wyhash's way with a string: overlapping reads of its first and last
/// bytes (no copy of a tail), one multiply per 16 bytes.
#[inline]
fn hash_bytes(seed: u64, b: &[u8]) -> u64 {
    let n = b.len();
    let (mut a, mut c) = match n {
        0 => (0, 0),
        1..=3 => ((u64::from(b[0]) << 16) | (u64::from(b[n / 2]) << 8) | u64::from(b[n - 1]), 0),
        4..=8 => (read4(b, 0), read4(b, n - 4)),
        _ => (read8(b, 0), read8(b, n - 8)),
    };
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

/// The hash of a set, whatever the order of its pairs: the wrapping sum of
/// each pair's hash, so that a lookup needs no sorting. Not for hostile
/// keys: the series a user makes are their own, and the table caps them.
#[inline]
pub(crate) fn hash(pairs: &[(&str, &str)]) -> u64 {
    pairs.iter().fold(0u64, |sum, (key, value)| {
        sum.wrapping_add(mum(hash_bytes(P0, key.as_bytes()) ^ P2, hash_bytes(P1, value.as_bytes()) ^ P0))
    })
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
        assert!(set.is(&b[..m]));
        assert!(set.is(&[("c", "3"), ("a", "1"), ("b", "2")]), "any order");
        assert!(!set.is(&[("c", "3"), ("a", "1"), ("b", "9")]));
        assert!(!set.is(&b[..m - 1]));
        assert!(!set.is(&[("c", "3"), ("a", "1"), ("a", "1")]), "a key twice is not the set");
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
