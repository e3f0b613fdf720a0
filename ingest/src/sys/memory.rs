//! The process's allocator: the C library's, except that a block of 2 MiB or more is mapped on
//! its own, aligned to 2 MiB and advised for transparent huge pages (`MADV_HUGEPAGE`).
//!
//! Why: the detection engine's tables (hundreds of MiB from the memory budget) are read at
//! random places, a few cache lines per message. On 4 KiB pages nearly every one of those reads
//! also misses the TLB, and the page walk's own reads miss the cache: on a worker the table
//! prefetches stalled on them. A 2 MiB page maps 512 times as much per TLB entry. Small blocks
//! stay with the C library, which serves them faster than the kernel would.
//!
//! The advice is a hint: with transparent huge pages set to `never`, or when the kernel finds
//! no free 2 MiB page, the block has 4 KiB pages and works the same. A mapping is freed with
//! `munmap`, and grown or shrunk across the 2 MiB line by a copy (the worker allocates nothing
//! after start, so this happens while the engine is built).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    ptr,
};

/// Blocks at least this long (and the alignment of their mappings): one huge page.
pub const HUGE: usize = 2 << 20;

/// The allocator, for `#[global_allocator]` in the daemon and in `bench`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HugeAlloc;

/// Whether a block of `layout` is mapped on its own.
fn own_mapping(size: usize, align: usize) -> bool {
    size >= HUGE && align <= HUGE
}

/// A mapping's length for `size` bytes: whole huge pages.
fn mapped_len(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(HUGE)
}

/// Maps `size` bytes (zeroed), aligned to [`HUGE`], advised for huge pages; null when the
/// kernel refuses.
fn map(size: usize) -> *mut u8 {
    let Some(len) = mapped_len(size) else {
        return ptr::null_mut();
    };
    let Some(over) = len.checked_add(HUGE) else {
        return ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping at an address the kernel chooses touches no
    // existing memory; the result is checked before use.
    let raw = unsafe {
        libc::mmap(
            ptr::null_mut(),
            over,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    let raw = raw.cast::<u8>();
    let head = (raw as usize).next_multiple_of(HUGE) - raw as usize;
    let tail = over - head - len;
    // SAFETY: `head <= HUGE` and `head + len + tail == over`, so both pieces lie inside the
    // mapping just made, and nothing refers to them; the aligned middle stays mapped.
    unsafe {
        let start = raw.add(head);
        if head > 0 {
            libc::munmap(raw.cast(), head);
        }
        if tail > 0 {
            libc::munmap(start.add(len).cast(), tail);
        }
        // A hint: refused (no THP in this kernel), the pages are 4 KiB ones.
        libc::madvise(start.cast(), len, libc::MADV_HUGEPAGE);
        start
    }
}

/// Unmaps a block from [`map`] of `size` bytes.
///
/// # Safety
/// `p` came from [`map`] with the same `size`, and nothing uses it any more.
unsafe fn unmap(p: *mut u8, size: usize) {
    let len = mapped_len(size).expect("a length that was mapped");
    // SAFETY: the caller guarantees this is the whole mapping and that it is no longer used.
    unsafe {
        libc::munmap(p.cast(), len);
    }
}

// SAFETY: every block is either the system allocator's (small or over-aligned blocks, passed
// through with the caller's layout) or a mapping of its own (at least `HUGE` bytes, aligned to
// `HUGE`, so to any alignment up to it); which one is decided by the layout alone, so
// `dealloc` and `realloc`, given the same layout, always undo what `alloc` did.
unsafe impl GlobalAlloc for HugeAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if own_mapping(layout.size(), layout.align()) {
            map(layout.size())
        } else {
            // SAFETY: the caller's contract (a non-zero size) is passed on.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if own_mapping(layout.size(), layout.align()) {
            // Anonymous mappings are zeroed by the kernel, page by page when first touched.
            map(layout.size())
        } else {
            // SAFETY: as in `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if own_mapping(layout.size(), layout.align()) {
            // SAFETY: a block of this layout was made by `map` (see the impl's reason).
            unsafe { unmap(p, layout.size()) }
        } else {
            // SAFETY: a block of this layout came from the system allocator.
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        match (
            own_mapping(layout.size(), align),
            own_mapping(new_size, align),
        ) {
            // SAFETY: the block and both sizes are the system allocator's.
            (false, false) => unsafe { System.realloc(p, layout, new_size) },
            (true, true) if mapped_len(layout.size()) == mapped_len(new_size) => p,
            _ => {
                // SAFETY: the caller guarantees `new_size`, rounded up to `align`, fits an
                // isize, and `align` is a valid alignment already.
                let new = unsafe { Layout::from_size_align_unchecked(new_size, align) };
                // SAFETY: `new` has a non-zero size (the caller's contract).
                let q = unsafe { self.alloc(new) };
                if !q.is_null() {
                    // SAFETY: both blocks are live, distinct, and at least this long; the old
                    // one is freed with the layout it was made with.
                    unsafe {
                        ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                        self.dealloc(p, layout);
                    }
                }
                q
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).expect("a layout")
    }

    /// Whether the kernel may back the mapping holding `p` with huge pages, as
    /// `/proc/self/smaps` says (`THPeligible`); none when it does not say.
    fn thp_eligible(p: *const u8) -> Option<bool> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((lo, hi)) = range.split_once('-')
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&(p as usize));
            } else if inside && let Some(v) = line.strip_prefix("THPeligible:") {
                return Some(v.trim() == "1");
            }
        }
        None
    }

    #[test]
    fn large_blocks_are_aligned_zeroed_and_advised() {
        let a = HugeAlloc;
        let size = 5 * HUGE + 123;
        // SAFETY: a non-zero size; freed below with the same layout.
        let p = unsafe { a.alloc_zeroed(layout(size)) };
        assert!(!p.is_null());
        assert_eq!(p as usize % HUGE, 0);
        // SAFETY: `size` bytes were just allocated.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p, size) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[size - 1] = 7;
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !thp.is_empty() && !thp.contains("[never]") {
            assert_eq!(thp_eligible(p), Some(true), "THP: {thp}");
        }
        // SAFETY: allocated above with this layout.
        unsafe { a.dealloc(p, layout(size)) };
    }

    #[test]
    fn blocks_keep_their_bytes_across_the_line() {
        let a = HugeAlloc;
        // Small to large, large to larger, larger to small: every way across the line, and
        // within one mapping.
        let sizes = [1000, HUGE + 5, HUGE + 10, 3 * HUGE, 512];
        // SAFETY: a non-zero size.
        let mut p = unsafe { a.alloc(layout(sizes[0])) };
        assert!(!p.is_null());
        // SAFETY: `sizes[0]` bytes were allocated.
        unsafe { std::slice::from_raw_parts_mut(p, sizes[0]) }
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8);
        for w in sizes.windows(2) {
            // SAFETY: `p` holds `w[0]` bytes with this layout; `w[1]` is non-zero.
            p = unsafe { a.realloc(p, layout(w[0]), w[1]) };
            assert!(!p.is_null());
            let kept = w[0].min(w[1]).min(sizes[0]);
            // SAFETY: at least `kept` bytes are allocated.
            let bytes = unsafe { std::slice::from_raw_parts(p, kept) };
            assert!(
                bytes.iter().enumerate().all(|(i, &b)| b == i as u8),
                "{w:?}"
            );
        }
        // SAFETY: the last realloc gave this layout.
        unsafe { a.dealloc(p, layout(sizes[sizes.len() - 1])) };
    }

    #[test]
    fn over_aligned_blocks_stay_with_the_system() {
        assert!(!own_mapping(4 * HUGE, 2 * HUGE));
        assert!(own_mapping(HUGE, HUGE));
        assert!(!own_mapping(HUGE - 1, 8));
    }
}
