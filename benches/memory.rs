//! `cargo bench --bench memory`: heap bytes held per parked call, counted by a global
//! allocator that wraps the system's: the bytes the code asked for, and the bytes malloc
//! holds for them (`malloc_usable_size` plus its 8-byte block header).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::*;

struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static HELD: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

/// What malloc holds for a block at `p`: its usable size and its header.
fn held(p: *mut u8) -> isize {
    // SAFETY: `p` is a live block of the system allocator.
    (unsafe { libc::malloc_usable_size(p.cast()) } + 8) as isize
}

fn count(p: *mut u8, size: usize) {
    BYTES.fetch_add(size as isize, Ordering::Relaxed);
    HELD.fetch_add(held(p), Ordering::Relaxed);
    BLOCKS.fetch_add(1, Ordering::Relaxed);
}

fn uncount(p: *mut u8, size: usize) {
    BYTES.fetch_sub(size as isize, Ordering::Relaxed);
    HELD.fetch_sub(held(p), Ordering::Relaxed);
    BLOCKS.fetch_sub(1, Ordering::Relaxed);
}

// The system allocator on Linux is malloc: its blocks can be measured as above (every
// alignment asked for here is at most 16, which malloc serves itself).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(p, layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(p, layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        uncount(ptr, layout.size());
        unsafe { System.dealloc(ptr, layout) };
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        uncount(ptr, layout.size());
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            count(ptr, layout.size());
        } else {
            count(p, new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn now() -> [isize; 3] {
    [&BYTES, &HELD, &BLOCKS].map(|c| c.load(Ordering::Relaxed))
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: then a quick check.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[1_000, 10_000, 100_000] } else { &[1_000] };
    println!("heap per parked call, calls spread over 10,000 tenants (extensions 100..=999)");
    println!(
        "{:>8} {:>16} {:>16} {:>12} {:>14}",
        "parked", "asked bytes/call", "malloc bytes/call", "blocks/call", "asked MiB"
    );
    let mut last = 0.0;
    for &n in sizes {
        let engine = spread_engine(0);
        let before = now();
        fill(&engine, n);
        let after = now();
        let per = |i: usize| (after[i] - before[i]) as f64 / n as f64;
        println!(
            "{n:>8} {:>16.0} {:>16.0} {:>12.1} {:>14.1}",
            per(0),
            per(1),
            per(2),
            (after[0] - before[0]) as f64 / f64::from(1 << 20)
        );
        last = per(0);
        drop(engine);
    }
    if full {
        println!("target: under 1024 asked bytes per call at 100000: {}", if last < 1024.0 { "met" } else { "MISSED" });
    } else {
        println!("(quick check; the target is for 100,000 calls: cargo bench --bench memory)");
    }
}
