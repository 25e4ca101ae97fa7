//! The rollcall command line as a library (used by its binary, tests and benches).
#![forbid(unsafe_code)]
