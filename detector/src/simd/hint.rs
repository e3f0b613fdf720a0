//! Cache hints.

/// Asks the CPU to bring the cache line holding `p` into its nearest cache. A hint only: it
/// never faults and changes nothing the program can observe.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 never faults, whatever the address, and reads nothing into the
    // program; the pointer is not dereferenced.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// How many messages (or frames) ahead of the one being read a batch asks for the next with
/// [`prefetch_bytes`]: enough for a miss to the last-level cache or memory to land while the
/// ones before it are read (a few hundred ns each), few enough that the requests do not queue.
/// Four measured best in `bench detect` (eight was slower; all 64 of a batch at once slower
/// still, 2026-12-07).
pub const PREFETCH_AHEAD: usize = 4;

/// Cache lines at the start of a message [`prefetch_bytes`] asks for at most: the headers and
/// the start of the body, which the parser reads first; the hardware prefetcher follows a
/// longer read.
pub const PREFETCH_LINES: usize = 4;

/// Brings the first [`PREFETCH_LINES`] cache lines of `bytes`, and its last byte's (the parser
/// trims a trailing newline first), into cache: a batch asks for each message a few messages
/// before it parses it, so their cache misses overlap instead of coming one after the other.
#[inline(always)]
pub fn prefetch_bytes(bytes: &[u8]) {
    let Some(last) = bytes.last() else {
        return;
    };
    for at in (0..bytes.len().min(PREFETCH_LINES * 64)).step_by(64) {
        prefetch(bytes[at..].as_ptr());
    }
    if bytes.len() > PREFETCH_LINES * 64 {
        prefetch(last);
    }
}
