//! Large scratch and voxel buffers: anonymous mappings advised to use transparent huge pages.
//!
//! The first touch of a fresh volume-sized `Vec` costs one page fault per 4 KiB, which can take
//! longer than decoding into it; with huge pages it costs a few hundred. Where huge pages are
//! unavailable the advice is ignored and the mapping behaves like any zeroed allocation.

use memmap2::MmapMut;

/// Buffers of at least this many bytes are worth a mapping of their own.
pub(crate) const HUGE_BUFFER_BYTES: usize = 1 << 20;

/// A zeroed, writable, page-aligned buffer of `bytes` bytes (at least one page).
pub(crate) fn huge_zeroed(bytes: usize) -> std::io::Result<MmapMut> {
    let map = MmapMut::map_anon(bytes.max(1))?;
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    Ok(map)
}

/// Buffers at least this large get their pages faulted in by a helper thread while they fill.
pub(crate) const PREFAULT_MIN_BYTES: usize = 16 << 20;

/// Runs `fill` on all of `map` while, on Linux with more than one CPU, a helper thread faults
/// the mapping's pages in for writing ahead of it (`MADV_POPULATE_WRITE`, 8 MiB at a time), so
/// the kernel's page zeroing runs beside `fill` instead of inside it (docs/BENCHMARKS.md has the
/// decode times with and without it). The helper never changes the contents
/// (populating leaves written pages as they are) and stops at `fill`'s end or at the first
/// refusal (kernels before 5.14 do not know the advice); the pages it did not reach are then
/// faulted by `fill` as usual.
pub(crate) fn fill_with_prefault<R>(map: &mut MmapMut, fill: impl FnOnce(&mut [u8]) -> R) -> R {
    #[cfg(target_os = "linux")]
    if map.len() >= PREFAULT_MIN_BYTES && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1) {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (addr, len) = (map.as_mut_ptr() as usize, map.len());
        let done = AtomicBool::new(false);
        return std::thread::scope(|s| {
            s.spawn(|| populate(addr, len, &done));
            let r = fill(&mut map[..]);
            done.store(true, Ordering::Relaxed);
            r
        });
    }
    fill(&mut map[..])
}

/// Populates `addr..addr + len` for writing, chunk by chunk, until `done` or a refusal.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn populate(addr: usize, len: usize, done: &std::sync::atomic::AtomicBool) {
    const CHUNK: usize = 8 << 20;
    let mut at = 0;
    while at < len && !done.load(std::sync::atomic::Ordering::Relaxed) {
        let n = CHUNK.min(len - at);
        // SAFETY: `addr..addr + len` is a live anonymous mapping owned by the caller of
        // `fill_with_prefault`, which keeps it mapped until this thread has been joined.
        // MADV_POPULATE_WRITE only installs page-table entries, as a write fault would; it reads
        // and writes no memory, so it cannot race with `fill`'s writes. `addr + at` stays
        // page-aligned (the mapping is, and CHUNK is a multiple of 4 KiB and 2 MiB pages).
        let r = unsafe { libc::madvise((addr + at) as *mut libc::c_void, n, libc::MADV_POPULATE_WRITE) };
        if r != 0 {
            return;
        }
        at += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The helper populates pages while `fill` writes them: every byte `fill` wrote survives,
    /// including those in pages the helper reached after `fill` had written them.
    #[test]
    fn prefaulting_keeps_what_fill_writes() {
        let len = PREFAULT_MIN_BYTES * 2 + 4096 * 3 + 17;
        let mut map = huge_zeroed(len).expect("maps");
        let pattern = |i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1;
        let written = fill_with_prefault(&mut map, |buf| {
            // Write from the end backwards, so the helper (walking forwards) reaches pages this
            // loop has already written.
            for (i, b) in buf.iter_mut().enumerate().rev() {
                *b = pattern(i);
            }
            buf.len()
        });
        assert_eq!(written, map.len());
        assert!(map.iter().enumerate().all(|(i, &b)| b == pattern(i)), "a written byte changed");
    }
}
