//! Shared helpers for rollcall's benchmarks.
