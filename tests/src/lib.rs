//! The test kit: a plain model of SPEC.md and helpers shared by the end-to-end tests.
