//! The global allocator of a plugin library, which forwards to the host's.

// Forwarding allocations is unsafe by nature; each use states what makes it sound.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;

/// The host's allocation functions, which a library's global allocator calls.
#[derive(Debug, Clone, Copy)]
pub struct HostAllocator {
    alloc: unsafe fn(Layout) -> *mut u8,
    alloc_zeroed: unsafe fn(Layout) -> *mut u8,
    dealloc: unsafe fn(*mut u8, Layout),
    realloc: unsafe fn(*mut u8, Layout, usize) -> *mut u8,
}

impl HostAllocator {
    /// Returns the functions of the global allocator of the binary this runs in.
    #[must_use]
    pub fn of_this_binary() -> Self {
        Self {
            alloc: std::alloc::alloc,
            alloc_zeroed: std::alloc::alloc_zeroed,
            dealloc: std::alloc::dealloc,
            realloc: std::alloc::realloc,
        }
    }
}

/// The host's allocator, once [`load`](super::load) installed it in this copy of the SDK.
static HOST_ALLOCATOR: OnceLock<HostAllocator> = OnceLock::new();

/// The global allocator of a plugin library: the host's allocator once the library is
/// loaded, the system allocator before.
///
/// The host binary uses the system allocator too, so the few allocations made before
/// [`load`](super::load) (the dynamic loader runs no Rust code that allocates) are freed
/// correctly either way.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardingAllocator;

// SAFETY: every method forwards to an allocator that upholds `GlobalAlloc`'s contract,
// and each block is freed by the allocator that made it: the host's, or before the host
// installed it, the system allocator that the host also uses.
unsafe impl GlobalAlloc for ForwardingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match HOST_ALLOCATOR.get() {
            // SAFETY: forwarded with the caller's guarantees.
            Some(host) => unsafe { (host.alloc)(layout) },
            // SAFETY: as above.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match HOST_ALLOCATOR.get() {
            // SAFETY: forwarded with the caller's guarantees.
            Some(host) => unsafe { (host.alloc_zeroed)(layout) },
            // SAFETY: as above.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match HOST_ALLOCATOR.get() {
            // SAFETY: forwarded with the caller's guarantees.
            Some(host) => unsafe { (host.dealloc)(ptr, layout) },
            // SAFETY: as above.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match HOST_ALLOCATOR.get() {
            // SAFETY: forwarded with the caller's guarantees.
            Some(host) => unsafe { (host.realloc)(ptr, layout, new_size) },
            // SAFETY: as above.
            None => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}

/// Makes `host` the allocator of this copy of the SDK's [`ForwardingAllocator`]. Only the
/// first call takes effect.
pub(super) fn install(host: HostAllocator) {
    let _ = HOST_ALLOCATOR.set(host);
}
