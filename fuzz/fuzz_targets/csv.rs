//! Fuzz target: any bytes as a csv ingest file (the first byte picks
//! transitions or membership changes), read by the CLI's ingest parser
//! (`rollcall_cli::ingest::parse_rows`). `tests/tests/fuzz_replay.rs`
//! replays the saved corpus on stable Rust.
#![no_main]

use rollcall_cli::args::InputFormat;
use rollcall_cli::ingest::{RowKind, parse_rows};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let kind = if first & 1 == 0 {
        RowKind::Events
    } else {
        RowKind::Members
    };
    match parse_rows(kind, InputFormat::Csv, rest) {
        Ok((_, bad)) => {
            for b in bad {
                assert!(!b.to_string().is_empty());
            }
        }
        Err(e) => assert!(!format!("{e:#}").is_empty()),
    }
});
