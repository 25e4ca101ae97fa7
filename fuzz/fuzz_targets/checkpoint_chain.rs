//! Fuzz target: any bytes split in two and read as a chain of two checkpoint
//! files, as given and with every checksum recomputed
//! (`rollcall_engine::fuzzing::checkpoint_chain`). `tests/tests/fuzz_replay.rs`
//! replays the saved corpus on stable Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rollcall_engine::fuzzing::checkpoint_chain(data);
});
