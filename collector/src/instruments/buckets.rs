//! Histogram buckets as stored rows carry them: explicit bounds, and
//! OpenTelemetry's base-2 exponential buckets, with what the exposition and
//! the charts do with them (add deltas, take a cumulative row's difference
//! from the one before, estimate quantiles).

/// Most buckets a stored row's array may have, and most an exponential
/// histogram keeps when rows merge (the SDK writes at most 160 per sign;
/// merging rows of many clients keeps more resolution than one client).
pub const MAX_BUCKETS: usize = 4096;

/// Lowest and highest scale of an exponential histogram (OpenTelemetry's).
const SCALES: std::ops::RangeInclusive<i64> = -10..=20;

/// An explicit-bounds histogram: `counts[i]` values at most `bounds[i]`
/// (and above the bound before), the last count above every bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution {
    /// Finite, strictly increasing upper bounds.
    pub bounds: Vec<f64>,
    /// One more than the bounds.
    pub counts: Vec<u64>,
}

impl Distribution {
    /// A histogram from a row's arrays, or None when they do not fit
    /// together.
    pub fn explicit(bounds: Vec<f64>, counts: Vec<u64>) -> Option<Self> {
        let increasing = bounds.windows(2).all(|w| w[0] < w[1]) && bounds.iter().all(|b| b.is_finite());
        (increasing && counts.len() == bounds.len() + 1 && counts.len() <= MAX_BUCKETS)
            .then_some(Self { bounds, counts })
    }

    /// The values counted (saturating: a hostile row may count past u64).
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// Adds `other`'s counts; false (and nothing added) when its bounds
    /// differ.
    pub fn add(&mut self, other: &Self) -> bool {
        if self.bounds != other.bounds {
            return false;
        }
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a = a.saturating_add(*b));
        true
    }

    /// What was counted since `earlier`, or None when `earlier` is not an
    /// earlier state of the same histogram (other bounds, or a count went
    /// down: the writer restarted).
    pub fn since(&self, earlier: &Self) -> Option<Self> {
        if self.bounds != earlier.bounds {
            return None;
        }
        let counts = self.counts.iter().zip(&earlier.counts).map(|(a, b)| a.checked_sub(*b)).collect::<Option<_>>()?;
        Some(Self { bounds: self.bounds.clone(), counts })
    }

    /// `(upper bound, count)` from the lowest bucket (the last one's bound
    /// is +Inf).
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.bounds.iter().copied().chain([f64::INFINITY]).zip(self.counts.iter().copied())
    }
}

/// The buckets of one sign of an exponential histogram: `counts[k]` is
/// bucket `offset + k`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Signed {
    /// Index of the first bucket.
    pub offset: i64,
    /// Counts from there.
    pub counts: Vec<u64>,
}

impl Signed {
    /// Buckets from a row.
    pub fn new(offset: i64, counts: Vec<u64>) -> Self {
        Self { offset, counts }
    }

    /// First and last index of the buckets at `by` scales lower, or None
    /// when empty.
    fn range(&self, by: u32) -> Option<(i64, i64)> {
        let by = by.min(63);
        (!self.counts.is_empty()).then(|| (self.offset >> by, (self.offset + self.counts.len() as i64 - 1) >> by))
    }

    /// The same counts at `by` scales lower (each bucket merges into the
    /// bucket holding it).
    fn downscale(&mut self, by: u32) {
        let Some((first, last)) = self.range(by) else { return };
        let mut counts = vec![0u64; (last - first + 1) as usize];
        for (k, c) in self.counts.iter().enumerate() {
            let at = ((self.offset + k as i64) >> by.min(63)) - first;
            counts[at as usize] = counts[at as usize].saturating_add(*c);
        }
        *self = Self { offset: first, counts };
    }

    /// Adds `other` (at the same scale; their union fits [`MAX_BUCKETS`]).
    fn add(&mut self, other: &Self) {
        let Some((first, last)) = union(self.range(0), other.range(0)) else { return };
        let mut counts = vec![0u64; (last - first + 1) as usize];
        for side in [&*self, other] {
            for (k, c) in side.counts.iter().enumerate() {
                let at = (side.offset + k as i64 - first) as usize;
                counts[at] = counts[at].saturating_add(*c);
            }
        }
        *self = Self { offset: first, counts };
    }

    /// `self - earlier` at the same scale, or None when a bucket went down.
    fn since(&self, earlier: &Self) -> Option<Self> {
        let mut out = self.clone();
        for (k, c) in earlier.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let at = usize::try_from(earlier.offset + k as i64 - self.offset).ok()?;
            let slot = out.counts.get_mut(at)?;
            *slot = slot.checked_sub(*c)?;
        }
        Some(out)
    }
}

fn union(a: Option<(i64, i64)>, b: Option<(i64, i64)>) -> Option<(i64, i64)> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    }
}

/// An exponential histogram: bucket `i` of a sign holds magnitudes in
/// `(base^i, base^(i+1)]`, `base = 2^(2^-scale)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exponential {
    /// The resolution.
    pub scale: i64,
    /// Values of magnitude zero.
    pub zero: u64,
    /// Buckets of positive values.
    pub positive: Signed,
    /// Buckets of negative values, by magnitude.
    pub negative: Signed,
}

/// The lower bound of bucket `index` at `scale`.
pub fn lower_bound(index: i64, scale: i64) -> f64 {
    (index as f64 * (-scale as f64).exp2()).exp2()
}

impl Exponential {
    /// A histogram from a row's fields, or None when they are out of
    /// OpenTelemetry's ranges or name buckets beyond the doubles.
    pub fn new(scale: i64, zero: u64, positive: Signed, negative: Signed) -> Option<Self> {
        let fits = |s: &Signed| {
            let last = s.offset.checked_add(s.counts.len() as i64)?;
            // Bucket bounds are doubles: 2^1024 is infinite and below
            // 2^-1074 nothing is left; further buckets would all be
            // written with the same `le`.
            let per_octave = (scale as f64).exp2();
            let inside = |index: i64| (-1074.0 * per_octave..=1024.0 * per_octave).contains(&(index as f64));
            (s.counts.len() <= MAX_BUCKETS && inside(s.offset) && inside(last)).then_some(())
        };
        (SCALES.contains(&scale) && fits(&positive).is_some() && fits(&negative).is_some()).then_some(Self {
            scale,
            zero,
            positive,
            negative,
        })
    }

    /// The values counted, or None past u64.
    pub fn total(&self) -> Option<u64> {
        self.positive.counts.iter().chain(&self.negative.counts).try_fold(self.zero, |a, &c| a.checked_add(c))
    }

    fn downscale_to(&mut self, scale: i64) {
        if scale < self.scale {
            let by = (self.scale - scale) as u32;
            self.positive.downscale(by);
            self.negative.downscale(by);
            self.scale = scale;
        }
    }

    /// Adds `other`, at the finer of the two scales that keeps both signs
    /// within [`MAX_BUCKETS`].
    pub fn add(&mut self, other: &Self) {
        let mut scale = self.scale.min(other.scale);
        while scale > *SCALES.start() {
            let span = |a: &Signed, b: &Signed| {
                union(a.range((self.scale - scale) as u32), b.range((other.scale - scale) as u32))
                    .map_or(0, |(first, last)| last - first + 1)
            };
            let widest = span(&self.positive, &other.positive).max(span(&self.negative, &other.negative));
            if widest <= MAX_BUCKETS as i64 {
                break;
            }
            scale -= 1;
        }
        let mut other = other.clone();
        other.downscale_to(scale);
        self.downscale_to(scale);
        self.zero = self.zero.saturating_add(other.zero);
        self.positive.add(&other.positive);
        self.negative.add(&other.negative);
    }

    /// What was counted since `earlier`, or None when `earlier` is not an
    /// earlier state of this histogram.
    pub fn since(&self, earlier: &Self) -> Option<Self> {
        let scale = self.scale.min(earlier.scale);
        let (mut now, mut before) = (self.clone(), earlier.clone());
        now.downscale_to(scale);
        before.downscale_to(scale);
        Some(Self {
            scale,
            zero: now.zero.checked_sub(before.zero)?,
            positive: now.positive.since(&before.positive)?,
            negative: now.negative.since(&before.negative)?,
        })
    }

    /// `(upper bound, count)` in increasing order: negative buckets from
    /// the largest magnitude, the zero bucket (bound 0), positive buckets.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        let mut out = Vec::with_capacity(self.positive.counts.len() + self.negative.counts.len() + 1);
        let negative = &self.negative;
        for (k, c) in negative.counts.iter().enumerate().rev() {
            out.push((-lower_bound(negative.offset + k as i64, self.scale), *c));
        }
        out.push((0.0, self.zero));
        let positive = &self.positive;
        for (k, c) in positive.counts.iter().enumerate() {
            out.push((lower_bound(positive.offset + k as i64 + 1, self.scale), *c));
        }
        out
    }
}

/// The `q` quantile of values counted in buckets given as `(upper bound,
/// weight)` in increasing order of bound, with the values' `min` and `max`
/// (NaN when unknown): interpolated linearly within the bucket it falls in,
/// as Prometheus' `histogram_quantile` does, the first and last buckets
/// bounded by `min` and `max`. NaN when nothing was counted.
pub fn quantile(buckets: &[(f64, f64)], min: f64, max: f64, q: f64) -> f64 {
    let total: f64 = buckets.iter().map(|(_, w)| w).sum();
    if total.is_nan() || total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let rank = q * total;
    let mut below = 0.0;
    let mut lower = if min.is_nan() { f64::NEG_INFINITY } else { min };
    for &(upper, weight) in buckets {
        if weight > 0.0 && below + weight >= rank {
            let upper = if max.is_nan() { upper } else { upper.min(max) };
            let lower = lower.min(upper);
            if !lower.is_finite() {
                return upper;
            }
            if !upper.is_finite() {
                return lower;
            }
            return lower + (upper - lower) * ((rank - below) / weight);
        }
        below += weight;
        lower = lower.max(upper);
    }
    if max.is_nan() { lower } else { max }
}
