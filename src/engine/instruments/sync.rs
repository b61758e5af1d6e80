//! The two synchronisation pieces the instruments need, for every target
//! the engine builds for: a 64-bit cell updated with atomics (where the
//! target has 64-bit atomics; a spin lock around it where it has not, as
//! on Cortex-M4), and a spin lock for state that does not fit a word (the
//! exponential histogram's buckets, the summary's sketch). No blocking: the
//! engine has no `std`, and every critical section is a few instructions.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A spin lock: `lock()` gives the value, released when the guard drops.
#[derive(Debug, Default)]
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock gives one `&mut T` at a time, so sharing the lock is
// sharing `T` by moves across threads, which `T: Send` allows.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A lock around `value`.
    pub const fn new(value: T) -> Self {
        SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    /// Waits until the lock is free, and takes it.
    #[inline]
    pub fn lock(&self) -> SpinGuard<'_, T> {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        SpinGuard { lock: self }
    }
}

/// The value of a taken [`SpinLock`].
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock: no other reference exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// Asks the CPU to bring the cache line at `at` in, for a loop over
/// values in memory of their own that will read it a few rounds later.
/// Nothing on targets other than x86_64; only the exposition (`std`) uses it.
#[cfg(feature = "std")]
#[inline(always)]
pub fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86_64, and a prefetch never faults, whatever
    // the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(target_has_atomic = "64")]
mod word {
    use core::sync::atomic::{AtomicU64, Ordering};

    /// A 64-bit cell (an integer, or an `f64`'s bits) shared between
    /// threads: `Relaxed` atomics, since each value stands alone.
    #[derive(Debug, Default)]
    pub struct Word(AtomicU64);

    impl Word {
        pub const fn new(v: u64) -> Self {
            Word(AtomicU64::new(v))
        }
        #[inline]
        pub fn get(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
        #[inline]
        pub fn set(&self, v: u64) {
            self.0.store(v, Ordering::Relaxed)
        }
        #[inline]
        pub fn add(&self, v: u64) {
            self.0.fetch_add(v, Ordering::Relaxed);
        }
        #[inline]
        pub fn swap(&self, v: u64) -> u64 {
            self.0.swap(v, Ordering::Relaxed)
        }
        /// Replaces the value with `f(value)`, retrying on a race.
        #[inline]
        pub fn update(&self, f: impl Fn(u64) -> u64) {
            let mut old = self.get();
            while let Err(now) = self.0.compare_exchange_weak(old, f(old), Ordering::Relaxed, Ordering::Relaxed) {
                old = now;
            }
        }
    }
}

#[cfg(not(target_has_atomic = "64"))]
mod word {
    use super::SpinLock;

    /// A 64-bit cell on a target without 64-bit atomics: a spin lock around it.
    #[derive(Debug, Default)]
    pub struct Word(SpinLock<u64>);

    impl Word {
        pub const fn new(v: u64) -> Self {
            Word(SpinLock::new(v))
        }
        pub fn get(&self) -> u64 {
            *self.0.lock()
        }
        pub fn set(&self, v: u64) {
            *self.0.lock() = v;
        }
        pub fn add(&self, v: u64) {
            let mut w = self.0.lock();
            *w = w.wrapping_add(v);
        }
        pub fn swap(&self, v: u64) -> u64 {
            core::mem::replace(&mut *self.0.lock(), v)
        }
        pub fn update(&self, f: impl Fn(u64) -> u64) {
            let mut w = self.0.lock();
            *w = f(*w);
        }
    }
}

pub use word::Word;

/// An `f64` in a [`Word`].
#[derive(Debug, Default)]
pub struct F64(Word);

impl F64 {
    pub const fn new(v: f64) -> Self {
        F64(Word::new(v.to_bits()))
    }
    #[inline]
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.get())
    }
    #[inline]
    pub fn set(&self, v: f64) {
        self.0.set(v.to_bits())
    }
    #[inline]
    pub fn add(&self, v: f64) {
        self.0.update(|bits| (f64::from_bits(bits) + v).to_bits())
    }
    #[inline]
    pub fn swap(&self, v: f64) -> f64 {
        f64::from_bits(self.0.swap(v.to_bits()))
    }
    /// Keeps the smaller of the value and `v`.
    #[inline]
    pub fn min(&self, v: f64) {
        if v < self.get() {
            self.0.update(|bits| f64::from_bits(bits).min(v).to_bits())
        }
    }
    /// Keeps the larger of the value and `v`.
    #[inline]
    pub fn max(&self, v: f64) {
        if v > self.get() {
            self.0.update(|bits| f64::from_bits(bits).max(v).to_bits())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_floats_add_up_across_threads() {
        let count = Word::new(0);
        let sum = F64::new(0.0);
        let low = F64::new(f64::INFINITY);
        let lock = SpinLock::new(alloc::vec::Vec::new());
        std::thread::scope(|s| {
            for t in 0..4 {
                let (count, sum, low, lock) = (&count, &sum, &low, &lock);
                s.spawn(move || {
                    for i in 0..10_000 {
                        count.add(1);
                        sum.add(0.5);
                        low.min(f64::from(t * 10_000 + i));
                        lock.lock().push(i);
                    }
                });
            }
        });
        assert_eq!(count.get(), 40_000);
        assert_eq!(sum.get(), 20_000.0);
        assert_eq!(low.get(), 0.0);
        assert_eq!(lock.lock().len(), 40_000);
    }
}
