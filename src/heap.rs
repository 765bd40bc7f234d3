//! The library's own heap use, so that `callpark status` (and the soak test) can show
//! the module's memory apart from the switch's.
//!
//! With the `heap-count` feature (on in the module's build, `make lib`) the library
//! installs a global allocator that counts the bytes Rust code holds: two relaxed atomic
//! additions per allocation, on top of the system allocator. Memory the switch allocates
//! for the module (channels, its pools) is FreeSWITCH's and is not counted. Without the
//! feature (cargo's default, so that the memory benchmark can bring its own counting
//! allocator) nothing is counted and [`bytes_in_use`] is `None`.

use std::sync::atomic::{AtomicUsize, Ordering};

static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Bytes the library holds on the heap right now, when counted.
pub fn bytes_in_use() -> Option<usize> {
    cfg!(feature = "heap-count").then(|| IN_USE.load(Ordering::Relaxed))
}

#[cfg(feature = "heap-count")]
mod counting {
    use super::IN_USE;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::Ordering::Relaxed;

    struct Counting;

    // SAFETY: every call is passed on to the system allocator unchanged; only the
    // counter is added.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract is System's.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                IN_USE.fetch_add(layout.size(), Relaxed);
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as alloc.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                IN_USE.fetch_add(layout.size(), Relaxed);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: ptr came from this allocator, that is from System, with layout.
            unsafe { System.dealloc(ptr, layout) };
            IN_USE.fetch_sub(layout.size(), Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as dealloc; on failure the old block stays and so does its count.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                IN_USE.fetch_add(new_size, Relaxed);
                IN_USE.fetch_sub(layout.size(), Relaxed);
            }
            p
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

#[cfg(all(test, feature = "heap-count"))]
mod tests {
    #[test]
    fn counts_what_is_held() {
        let before = super::bytes_in_use().unwrap();
        let v: Vec<u8> = Vec::with_capacity(1 << 20);
        let during = super::bytes_in_use().unwrap();
        drop(v);
        // Other tests allocate at the same time: only a lower bound holds.
        assert!(during >= before.saturating_sub(1 << 16) + (1 << 20) - (1 << 16), "{before} {during}");
    }
}
