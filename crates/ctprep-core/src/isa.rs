//! Which instruction set a kernel runs with: fixed when compiling (the scalar and `wide`
//! kernels), or detected once at run time (the [`crate::dispatched!`] loops).

use std::fmt;
use std::sync::OnceLock;

/// An instruction-set level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Isa {
    /// x86-64 with AVX-512 (F, BW, CD, DQ, VL, VBMI2), AVX2 and FMA: `x86-64-v4`.
    X86_64V4,
    /// x86-64 with AVX2, FMA, BMI1/2: `x86-64-v3`.
    X86_64V3,
    /// x86-64 with SSE4.2: `x86-64-v2`.
    X86_64V2,
    /// Plain x86-64 (SSE2).
    X86_64,
    /// AArch64 with NEON.
    Neon,
    /// Any other target, compiled for its baseline.
    Baseline,
}

impl Isa {
    /// The targets of [`crate::dispatched!`], best first: what a dispatched kernel can run with
    /// (on x86-64; every other target runs its baseline).
    pub const DISPATCH_TARGETS: [Isa; 4] = [Isa::X86_64V4, Isa::X86_64V3, Isa::X86_64V2, Isa::X86_64];

    /// The short name: the extension that defines the level (`avx512`, `avx2`, `sse4.2`,
    /// `sse2`, `neon`, `baseline`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::X86_64V4 => "avx512",
            Isa::X86_64V3 => "avx2",
            Isa::X86_64V2 => "sse4.2",
            Isa::X86_64 => "sse2",
            Isa::Neon => "neon",
            Isa::Baseline => "baseline",
        }
    }

    /// The level's name (`x86-64-v4` ...), or the short name off x86-64.
    pub fn level(self) -> &'static str {
        match self {
            Isa::X86_64V4 => "x86-64-v4",
            Isa::X86_64V3 => "x86-64-v3",
            Isa::X86_64V2 => "x86-64-v2",
            Isa::X86_64 => "x86-64",
            Isa::Neon => "aarch64",
            Isa::Baseline => "baseline",
        }
    }

    /// What the binary was compiled for: the instruction set of the scalar and `wide` kernels
    /// (`wide` picks its vector width from these target features when compiling).
    pub const fn target() -> Isa {
        if cfg!(all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512bw")) {
            Isa::X86_64V4
        } else if cfg!(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")) {
            Isa::X86_64V3
        } else if cfg!(all(target_arch = "x86_64", target_feature = "sse4.2")) {
            Isa::X86_64V2
        } else if cfg!(target_arch = "x86_64") {
            Isa::X86_64
        } else if cfg!(all(target_arch = "aarch64", target_feature = "neon")) {
            Isa::Neon
        } else {
            Isa::Baseline
        }
    }

    /// What the dispatched kernels run with on this CPU: the best of
    /// [`Isa::DISPATCH_TARGETS`] it offers, detected once.
    pub fn detected() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| cpu_offers().first().copied().unwrap_or(Isa::target()))
    }
}

/// The instruction-set levels this CPU offers, best first (the levels [`crate::dispatched!`]
/// knows of; the baseline of the target last).
pub fn cpu_offers() -> Vec<Isa> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        // The feature lists of the `dispatched!` targets, so this names the version multiversion picks.
        let v2 = has!("sse4.2");
        let v3 = v2 && has!("popcnt") && has!("avx2") && has!("fma") && has!("bmi1") && has!("bmi2") && has!("lzcnt");
        let v4 = v3
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl")
            && has!("avx512vbmi2");
        [(v4, Isa::X86_64V4), (v3, Isa::X86_64V3), (v2, Isa::X86_64V2), (true, Isa::X86_64)]
            .into_iter()
            .filter_map(|(ok, isa)| ok.then_some(isa))
            .collect()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![Isa::target()]
    }
}

impl fmt::Display for Isa {
    /// `x86-64-v4 (avx512)`; the short name alone off x86-64.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.level() == self.name() || matches!(self, Isa::Neon) {
            f.write_str(self.name())
        } else {
            write!(f, "{} ({})", self.level(), self.name())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detected_is_offered_and_at_least_the_target() {
        let offers = cpu_offers();
        assert!(offers.contains(&Isa::detected()));
        assert_eq!(Isa::detected(), offers[0]);
        assert_eq!(Isa::X86_64V3.to_string(), "x86-64-v3 (avx2)");
        assert_eq!(Isa::Baseline.to_string(), "baseline");
        #[cfg(target_arch = "x86_64")]
        assert!(offers.contains(&Isa::target()), "the binary runs here, so the CPU offers its target");
    }
}
