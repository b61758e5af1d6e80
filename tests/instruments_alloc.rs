//! Updating a series that exists allocates nothing: counted by this test
//! binary's global allocator around 10,000 updates of each kind, with
//! labels (in varying order) and through bound handles.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use edgemetrics::engine::instruments::{Descriptor, Kind, Registry, RegistryConfig};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn updating_an_existing_series_allocates_nothing() {
    let registry = Registry::new(RegistryConfig::default());
    let labels = [("service", "api"), ("route", "/users"), ("method", "GET"), ("code", "200")];
    let reordered = [("code", "200"), ("method", "GET"), ("service", "api"), ("route", "/users")];
    for kind in
        [Kind::Counter, Kind::UpDownCounter, Kind::Gauge, Kind::Histogram, Kind::ExponentialHistogram, Kind::Summary]
    {
        let instrument = registry.instrument(Descriptor::new(kind, &format!("i{kind:?}"))).unwrap();
        let bound = instrument.bind(&labels).unwrap();
        // The series exists, and its buckets cover the values below.
        for v in [1.0, 999.0] {
            instrument.record(v, &labels).unwrap();
        }
        let made = allocations_in(|| {
            for i in 0..10_000 {
                let v = f64::from(i % 998 + 1);
                instrument.record(v, if i % 2 == 0 { &labels } else { &reordered }).unwrap();
                bound.record(v).unwrap();
                // The native API's integers.
                instrument.add_whole(i64::from(i % 998 + 1), &reordered).unwrap();
                bound.add_whole(i64::from(i % 998 + 1)).unwrap();
            }
        });
        assert_eq!(made, 0, "{kind:?}: {made} allocations for 40,000 updates");
    }
}
