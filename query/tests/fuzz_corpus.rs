//! Replays the fuzz corpus (`query/fuzz/corpus/parse/*`, seeds plus what the
//! fuzzer kept) through the same checks as the fuzz target, on stable Rust.

use std::fs;
use std::path::Path;

#[test]
fn fuzz_corpus_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse");
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        let data = fs::read(&path).expect("read corpus file");
        rollcall_query::fuzzing::parse_round_trip(&data);
        n += 1;
    }
    assert!(n >= 20, "the seed corpus is missing ({n} files)");
}
