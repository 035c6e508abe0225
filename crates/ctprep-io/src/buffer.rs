//! Large scratch and voxel buffers: anonymous mappings advised to use transparent huge pages.
//!
//! On these machines the first touch of a fresh 157 MB `Vec` costs ~60 ms of 4 KiB page faults,
//! more than decoding into it; with huge pages it costs ~9 ms. Where huge pages are unavailable
//! the advice is ignored and the mapping behaves like any zeroed allocation.

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
