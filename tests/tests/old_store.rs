//! A store written by the build before checkpoint chains (manifest version
//! 1, one checkpoint file of format 3, every membership change in the last
//! base segment) opens, answers like a store ingested by this build, and
//! keeps answering so through the automatic maintenance that chains a new
//! checkpoint file to the old one and moves its membership changes into a
//! membership segment.
//!
//! Its dictionary is format version 1 (one record per name).
//!
//! `tests/test_data/store-format-1/store` was made by commit c4d7cb6:
//! `ingest members ma.csv`, `ingest events a.csv`, `compact`.

mod common;

use std::path::Path;

use common::Env;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/store-format-1");

/// The statements compared: every headline query, at times inside the old
/// base, at its end and after the rows added later.
const QUERIES: &[&str] = &[
    "STATES AT 2026-10-20T00:00:00Z",
    "STATES IN \"All Desktops\" AT 2026-10-25T12:00:00Z",
    "STATES BY COLLECTION AT 2026-10-31T23:59:59Z",
    "STATES IN \"All Desktops\" FROM 2026-10-12 TO 2026-11-01 EVERY 1d",
    "FAILURES IN \"All Desktops\" FROM 2026-10-12 TO 2026-11-01 EVERY 1h",
    "FAILURES FROM 2026-10-12 TO 2026-11-01 EVERY 1d BY ERROR",
    "CLIENTS IN \"All Desktops\" AT 2026-10-30T00:00:00Z WHERE STATE = Failed",
    "FLOW IN \"All Desktops\" FROM 2026-10-15 TO 2026-10-31",
];

fn answers(env: &Env) -> Vec<String> {
    QUERIES.iter().map(|q| env.query_csv(q)).collect()
}

fn ingest(env: &Env, kind: &str, file: &str) {
    env.cmd()
        .args(["ingest", kind])
        .arg(Path::new(DATA).join(file))
        .assert()
        .success();
}

fn assert_same(got: &[String], want: &[String], context: &str) {
    for ((q, g), w) in QUERIES.iter().zip(got).zip(want) {
        assert_eq!(g, w, "{context}: {q}");
    }
}

#[test]
fn a_store_of_the_previous_format_reads_and_upgrades_as_it_is_maintained() {
    let old = Env::new();
    common::copy_dir(&Path::new(DATA).join("store"), &old.db());
    let fresh = Env::new();
    ingest(&fresh, "members", "ma.csv");
    ingest(&fresh, "events", "a.csv");
    assert_same(&answers(&old), &answers(&fresh), "as written by the old build");
    let ckpt_files = |env: &Env| {
        std::fs::read_dir(env.db().join("ckpt"))
            .expect("ckpt dir")
            .count()
    };
    assert_eq!(ckpt_files(&old), 1);

    // Later rows, some late (into the old base), and membership changes;
    // `compact` folds them as automatic maintenance would.
    for env in [&old, &fresh] {
        ingest(env, "members", "mb.csv");
        ingest(env, "events", "b.csv");
        env.cmd().arg("compact").assert().success();
    }
    assert_same(&answers(&old), &answers(&fresh), "after new rows were folded in");
    // b.csv names five new clients: the old dictionary took them as version
    // 1 records (a file keeps its version; it is only appended to), a new
    // store's dictionary is version 2.
    let dict_version = |env: &Env| {
        let d = std::fs::read(env.db().join("names.dict")).expect("names.dict");
        u32::from_le_bytes([d[4], d[5], d[6], d[7]])
    };
    assert_eq!(dict_version(&old), 1);
    assert_eq!(dict_version(&fresh), 2);
    old.cmd().arg("check").assert().success();
    let manifest = std::fs::read(old.db().join("MANIFEST")).expect("manifest");
    assert_eq!(
        &manifest[4..8],
        &2u32.to_le_bytes(),
        "the manifest was rewritten at version 2"
    );
}
