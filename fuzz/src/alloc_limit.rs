//! The fuzz driver's allocator: the system's, counting the bytes held so
//! that a run can bound what one input holds, and stopping the process on
//! a single request past [`HARD_LIMIT`] (which would otherwise abort or
//! swap without saying which input asked), printing the input first.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The largest single allocation an input may ask for.
pub const HARD_LIMIT: usize = 1 << 30;

struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// SAFETY: every call goes to `System` with the caller's layout; the
// counters are atomics that never affect what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_LIMIT {
            too_large(layout.size());
        }
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let held = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(held, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_LIMIT {
            too_large(new_size);
        }
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
            let held = HELD.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(held, Ordering::Relaxed);
        }
        p
    }
}

/// Prints the input that asked for `size` bytes, in hex, without
/// allocating, and aborts.
fn too_large(size: usize) -> ! {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "edgemetrics-fuzz: one allocation of {size} bytes (over {HARD_LIMIT}) for the input:");
    let (ptr, len) = (INPUT.load(Ordering::Relaxed), INPUT_LEN.load(Ordering::Relaxed));
    if !ptr.is_null() {
        // SAFETY: set from a live slice by `set_current_input` before the
        // target ran; the target is still running.
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for chunk in input.chunks(64) {
            let mut line = [0u8; 128];
            for (i, b) in chunk.iter().enumerate() {
                line[2 * i] = DIGITS[usize::from(b >> 4)];
                line[2 * i + 1] = DIGITS[usize::from(b & 15)];
            }
            let _ = err.write_all(&line[..2 * chunk.len()]);
        }
        let _ = err.write_all(b"\n");
    }
    std::process::abort()
}

/// Marks `input` as the one running (printed if it asks too much).
pub fn set_current_input(input: &[u8]) {
    INPUT_LEN.store(input.len(), Ordering::Relaxed);
    INPUT.store(input.as_ptr().cast_mut(), Ordering::Relaxed);
}

/// Starts a new peak at what is held now; returns it.
pub fn reset_peak() -> usize {
    let held = HELD.load(Ordering::Relaxed);
    PEAK.store(held, Ordering::Relaxed);
    held
}

/// The most held since [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}
