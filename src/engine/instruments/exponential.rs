//! OpenTelemetry's base-2 exponential histogram: buckets whose bounds grow
//! by `2^(2^-scale)`, at most [`MAX_BUCKETS`] of them per sign; when a value
//! falls outside the range they can cover, the scale goes down (each step
//! merges pairs of buckets) until it fits. Count, sum, min and max are kept
//! exactly.
//!
//! A value `v` is in bucket `i` when `base^i < |v| <= base^(i+1)`: exact
//! powers of the base belong to the lower bucket, as the specification says.

use alloc::vec::Vec;

/// Buckets per sign, OpenTelemetry's default.
pub const MAX_BUCKETS: usize = 160;
/// The finest scale, where a histogram starts.
pub const MAX_SCALE: i32 = 20;
/// The coarsest: every bucket spans a power of 2^(2^10).
pub const MIN_SCALE: i32 = -10;

/// One sign's buckets: `counts[k]` is bucket `offset + k`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// Index of the first bucket.
    pub offset: i32,
    /// Counts from `offset` on.
    pub counts: Vec<u64>,
}

impl Buckets {
    fn range(&self) -> Option<(i32, i32)> {
        (!self.counts.is_empty()).then(|| (self.offset, self.offset + self.counts.len() as i32 - 1))
    }

    fn add(&mut self, index: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(n);
            return;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, core::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += n;
    }

    /// Merges buckets pairwise `change` times: index `i` becomes `i >> change`.
    fn downscale(&mut self, change: u32) {
        if change == 0 || self.counts.is_empty() {
            return;
        }
        let old = core::mem::take(&mut self.counts);
        let offset = self.offset;
        for (k, n) in old.into_iter().enumerate() {
            if n > 0 {
                self.add((offset + k as i32) >> change, n);
            }
        }
        if self.counts.is_empty() {
            self.offset >>= change;
        }
    }
}

/// The histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialHistogram {
    /// The current scale.
    pub scale: i32,
    /// Values that were exactly 0.
    pub zero_count: u64,
    /// Buckets of positive values.
    pub positive: Buckets,
    /// Buckets of negative values, by magnitude.
    pub negative: Buckets,
    /// How many values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest (`+inf` when empty).
    pub min: f64,
    /// The largest (`-inf` when empty).
    pub max: f64,
}

impl Default for ExponentialHistogram {
    fn default() -> Self {
        ExponentialHistogram {
            scale: MAX_SCALE,
            zero_count: 0,
            positive: Buckets::default(),
            negative: Buckets::default(),
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// The bucket index of `v` (positive and finite) at `scale`.
pub fn index(v: f64, scale: i32) -> i32 {
    let bits = v.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = bits & ((1 << 52) - 1);
    // floor(log2 v), and whether v is a power of two (subnormals included).
    let (log, power) = match exponent {
        0 => (63 - mantissa.leading_zeros() as i32 - 1074, mantissa.is_power_of_two()),
        _ => (exponent - 1023, mantissa == 0),
    };
    if power {
        // 2^log is the top of bucket (log << scale) - 1.
        return if scale >= 0 { (log << scale) - 1 } else { (log - 1) >> -scale };
    }
    if scale <= 0 {
        return log >> -scale;
    }
    // floor(log2(v) * 2^scale): v is not a power of two, so not on a bound
    // of a bucket at a positive scale (whose bounds other than powers of
    // two are irrational), and floor is ceil - 1.
    libm::floor(libm::log2(v) * f64::from(1u32 << scale)) as i32
}

/// The lower bound of bucket `i` at `scale`: `2^(i / 2^scale)`.
pub fn lower_bound(i: i32, scale: i32) -> f64 {
    libm::exp2(f64::from(i) / libm::exp2(f64::from(scale)))
}

impl ExponentialHistogram {
    /// Adds one value; NaN and infinities are the caller's to refuse.
    pub fn record(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v == 0.0 {
            self.zero_count += 1;
            return;
        }
        let magnitude = v.abs();
        let mut i = index(magnitude, self.scale);
        let buckets = if v > 0.0 { &self.positive } else { &self.negative };
        let change = needed_change(buckets.range(), i, i);
        if change > 0 {
            self.downscale(change);
            i = index(magnitude, self.scale);
        }
        let buckets = if v > 0.0 { &mut self.positive } else { &mut self.negative };
        buckets.add(i, 1);
    }

    /// Lowers the scale by `change`, merging buckets.
    pub fn downscale(&mut self, change: u32) {
        let change = change.min((self.scale - MIN_SCALE) as u32);
        self.scale -= change as i32;
        self.positive.downscale(change);
        self.negative.downscale(change);
    }

    /// Adds `other`'s values: both at the coarser scale, coarser still if
    /// the union of their ranges needs it.
    pub fn merge(&mut self, other: &ExponentialHistogram) {
        if other.count == 0 {
            return;
        }
        let mut other = other.clone();
        let scale = self.scale.min(other.scale);
        self.downscale((self.scale - scale) as u32);
        other.downscale((other.scale - scale) as u32);
        let fit = |a: &Buckets, b: &Buckets| match (a.range(), b.range()) {
            (Some((lo, hi)), Some((olo, ohi))) => needed_change(Some((lo, hi)), olo, ohi),
            _ => 0,
        };
        let change = fit(&self.positive, &other.positive).max(fit(&self.negative, &other.negative));
        self.downscale(change);
        other.downscale(change);
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
}

/// How many times to halve the scale so that `range` extended to
/// `low..=high` spans at most [`MAX_BUCKETS`] buckets.
fn needed_change(range: Option<(i32, i32)>, low: i32, high: i32) -> u32 {
    let (mut lo, mut hi) = match range {
        Some((a, b)) => (a.min(low), b.max(high)),
        None => (low, high),
    };
    let mut change = 0;
    while (hi - lo) as usize >= MAX_BUCKETS {
        lo >>= 1;
        hi >>= 1;
        change += 1;
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_the_bounds_powers_of_two_going_down() {
        for scale in [-3, -1, 0, 1, 3, 10, 20] {
            for v in [1.0, 2.0, 3.0, 4.0, 0.5, 0.3, 1e-300, 5e-324, 1.5e300, 1023.9, 1024.0, 1024.1] {
                let i = index(v, scale);
                // Bounds of subnormal buckets are not representable; their indexes are checked below.
                if scale > -1 && v > 1e-300 {
                    assert!(lower_bound(i, scale) < v * (1.0 + 1e-12), "{v} at {scale}: bucket {i}");
                    assert!(v <= lower_bound(i + 1, scale) * (1.0 + 1e-12), "{v} at {scale}: bucket {i}");
                }
            }
        }
        assert_eq!(index(1.0, 0), -1);
        assert_eq!(index(2.0, 0), 0);
        assert_eq!(index(3.0, 0), 1);
        assert_eq!(index(4.0, 0), 1);
        assert_eq!(index(4.0, 1), 3);
        assert_eq!(index(5.0, 1), 4);
        assert_eq!(index(8.0, -1), 1);
        assert_eq!(index(9.0, -1), 1);
        assert_eq!(index(5e-324, 0), -1075, "2^-1074, a subnormal power of two");
        assert_eq!(index(5e-324, 1), -2149);
        assert_eq!(index(1.5e-323, 0), -1073, "3 x 2^-1074");
    }

    #[test]
    fn a_wide_range_lowers_the_scale_and_keeps_every_count() {
        let mut h = ExponentialHistogram::default();
        for v in [1.0, 1.000_001, 1e6, 1e-6, 0.0, -3.0, -3e5] {
            h.record(v);
        }
        assert!(h.scale < MAX_SCALE);
        assert!(h.positive.counts.len() <= MAX_BUCKETS && h.negative.counts.len() <= MAX_BUCKETS);
        let total: u64 = h.positive.counts.iter().chain(&h.negative.counts).sum::<u64>() + h.zero_count;
        assert_eq!((total, h.count, h.zero_count), (7, 7, 1));
        assert_eq!((h.min, h.max), (-3e5, 1e6));
        // 1e6 must be in a bucket that covers it at the final scale.
        let top = h.positive.offset + h.positive.counts.len() as i32 - 1;
        assert!(lower_bound(top, h.scale) < 1e6 && 1e6 <= lower_bound(top + 1, h.scale));
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let values: Vec<f64> = (1..2000).map(|i| f64::from(i) * 0.37 - 300.0).collect();
        let (mut a, mut b, mut all) =
            (ExponentialHistogram::default(), ExponentialHistogram::default(), ExponentialHistogram::default());
        for (k, v) in values.iter().enumerate() {
            if k % 3 == 0 {
                a.record(*v)
            } else {
                b.record(*v)
            }
            all.record(*v);
        }
        a.merge(&b);
        assert_eq!(a.scale, all.scale);
        assert_eq!(a.positive, all.positive);
        assert_eq!(a.negative, all.negative);
        assert_eq!((a.count, a.zero_count, a.min, a.max), (all.count, all.zero_count, all.min, all.max));
        assert!((a.sum - all.sum).abs() < 1e-6);
    }
}
