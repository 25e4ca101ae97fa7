//! The test kit: a plain model of SPEC.md and helpers shared by the
//! end-to-end and property tests.

pub mod model;
