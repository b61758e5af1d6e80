//! The allocator and the panic handler of the wasm core, which is built
//! without `std` (`--no-default-features --features wasm`).

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: the wasm core runs on one thread.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// A panic is a bug in the core: the wasm instance traps and the JS side
/// reports it. No message is formatted (that would link `core::fmt`).
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
