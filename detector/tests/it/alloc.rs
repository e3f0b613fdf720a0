//! The test binary's global allocator: every call forwarded to the system allocator, and per
//! thread (so tests running side by side do not count each other's) the bytes held and, while
//! a test asks, the allocations made.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

struct Counting;

thread_local! {
    /// Bytes this thread holds (frees of what another thread allocated may make it negative).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Whether allocations are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations (and reallocations) counted.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Bytes this thread holds now.
pub fn live() -> isize {
    LIVE.with(Cell::get)
}

/// How many allocations (and reallocations) `f` made on this thread.
pub fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get) - before)
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counting only touches
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.with(|l| l.set(l.get() + layout.size() as isize));
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|l| l.set(l.get() - layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.with(|l| l.set(l.get() + new_size as isize - layout.size() as isize));
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn the_counter_counts() {
    let (v, n) = allocations_of(|| std::hint::black_box(vec![1u8; 10]));
    assert_eq!((v.len(), n), (10, 1));
    let held = live();
    let w = std::hint::black_box(vec![0u8; 1000]);
    assert_eq!(live() - held, 1000);
    drop(w);
    assert_eq!(live(), held);
}
