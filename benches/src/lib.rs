//! Helpers shared by the ctprep benchmarks.
