//! Fuzz target: any bytes as a checkpoints file, decoded to the end, as given and
//! with every checksum recomputed (`rollcall_engine::fuzzing::checkpoints`).
//! `tests/tests/fuzz_replay.rs` replays the saved corpus on stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rollcall_engine::fuzzing::checkpoints(data);
});
