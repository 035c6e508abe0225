//! Which implementation of a kernel runs: the scalar oracle, the `wide` SIMD loop, rayon over
//! the SIMD loop, or a choice made at run time.

use std::fmt;
use std::str::FromStr;

/// The implementation a kernel call uses.
///
/// Every kernel crate offers the same four: `Scalar` is the plain, obviously correct loop that
/// the others are tested against; `Simd` uses `wide` vectors on one thread; `Parallel` splits the
/// volume into independent slabs and runs the SIMD kernel on each with rayon; `Auto` picks one
/// per call from the volume size and the thread count. Kernels report which variant ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Plain loops: the oracle.
    Scalar,
    /// `wide` vectors, single thread.
    Simd,
    /// rayon over independent slabs, each running the SIMD kernel.
    Parallel,
    /// Chosen per call (the default): parallel for large volumes when [`auto_parallel_here`]
    /// (more than one thread in the current pool, outside [`with_auto_on_one_thread`]).
    #[default]
    Auto,
}

impl Variant {
    /// All variants, in the order benchmarks list them.
    pub const ALL: [Variant; 4] = [Variant::Scalar, Variant::Simd, Variant::Parallel, Variant::Auto];

    /// The lower-case name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Scalar => "scalar",
            Variant::Simd => "simd",
            Variant::Parallel => "parallel",
            Variant::Auto => "auto",
        }
    }
}

thread_local! {
    /// Set while [`with_auto_on_one_thread`] runs on this thread.
    static ONE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with `Auto` kept to one thread on this thread: for a caller that already runs jobs
/// side by side (one slab per rayon worker, say), where splitting each job again would only add
/// overhead (a resampling run restarts its cache of input slices at every split).
pub fn with_auto_on_one_thread<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ONE_THREAD.set(self.0);
        }
    }
    let _restore = Restore(ONE_THREAD.replace(true));
    f()
}

/// Whether `Auto` may run a large job on the rayon pool from here: the pool (the current one,
/// inside `ThreadPool::install`) has more than one thread and the caller is not inside
/// [`with_auto_on_one_thread`].
pub fn auto_parallel_here() -> bool {
    rayon::current_num_threads() > 1 && !ONE_THREAD.get()
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a variant name that is not one of `scalar`, `simd`, `parallel`, `auto`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown variant {0:?}: expected scalar, simd, parallel or auto")]
pub struct ParseVariantError(pub String);

impl FromStr for Variant {
    type Err = ParseVariantError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseVariantError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_stays_on_one_thread_only_where_asked() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
        assert!(pool.install(auto_parallel_here), "a two-thread pool's jobs may split");
        assert!(!pool.install(|| with_auto_on_one_thread(auto_parallel_here)));
        assert!(pool.install(|| {
            with_auto_on_one_thread(|| ());
            auto_parallel_here()
        }));
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
        assert!(!one.install(auto_parallel_here));
        let nested = std::panic::catch_unwind(|| with_auto_on_one_thread(|| panic!("inside")));
        assert!(nested.is_err());
        assert!(!ONE_THREAD.get(), "restored after a panic");
    }

    #[test]
    fn names_round_trip() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>(), Ok(v));
            assert_eq!(v.to_string(), v.name());
        }
        assert_eq!("SIMD".parse::<Variant>(), Ok(Variant::Simd));
        assert!("fast".parse::<Variant>().is_err());
    }
}
