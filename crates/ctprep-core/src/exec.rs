//! How a kernel call runs, as two separate knobs: which single-thread [`Kernel`] and how many
//! [`Threads`], combined in [`Exec`]; and [`Variant`], the older one-word shorthand for a pair.

use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

/// Work (voxels) from which [`Threads::Auto`] splits a call over the rayon pool: below it,
/// rayon's start-up and the helper threads' cold caches cost more than a second thread saves.
///
/// Where it comes from: the thread sweep `cargo bench -p ctprep-benches --bench threads` runs
/// each crate's kernels on work from a quarter to four times this size on 1 to all threads. On
/// the 2-vCPU machines measured (docs/BENCHMARKS.md, "threads") the window and MIP kernels gain
/// from a second thread from a quarter to half of it on, and clearly at it; the resampler's own
/// split did not pay at any size swept, which is why the pipeline runs it one slab per worker
/// instead. Rerun the sweep (and `cargo xtask bench-report --group threads`) on the target
/// machine before changing it.
pub const PARALLEL_MIN_VOXELS: usize = 1 << 20;

/// Which single-thread kernel a call runs (on each task, when it is split over threads).
///
/// Every kernel crate offers these four; each call's report names the kernel that actually ran,
/// which for [`Kernel::Auto`] may be one of the crate's own (intensity's lookup table, say).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// The plain, obviously correct loop the others are tested against: the oracle. It always
    /// runs on the calling thread (whatever [`Threads`] says).
    Scalar,
    /// `wide` SIMD vectors, of the width fixed when compiling ([`Isa::target`]).
    Wide,
    /// Plain loops compiled once per instruction-set level by [`crate::dispatched!`] and chosen
    /// at run time ([`Isa::detected`]).
    Dispatched,
    /// The fastest exact single-thread kernel for the call (the default): the dispatched loops,
    /// or a crate's specialised kernel where it has one (intensity's lookup table and verified
    /// integer kernel).
    #[default]
    Auto,
}

impl Kernel {
    /// All kernels, in the order benchmarks list them.
    pub const ALL: [Kernel; 4] = [Kernel::Scalar, Kernel::Wide, Kernel::Dispatched, Kernel::Auto];

    /// The lower-case name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Wide => "wide",
            Kernel::Dispatched => "dispatched",
            Kernel::Auto => "auto",
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a kernel, thread count or variant that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?}: expected {expected}")]
pub struct ParseExecError {
    /// What was parsed: `kernel`, `threads` or `variant`.
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// The accepted forms.
    pub expected: &'static str,
}

impl FromStr for Kernel {
    type Err = ParseExecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kernel::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(s)).ok_or_else(|| ParseExecError {
            what: "kernel",
            value: s.to_owned(),
            expected: "scalar, wide, dispatched or auto",
        })
    }
}

/// How many threads a call uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Threads {
    /// The calling thread only; rayon is never entered.
    One,
    /// The current rayon pool (inside `ThreadPool::install`, that pool) when the call's work is
    /// at least [`PARALLEL_MIN_VOXELS`] voxels and the pool has more than one thread; else the
    /// calling thread (the default).
    #[default]
    Auto,
    /// Whatever the size: the work is cut into tasks for `n` threads (a crate's usual few tasks
    /// per thread) and run on the current rayon pool, which decides how many of its threads
    /// take them. For exactly `n` OS threads, install a pool of `n` threads around the call (as
    /// `ctprep --threads N` does). `Count(1)` is [`Threads::One`].
    Count(NonZeroUsize),
}

impl Threads {
    /// The number of threads a call of `work` voxels is split for on a pool of `pool` threads
    /// (the kernel crates pass `rayon::current_num_threads()`; this crate stays free of rayon):
    /// 1 means the calling thread alone.
    pub fn resolve(self, work: usize, pool: usize) -> usize {
        match self {
            Threads::One => 1,
            Threads::Auto => {
                if work >= PARALLEL_MIN_VOXELS && pool > 1 {
                    pool
                } else {
                    1
                }
            }
            Threads::Count(n) => n.get(),
        }
    }

    /// `n` threads: [`Threads::One`] for 0 or 1.
    pub fn count(n: usize) -> Threads {
        match NonZeroUsize::new(n) {
            Some(n) if n.get() > 1 => Threads::Count(n),
            _ => Threads::One,
        }
    }
}

impl fmt::Display for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threads::One => f.write_str("1"),
            Threads::Auto => f.write_str("auto"),
            Threads::Count(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for Threads {
    type Err = ParseExecError;

    /// `1`, `auto` (or `all`), or a thread count.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") || s.eq_ignore_ascii_case("all") {
            return Ok(Threads::Auto);
        }
        match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Threads::count(n)),
            _ => Err(ParseExecError {
                what: "threads",
                value: s.to_owned(),
                expected: "a positive thread count, or auto (all)",
            }),
        }
    }
}

/// How a kernel call runs: the kernel and the threads, two separate knobs, so a comparison
/// changes one thing at a time. Every setter's doc gives its default.
///
/// ```
/// use ctprep_core::{Exec, Kernel, Threads};
///
/// let exec = Exec::new().kernel(Kernel::Wide).threads(Threads::One);
/// assert_eq!(exec, "simd".parse::<ctprep_core::Variant>().unwrap().exec());
/// assert_eq!(Exec::default(), Exec::new().kernel(Kernel::Auto).threads(Threads::Auto));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Exec {
    /// The single-thread kernel.
    pub kernel: Kernel,
    /// The threads.
    pub threads: Threads,
}

impl Exec {
    /// The defaults: [`Kernel::Auto`] on [`Threads::Auto`].
    pub const fn new() -> Exec {
        Exec { kernel: Kernel::Auto, threads: Threads::Auto }
    }

    /// The kernel (default [`Kernel::Auto`]).
    pub const fn kernel(mut self, kernel: Kernel) -> Exec {
        self.kernel = kernel;
        self
    }

    /// The threads (default [`Threads::Auto`]).
    pub const fn threads(mut self, threads: Threads) -> Exec {
        self.threads = threads;
        self
    }

    /// The oracle on the calling thread.
    pub const SCALAR: Exec = Exec { kernel: Kernel::Scalar, threads: Threads::One };

    /// The number of threads a call of `work` voxels is split for: 1 for the scalar oracle, else
    /// [`Threads::resolve`].
    pub fn threads_for(self, work: usize, pool: usize) -> usize {
        if self.kernel == Kernel::Scalar { 1 } else { self.threads.resolve(work, pool) }
    }
}

impl fmt::Display for Exec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel {}, threads {}", self.kernel, self.threads)
    }
}

/// The one-word shorthand of the first command lines, kept for scripts: each names an [`Exec`].
///
/// | variant | kernel | threads |
/// |---|---|---|
/// | `scalar` | [`Kernel::Scalar`] | [`Threads::One`] |
/// | `simd` | [`Kernel::Wide`] | [`Threads::One`] |
/// | `parallel` | [`Kernel::Dispatched`] | [`Threads::Auto`] |
/// | `auto` | [`Kernel::Auto`] | [`Threads::Auto`] |
///
/// `parallel` names the dispatched loops (what its rayon tasks ran in the resampler and the
/// projection) rather than `auto`'s choice, so that it stays a different request from `auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The oracle on one thread.
    Scalar,
    /// `wide` vectors on one thread.
    Simd,
    /// The dispatched loops, split over the pool for large volumes.
    Parallel,
    /// The defaults of [`Exec`].
    #[default]
    Auto,
}

impl Variant {
    /// All variants, in the order benchmarks list them.
    pub const ALL: [Variant; 4] = [Variant::Scalar, Variant::Simd, Variant::Parallel, Variant::Auto];

    /// The lower-case name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Scalar => "scalar",
            Variant::Simd => "simd",
            Variant::Parallel => "parallel",
            Variant::Auto => "auto",
        }
    }

    /// The kernel and threads this shorthand names (see the table above).
    pub const fn exec(self) -> Exec {
        match self {
            Variant::Scalar => Exec::SCALAR,
            Variant::Simd => Exec { kernel: Kernel::Wide, threads: Threads::One },
            Variant::Parallel => Exec { kernel: Kernel::Dispatched, threads: Threads::Auto },
            Variant::Auto => Exec::new(),
        }
    }
}

impl From<Variant> for Exec {
    fn from(v: Variant) -> Exec {
        v.exec()
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = ParseExecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL.into_iter().find(|v| v.name().eq_ignore_ascii_case(s)).ok_or_else(|| ParseExecError {
            what: "variant",
            value: s.to_owned(),
            expected: "scalar, simd, parallel or auto",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>(), Ok(v));
            assert_eq!(v.to_string(), v.name());
        }
        for k in Kernel::ALL {
            assert_eq!(k.to_string().parse::<Kernel>(), Ok(k));
        }
        assert_eq!("SIMD".parse::<Variant>(), Ok(Variant::Simd));
        assert!("fast".parse::<Variant>().is_err());
        assert!("simd".parse::<Kernel>().is_err());
        for (s, t) in [("1", Threads::One), ("auto", Threads::Auto), ("ALL", Threads::Auto), ("3", Threads::count(3))] {
            assert_eq!(s.parse::<Threads>(), Ok(t));
        }
        assert_eq!(Threads::count(3).to_string(), "3");
        assert!("0".parse::<Threads>().is_err());
        assert!("-2".parse::<Threads>().is_err());
    }

    #[test]
    fn threads_resolve_on_a_pool() {
        assert_eq!(Threads::Auto.resolve(PARALLEL_MIN_VOXELS, 2), 2);
        assert_eq!(Threads::Auto.resolve(PARALLEL_MIN_VOXELS - 1, 2), 1);
        assert_eq!(Threads::Auto.resolve(usize::MAX, 1), 1);
        assert_eq!(Threads::count(3).resolve(1, 1), 3);
        assert_eq!(Threads::One.resolve(usize::MAX, 2), 1);
        assert_eq!(Exec::SCALAR.threads(Threads::Auto).threads_for(usize::MAX, 2), 1);
    }
}
