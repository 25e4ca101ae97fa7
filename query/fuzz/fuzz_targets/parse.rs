//! Fuzz target: any bytes, read as UTF-8 (lossily), through the RQL parser,
//! the pretty-printer and the diagnostic renderer. See `docs/rql.md` for how
//! to run it; `query/tests/fuzz_corpus.rs` replays the saved corpus on
//! stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rollcall_query::fuzzing::parse_round_trip(data);
});
