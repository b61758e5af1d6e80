//! An instrument's series table: the series found by their labels' hash,
//! the overflow series, and (with `std`) the exposition's text of every
//! series kept back to back.

#[cfg(feature = "std")]
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::Descriptor;
use super::labels::{self, MAX_LABELS};
#[cfg(feature = "std")]
use super::prometheus::WINDOW;
use super::registry::Series;

/// The series of an instrument, found by their labels' hash (open
/// addressing, linear probing; `slots` holds index + 1, 0 for empty).
#[derive(Debug)]
pub(super) struct Table {
    series: Vec<Arc<Series>>,
    slots: Vec<u32>,
    /// The index of the series last found (past the end when none is).
    last: usize,
    /// Whether the last lookup was of another series than the one before:
    /// the next one then goes to the hash at once. Code that goes from
    /// series to series (64 in turn in `benches/instruments.rs`) pays the
    /// comparison with the series last found only after a repeat.
    last_missed: bool,
    overflow: Option<Arc<Series>>,
    #[cfg(feature = "std")]
    texts: Texts,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            series: Vec::new(),
            slots: Vec::new(),
            last: usize::MAX,
            last_missed: false,
            overflow: None,
            #[cfg(feature = "std")]
            texts: Texts::default(),
        }
    }
}

impl Table {
    /// The series, in the order they were made.
    pub(super) fn series(&self) -> &[Arc<Series>] {
        &self.series
    }

    /// The overflow series, once a value went to it.
    pub(super) fn overflow(&self) -> Option<&Arc<Series>> {
        self.overflow.as_ref()
    }

    /// The series of `labels`, in any order. The series last found is
    /// tried first, without a hash: code that updates one series again and
    /// again (a loop, a page's one route) pays a comparison of its labels
    /// only; code that goes from series to series pays that comparison up
    /// to the first label that differs, but not right after a lookup that
    /// found another series than the one before (`last_missed`), and then
    /// the hash (`benches/instruments.rs` measures both). `None` past
    /// [`MAX_LABELS`] too, which no series has.
    #[inline]
    pub(super) fn find(&mut self, labels: &[(&str, &str)]) -> Option<&Arc<Series>> {
        if !self.last_missed {
            if self.series.get(self.last).is_some_and(|series| series.labels().is_as_given(labels)) {
                return self.series.get(self.last);
            }
            self.last_missed = true;
        }
        self.find_hashed(labels)
    }

    /// The series of `labels`, by their hash.
    fn find_hashed(&mut self, labels: &[(&str, &str)]) -> Option<&Arc<Series>> {
        if self.slots.is_empty() || labels.len() > MAX_LABELS {
            return None;
        }
        let hash = labels::hash(labels);
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            match self.slots[at] {
                0 => return None,
                slot => {
                    let index = slot as usize - 1;
                    let set = self.series[index].labels();
                    if set.hash() == hash && set.is(labels) {
                        self.last_missed = index != self.last;
                        self.last = index;
                        return self.series.get(index);
                    }
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds a series of `descriptor`'s instrument.
    pub(super) fn insert(&mut self, series: Arc<Series>, descriptor: &Descriptor) {
        #[cfg(feature = "std")]
        self.texts.push(descriptor, &series);
        #[cfg(not(feature = "std"))]
        let _ = descriptor;
        self.series.push(series);
        if self.series.len() * 2 > self.slots.len() {
            self.rehash();
            return;
        }
        let hash = self.series[self.series.len() - 1].labels().hash();
        file(&mut self.slots, hash, self.series.len() as u32);
    }

    /// The overflow series, made by `make` the first time.
    pub(super) fn overflow_or(&mut self, descriptor: &Descriptor, make: impl FnOnce() -> Series) -> Arc<Series> {
        if let Some(series) = &self.overflow {
            return series.clone();
        }
        let series = Arc::new(make());
        #[cfg(feature = "std")]
        self.texts.write_overflow(descriptor, &series);
        #[cfg(not(feature = "std"))]
        let _ = descriptor;
        self.overflow = Some(series.clone());
        series
    }

    /// Keeps the series `keep` says to, and files them again.
    pub(super) fn retain(&mut self, descriptor: &Descriptor, keep: impl FnMut(&Arc<Series>) -> bool) {
        self.series.retain(keep);
        self.last = usize::MAX;
        self.rehash();
        #[cfg(feature = "std")]
        self.texts.rebuild(descriptor, &self.series, self.overflow.as_ref());
        #[cfg(not(feature = "std"))]
        let _ = descriptor;
    }

    /// Files every series again (after growth or removals).
    fn rehash(&mut self) {
        let size = (self.series.len() * 2).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(size, 0);
        for (i, series) in self.series.iter().enumerate() {
            file(&mut self.slots, series.labels().hash(), i as u32 + 1);
        }
    }

    /// The overflow series' exposition text.
    #[cfg(feature = "std")]
    pub(super) fn overflow_text(&self) -> &str {
        &self.texts.overflow
    }

    /// Gives `each` every series (not the overflow series) with its
    /// exposition text and the window of bytes that text starts (see
    /// [`Texts`]), in the table's order. (`each` is called in one place, to
    /// be inlined.)
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(super) fn each_text<'a>(&'a self, mut each: impl FnMut(&'a Series, &'a str, Option<&'a [u8; WINDOW]>)) {
        debug_assert_eq!(self.series.len(), self.texts.ends.len(), "a text for each series");
        let mut rest = self.texts.bytes.as_str();
        let mut start = 0;
        for (at, (series, &end)) in self.series.iter().zip(&self.texts.ends).enumerate() {
            if let Some(ahead) = self.series.get(at + 8) {
                ahead.prefetch();
            }
            let window = rest.as_bytes().first_chunk();
            debug_assert!(window.is_some(), "the padding follows the last text");
            let Some((text, after)) = rest.split_at_checked(end.wrapping_sub(start)) else {
                debug_assert!(false, "texts end where the next starts, at characters' boundaries");
                return;
            };
            (rest, start) = (after, end);
            each(series, text, window);
        }
    }
}

/// Files `slot` (a series' index + 1) in the first free slot from `hash`'s
/// (`slots` is a power of two long, and never full).
fn file(slots: &mut [u32], hash: u64, slot: u32) {
    let mask = slots.len() - 1;
    let mut at = hash as usize & mask;
    while slots[at] != 0 {
        at = (at + 1) & mask;
    }
    slots[at] = slot;
}

/// The exposition's text of every series of a table, made once: a
/// counter's or gauge's sample line up to its value, `name{k="v"} `, or
/// the labels of a series of the other kinds, `k="v",k2="v2"`.
///
/// The texts are back to back in the table's order. One allocation per
/// series made the 100,000-series exposition wait on a cache miss per
/// line: 8.4 ms against 3.7 with the lines read in order, in the same
/// bench. Each text starts where the one before ends: a series costs one
/// word (with its end and the labels' span beside, 32 bytes a series were
/// 3.2 MB of reading for each 100,000-series exposition). Spaces follow
/// the last text, so that every text starts a window of
/// [`super::prometheus::WINDOW`] bytes.
#[cfg(feature = "std")]
#[derive(Debug, Default)]
pub(super) struct Texts {
    bytes: String,
    /// Where each series' text ends in `bytes`, in the table's order.
    ends: Vec<usize>,
    /// The overflow series' text.
    overflow: String,
}

#[cfg(feature = "std")]
impl Texts {
    fn push(&mut self, descriptor: &Descriptor, series: &Series) {
        self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
        self.push_text(descriptor, series);
        self.bytes.push_str(PADDING);
    }

    fn push_text(&mut self, descriptor: &Descriptor, series: &Series) {
        super::prometheus::push_series_text(&mut self.bytes, descriptor, series.labels());
        self.ends.push(self.bytes.len());
    }

    fn write_overflow(&mut self, descriptor: &Descriptor, series: &Series) {
        self.overflow.clear();
        super::prometheus::push_series_text(&mut self.overflow, descriptor, series.labels());
    }

    /// Writes every series' text again, after removals.
    fn rebuild(&mut self, descriptor: &Descriptor, series: &[Arc<Series>], overflow: Option<&Arc<Series>>) {
        self.bytes.clear();
        self.ends.clear();
        for series in series {
            self.push_text(descriptor, series);
        }
        self.bytes.push_str(PADDING);
        if let Some(overflow) = overflow {
            self.write_overflow(descriptor, overflow);
        }
        self.bytes.shrink_to_fit();
    }
}

/// What follows the last text.
#[cfg(feature = "std")]
const PADDING: &str = match core::str::from_utf8(&[b' '; WINDOW]) {
    Ok(spaces) => spaces,
    Err(_) => panic!("spaces are UTF-8"),
};
