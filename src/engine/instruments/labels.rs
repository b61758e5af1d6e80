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

    /// Whether the set is `sorted` (the caller's pairs, sorted).
    pub(crate) fn is(&self, sorted: &[(&str, &str)]) -> bool {
        self.pairs.len() == sorted.len()
            && self.pairs.iter().zip(sorted).all(|((k, v), (sk, sv))| **k == **sk && **v == **sv)
    }

    /// The owned set of checked, sorted pairs.
    pub(crate) fn new(sorted: &[(&str, &str)], hash: u64) -> Self {
        let pairs = sorted.iter().map(|(k, v)| (Box::from(*k), Box::from(*v))).collect();
        LabelSet { pairs, hash }
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

/// The hash of sorted pairs: FxHash's multiply-rotate over the bytes, a
/// word at a time. Not for hostile keys: the series a user makes are their
/// own, and the table caps them.
pub(crate) fn hash(sorted: &[(&str, &str)]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    let mut mix = |word: u64| h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    for (key, value) in sorted {
        for part in [key.as_bytes(), value.as_bytes()] {
            let mut chunks = part.chunks_exact(8);
            for chunk in &mut chunks {
                mix(u64::from_le_bytes([
                    chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
                ]));
            }
            let mut tail = [0u8; 8];
            tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
            mix(u64::from_le_bytes(tail) ^ ((part.len() as u64) << 56));
        }
    }
    h
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
        assert_ne!(hash(&[("a", "1b")]), hash(&[("a1", "b")]), "lengths are in the hash");
        assert_ne!(hash(&[("a", "")]), hash(&[]));
        let set = LabelSet::new(&a[..n], hash(&a[..n]));
        assert!(set.is(&b[..m]));
        assert!(!set.is(&b[..m - 1]));
    }

    #[test]
    fn bad_names_and_duplicates_are_refused() {
        for bad in ["", "1a", ".a", "__name__", "a-b", "é"] {
            assert!(check(&[(bad, "v")]).is_err(), "{bad}");
        }
        assert!(check(&[("a", "1"), ("a", "2")]).unwrap_err().message.contains("twice"));
        assert!(check(&[("a.b_c9", "v"), ("_x", "")]).is_ok());
        assert!(sort(&[("a", ""); 17]).is_none());
    }
}
