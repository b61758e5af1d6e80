//! The summary's sketch: DDSketch (Masson, Rim and Lee, VLDB 2019). A value
//! `v > 0` goes to bin `ceil(log_gamma(v))` with `gamma = (1 + a) / (1 - a)`,
//! so any quantile read back is within a relative error `a` of a value that
//! was recorded, whatever the distribution. Memory is bounded: past
//! [`MAX_BINS`] bins per sign the lowest bins are folded into one (the
//! guarantee then holds for quantiles above the folded mass). No samples
//! are kept.

use alloc::vec::Vec;

/// The relative accuracy: quantiles within 1% of a recorded value.
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Bins per sign. With 1% accuracy 2048 bins cover 80 orders of magnitude.
pub const MAX_BINS: usize = 2048;

/// Bins of one sign: `counts[k]` is bin `offset + k`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Bins {
    offset: i32,
    counts: Vec<u64>,
    total: u64,
}

impl Bins {
    fn add(&mut self, index: i32, n: u64) {
        self.total += n;
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(n);
            return;
        }
        if index < self.offset {
            // Room below, unless the lowest bins must be folded instead.
            let grow = (self.offset - index) as usize;
            if self.counts.len() + grow > MAX_BINS {
                self.counts[0] += n;
                return;
            }
            self.counts.splice(0..0, core::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += n;
        if self.counts.len() > MAX_BINS {
            // Fold the lowest bins into the first one kept.
            let fold = self.counts.len() - MAX_BINS;
            let folded: u64 = self.counts.drain(..fold).sum();
            self.counts[0] += folded;
            self.offset += fold as i32;
        }
    }

    /// The bin holding the value of rank `rank` (0-based) from the lowest bin.
    fn bin_of_rank(&self, rank: u64) -> i32 {
        let mut seen = 0;
        for (k, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen > rank {
                return self.offset + k as i32;
            }
        }
        self.offset + self.counts.len() as i32 - 1
    }
}

/// The sketch.
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    positive: Bins,
    negative: Bins,
    zero_count: u64,
    /// How many values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest (`+inf` when empty).
    pub min: f64,
    /// The largest (`-inf` when empty).
    pub max: f64,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            positive: Bins::default(),
            negative: Bins::default(),
            zero_count: 0,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

/// Below this, values count as zero (the bins of smaller ones would be
/// unbounded in number).
const MIN_INDEXABLE: f64 = 1e-300;

fn bin(v: f64) -> i32 {
    libm::ceil(libm::log(v) / libm::log(gamma())) as i32
}

/// The value a bin stands for: the middle of its bounds in relative terms.
fn value_of(bin: i32) -> f64 {
    let g = gamma();
    2.0 * libm::pow(g, f64::from(bin)) / (1.0 + g)
}

impl Sketch {
    /// Adds one value; NaN and infinities are the caller's to refuse.
    pub fn record(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v.abs() < MIN_INDEXABLE {
            self.zero_count += 1;
        } else if v > 0.0 {
            self.positive.add(bin(v), 1);
        } else {
            self.negative.add(bin(-v), 1);
        }
    }

    /// Adds `other`'s values.
    pub fn merge(&mut self, other: &Sketch) {
        for (mine, theirs) in [(&mut self.positive, &other.positive), (&mut self.negative, &other.negative)] {
            for (k, n) in theirs.counts.iter().enumerate() {
                if *n > 0 {
                    mine.add(theirs.offset + k as i32, *n);
                }
            }
        }
        self.zero_count += other.zero_count;
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0 to 1); NaN when empty. The extremes are
    /// the exact min and max.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        if q <= 0.0 {
            return self.min;
        }
        if q >= 1.0 {
            return self.max;
        }
        let rank = libm::floor(q * (self.count - 1) as f64) as u64;
        let estimate = if rank < self.negative.total {
            // Negative values, from the most negative: the bins read from the top.
            -value_of(self.negative.bin_of_rank(self.negative.total - 1 - rank))
        } else if rank < self.negative.total + self.zero_count {
            0.0
        } else {
            value_of(self.positive.bin_of_rank(rank - self.negative.total - self.zero_count))
        };
        estimate.clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact quantile of sorted values, at the same rank the sketch uses.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[libm::floor(q * (sorted.len() - 1) as f64) as usize]
    }

    #[test]
    fn quantiles_are_within_the_relative_accuracy_on_known_distributions() {
        let uniform: Vec<f64> = (1..=10_000).map(f64::from).collect();
        let exponential: Vec<f64> = (1..=10_000).map(|i| -libm::log(1.0 - f64::from(i) / 10_001.0) * 40.0).collect();
        let mixed: Vec<f64> = (0..10_000).map(|i| f64::from(i - 3000) * 0.25).collect();
        // 16 orders of magnitude: 1,842 bins, none folded.
        let wide: Vec<f64> = (0..1600).map(|i| libm::pow(10.0, f64::from(i) / 100.0 - 8.0)).collect();
        for values in [uniform, exponential, mixed, wide] {
            let mut sketch = Sketch::default();
            values.iter().for_each(|v| sketch.record(*v));
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for q in [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999] {
                let (got, want) = (sketch.quantile(q), exact(&sorted, q));
                assert!((got - want).abs() <= RELATIVE_ACCURACY * want.abs() + 1e-12, "q{q}: {got} for {want}");
            }
            assert_eq!((sketch.quantile(0.0), sketch.quantile(1.0)), (sorted[0], sorted[sorted.len() - 1]));
        }
    }

    #[test]
    fn memory_is_bounded_and_merging_equals_recording_in_one() {
        let mut sketch = Sketch::default();
        for i in 0..100_000 {
            sketch.record(libm::pow(1.001, f64::from(i)) * 1e-250);
        }
        assert!(sketch.positive.counts.len() <= MAX_BINS);
        assert_eq!(sketch.positive.counts.iter().sum::<u64>(), 100_000);
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..5000 {
            let v = f64::from(i % 977) - 100.0;
            if i % 2 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
    }
}
