//! Baomi benchmarks: see `benches/` (criterion) and the shell scripts beside this crate.
