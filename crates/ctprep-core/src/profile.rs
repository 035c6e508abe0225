//! What `auto` runs: the kernel and threads a machine's measured profile names for each stage
//! and size of work ([`Profile`], written by `ctprep tune`), or the fallback rule when no
//! profile is installed.
//!
//! A profile is installed once per process ([`install`]); every kernel crate then plans each
//! call with [`Exec::plan`], which keeps each knob the caller set and fills each one left
//! `auto` from the profile, or from the fallback: the crate's own best exact kernel
//! ([`Kernel::Auto`]) and [`Threads::resolve`]'s size threshold ([`crate::PARALLEL_MIN_VOXELS`]).

use std::fmt;
use std::sync::OnceLock;

use crate::{Exec, Kernel, Threads};

/// A stage whose kernel and threads `auto` chooses. Windows are two stages: from 8- and 16-bit
/// integers (where a lookup table can win) and from everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Windowing of 8- and 16-bit integer inputs.
    WindowInt,
    /// Windowing of other inputs (32/64-bit integers, floats).
    WindowFloat,
    /// Slab projections (MIP, minimum, mean).
    Mip,
    /// Trilinear resampling (separable and general paths).
    Resample,
}

impl Stage {
    /// Every stage, in the order reports list them.
    pub const ALL: [Stage; 4] = [Stage::WindowInt, Stage::WindowFloat, Stage::Mip, Stage::Resample];

    /// The name in profiles and reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::WindowInt => "window_int",
            Stage::WindowFloat => "window_float",
            Stage::Mip => "mip",
            Stage::Resample => "resample",
        }
    }

    /// The stage of a name, as [`Stage::name`] gives it.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a profile runs for a call of at least `min_voxels` voxels (up to the next pick's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    /// The smallest work this pick is for.
    pub min_voxels: usize,
    /// The kernel ([`Kernel::Auto`]: the crate's own best exact kernel, a lookup table say).
    pub kernel: Kernel,
    /// The threads (at least 1; more than the pool has are capped to the pool).
    pub threads: usize,
    /// The fastest kernel on one thread: what a call whose threads are fixed at one runs (the
    /// pipeline's stages, each on its slab's worker), since the best pair's kernel may only
    /// win split over threads.
    pub single: Kernel,
}

/// The measured winners of one machine: per stage, picks by size of work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    picks: [Vec<Pick>; 4],
}

impl Profile {
    /// A profile with no picks (every stage falls back).
    pub fn new() -> Profile {
        Profile::default()
    }

    /// Sets the picks of `stage`, sorted by size; threads of 0 count as 1.
    pub fn with(mut self, stage: Stage, picks: &[Pick]) -> Profile {
        let mut p: Vec<Pick> = picks.iter().map(|p| Pick { threads: p.threads.max(1), ..*p }).collect();
        p.sort_by_key(|p| p.min_voxels);
        self.picks[stage.index()] = p;
        self
    }

    /// The picks of `stage`, by size.
    pub fn picks(&self, stage: Stage) -> &[Pick] {
        &self.picks[stage.index()]
    }

    /// The pick for `work` voxels of `stage`: the one of the largest size at most `work`, or the
    /// smallest when `work` is below all; `None` when the profile has nothing for the stage.
    pub fn pick(&self, stage: Stage, work: usize) -> Option<Pick> {
        let p = self.picks(stage);
        p.iter().rev().find(|p| p.min_voxels <= work).or_else(|| p.first()).copied()
    }
}

static ACTIVE: OnceLock<Profile> = OnceLock::new();

/// Installs `profile` for this process: from now on `auto` follows it. Once per process: a
/// second profile is refused and handed back.
pub fn install(profile: Profile) -> Result<(), Profile> {
    ACTIVE.set(profile)
}

/// The installed profile, if any.
pub fn active() -> Option<&'static Profile> {
    ACTIVE.get()
}

/// Where a call's kernel and threads came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Source {
    /// Both knobs as the caller set them.
    #[default]
    Asked,
    /// At least one `auto` knob filled from the installed profile.
    Profile,
    /// At least one `auto` knob filled by the fallback rule (no profile, or none for the stage).
    Fallback,
}

impl Source {
    /// `asked`, `profile` or `fallback`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Asked => "asked",
            Source::Profile => "profile",
            Source::Fallback => "fallback",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A call's kernel and threads, planned by [`Exec::plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The kernel ([`Kernel::Auto`]: the crate's own best exact kernel).
    pub kernel: Kernel,
    /// The threads to split for (1: the calling thread alone).
    pub threads: usize,
    /// Where they came from.
    pub source: Source,
}

impl Exec {
    /// The kernel and threads of a call of `work` voxels of `stage` on a pool of `pool` threads:
    /// each knob the caller set is kept; each left `auto` comes from the installed profile's
    /// pick (see [`install`]), else from the fallback (the crate's best exact kernel;
    /// [`Threads::resolve`]). The scalar oracle always runs on one thread.
    pub fn plan(self, stage: Stage, work: usize, pool: usize) -> Planned {
        self.plan_with(active(), stage, work, pool)
    }

    /// [`Exec::plan`] with `profile` in place of the installed one.
    pub fn plan_with(self, profile: Option<&Profile>, stage: Stage, work: usize, pool: usize) -> Planned {
        let pick = profile.and_then(|p| p.pick(stage, work));
        let mut source = Source::Asked;
        let mut note = |from_profile: bool| {
            let s = if from_profile { Source::Profile } else { Source::Fallback };
            if source != Source::Profile {
                source = s;
            }
        };
        let kernel = match (self.kernel, pick) {
            (Kernel::Auto, Some(p)) => {
                note(true);
                if self.threads != Threads::Auto && self.threads.resolve(work, pool) == 1 { p.single } else { p.kernel }
            }
            (Kernel::Auto, None) => {
                note(false);
                Kernel::Auto
            }
            (k, _) => k,
        };
        let threads = match (self.threads, pick) {
            (Threads::Auto, Some(p)) => {
                note(true);
                p.threads.min(pool.max(1))
            }
            (Threads::Auto, None) => {
                note(false);
                Threads::Auto.resolve(work, pool)
            }
            (t, _) => t.resolve(work, pool),
        };
        let threads = if kernel == Kernel::Scalar { 1 } else { threads };
        Planned { kernel, threads, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PARALLEL_MIN_VOXELS;

    fn profile() -> Profile {
        Profile::new().with(
            Stage::Mip,
            &[
                Pick { min_voxels: 1 << 20, kernel: Kernel::Dispatched, threads: 2, single: Kernel::Wide },
                Pick { min_voxels: 4096, kernel: Kernel::Wide, threads: 1, single: Kernel::Wide },
            ],
        )
    }

    #[test]
    fn picks_go_by_size() {
        let p = profile();
        assert_eq!(p.pick(Stage::Mip, 10).map(|p| p.kernel), Some(Kernel::Wide), "below all: the smallest");
        assert_eq!(p.pick(Stage::Mip, 5000).map(|p| p.kernel), Some(Kernel::Wide));
        assert_eq!(p.pick(Stage::Mip, 1 << 22).map(|p| (p.kernel, p.threads)), Some((Kernel::Dispatched, 2)));
        assert_eq!(p.pick(Stage::Resample, 1 << 22), None);
    }

    #[test]
    fn plans_keep_what_was_asked_and_fill_auto() {
        let p = profile();
        let auto = Exec::new();
        let big = 1 << 22;
        assert_eq!(
            auto.plan_with(Some(&p), Stage::Mip, big, 8),
            Planned { kernel: Kernel::Dispatched, threads: 2, source: Source::Profile }
        );
        // More threads than the pool: capped.
        assert_eq!(auto.plan_with(Some(&p), Stage::Mip, big, 1).threads, 1);
        // No pick for the stage: the fallback.
        assert_eq!(
            auto.plan_with(Some(&p), Stage::Resample, PARALLEL_MIN_VOXELS, 2),
            Planned { kernel: Kernel::Auto, threads: 2, source: Source::Fallback }
        );
        assert_eq!(
            auto.plan_with(None, Stage::Mip, 10, 2),
            Planned { kernel: Kernel::Auto, threads: 1, source: Source::Fallback }
        );
        // Knobs given are kept; one auto knob from the profile is enough to say so.
        let wide = Exec::new().kernel(Kernel::Wide);
        assert_eq!(
            wide.plan_with(Some(&p), Stage::Mip, big, 8),
            Planned { kernel: Kernel::Wide, threads: 2, source: Source::Profile }
        );
        let asked = Exec::new().kernel(Kernel::Dispatched).threads(Threads::count(3));
        assert_eq!(
            asked.plan_with(Some(&p), Stage::Mip, 10, 8),
            Planned { kernel: Kernel::Dispatched, threads: 3, source: Source::Asked }
        );
        // Threads fixed at one: the best one-thread kernel.
        assert_eq!(
            Exec::new().threads(Threads::One).plan_with(Some(&p), Stage::Mip, big, 8),
            Planned { kernel: Kernel::Wide, threads: 1, source: Source::Profile }
        );
        // The oracle runs alone whatever the profile says.
        assert_eq!(Exec::SCALAR.threads(Threads::Auto).plan_with(Some(&p), Stage::Mip, big, 8).threads, 1);
    }

    #[test]
    fn stage_names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::from_name(s.name()), Some(s));
        }
        assert_eq!(Stage::from_name("sideways"), None);
    }
}
