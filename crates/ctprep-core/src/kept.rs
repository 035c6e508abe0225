//! Working buffers a kernel keeps per thread between calls.

use std::cell::Cell;
use std::thread::LocalKey;

/// Runs `f` on this thread's kept `T` (a default one the first time, or while a call on this
/// thread is already using it), then keeps it for the next call if `keep` says so.
///
/// For kernels called slab after slab: a buffer of a megabyte or two allocated fresh per call
/// comes back from glibc's per-thread arenas as fresh pages, faulted in again on every call
/// (18,000 of the 29,000 page faults of `ctprep run` on a 512x512x300 CT before resample and
/// the projection kept theirs). Whatever `f` leaves in the buffers is seen by the next call, so
/// `f` must not read what it has not written in the same call.
pub fn with_kept<T: Default + 'static, R>(
    key: &'static LocalKey<Cell<T>>,
    keep: impl FnOnce(&T) -> bool,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut kept = key.take();
    let r = f(&mut kept);
    if keep(&kept) {
        key.set(kept);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    #[test]
    fn keeps_what_keep_accepts_and_gives_back_the_rest() {
        with_kept(&BUF, |_| true, |b| b.resize(1000, 7));
        assert_eq!(with_kept(&BUF, |_| true, |b| b.len()), 1000, "kept between calls");
        with_kept(&BUF, |b| b.capacity() <= 10, |b| b.resize(2000, 0));
        assert_eq!(with_kept(&BUF, |_| true, |b| b.capacity()), 0, "given back, a default one next");
        // A nested call gets a buffer of its own.
        with_kept(
            &BUF,
            |_| true,
            |b| {
                b.push(1);
                assert!(with_kept(&BUF, |_| false, |inner| inner.is_empty()));
            },
        );
        assert_eq!(with_kept(&BUF, |_| true, |b| b.clone()), vec![1]);
        assert_eq!(
            std::thread::spawn(|| with_kept(&BUF, |_| true, |b| b.len())).join().expect("a thread"),
            0,
            "per thread"
        );
    }
}
