//! The fixture store shared by the query tests: a handful of clients whose
//! answers are worked out by hand in `docs/rql.md`-style comments below and
//! in `fixture_answers.rs`.
//!
//! Layout (all times 2026-10-xx UTC; P = production, PP = preproduction):
//!
//! membership (batch 1):
//!   10-01T00:00 PC-01..PC-05 join "All Desktops"; PC-01, PC-02 join "Pilot Ring";
//!               `Laptop, "7"` joins "Laptops"
//!   10-02T00:00 PC-05 leaves "All Desktops"
//!   10-02T06:00 PC-03 leaves then joins "Pilot Ring" (same ms: join wins)
//!   10-02T06:00 PC-04 joins then leaves "Pilot Ring" (same ms: leave wins)
//!   10-02T12:00 PC-06 joins "All Desktops"
//!   10-02T18:00 `Laptop, "7"` leaves "Laptops"
//! transitions (batch 1, then flushed to a segment):
//!   PC-01  P 10-01T01:00 InProgress; P 10-01T02:00 Compliant; PP 10-01T00:30 Compliant
//!   PC-02  P 10-01T01:00 InProgress; P 10-01T03:00 Failed 0x80070005;
//!          P 10-02T01:00 InProgress; P 10-02T02:00 Failed 0x80070005; PP 10-01T00:30 Failed 0x00000001
//!   PC-03  P 10-01T05:00 Failed (no code), then P 10-01T05:00 Compliant (same ms: Compliant wins)
//!   PC-04  P 10-01T04:00 NonCompliant 0x87d00324
//!   PC-05  P 10-01T06:00 Failed 0x80070005; P 10-02T06:00 Failed 0x80070643
//!   Laptop P 10-01T02:00 Compliant
//! batch 2 (memtable):
//!   PC-01  P 10-01T01:30 Failed 0x80070005 (late)
//!   PC-04  P 10-02T09:00:00.250 InProgress
//!   exact duplicates of PC-02's first failure and of PC-01's first join (ignored)
//!
//! NOW is 2026-10-03T00:00:00Z.

#![allow(dead_code, reason = "each test binary uses part of the fixture")]

use rollcall_engine::{Batch, Change, ErrorCode, Options, State, Store, Timestamp};

pub const NOW: &str = "2026-10-03T00:00:00Z";

pub fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("fixture times are valid")
}

pub fn now() -> Timestamp {
    ts(NOW)
}

pub const LAPTOP: &str = "Laptop, \"7\"";

pub fn fixture() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::create(dir.path(), Options::default()).expect("create store");
    let mut b = Batch::new();
    let join = |b: &mut Batch, t: &str, c: &str, coll: &str, ch: Change| {
        b.push_membership(ts(t), c, coll, ch).expect("membership");
    };
    for c in ["PC-01", "PC-02", "PC-03", "PC-04", "PC-05"] {
        join(&mut b, "2026-10-01T00:00:00Z", c, "All Desktops", Change::Join);
    }
    join(
        &mut b,
        "2026-10-01T00:00:00Z",
        "PC-01",
        "Pilot Ring",
        Change::Join,
    );
    join(
        &mut b,
        "2026-10-01T00:00:00Z",
        "PC-02",
        "Pilot Ring",
        Change::Join,
    );
    join(&mut b, "2026-10-01T00:00:00Z", LAPTOP, "Laptops", Change::Join);
    join(
        &mut b,
        "2026-10-02T00:00:00Z",
        "PC-05",
        "All Desktops",
        Change::Leave,
    );
    join(
        &mut b,
        "2026-10-02T12:00:00Z",
        "PC-06",
        "All Desktops",
        Change::Join,
    );
    join(
        &mut b,
        "2026-10-02T06:00:00Z",
        "PC-03",
        "Pilot Ring",
        Change::Leave,
    );
    join(
        &mut b,
        "2026-10-02T06:00:00Z",
        "PC-03",
        "Pilot Ring",
        Change::Join,
    );
    join(
        &mut b,
        "2026-10-02T06:00:00Z",
        "PC-04",
        "Pilot Ring",
        Change::Join,
    );
    join(
        &mut b,
        "2026-10-02T06:00:00Z",
        "PC-04",
        "Pilot Ring",
        Change::Leave,
    );
    join(&mut b, "2026-10-02T18:00:00Z", LAPTOP, "Laptops", Change::Leave);

    let tr = |b: &mut Batch, t: &str, c: &str, d: &str, s: State, e: Option<u32>| {
        b.push_transition(ts(t), c, d, s, e.map(ErrorCode))
            .expect("transition");
    };
    let p = "production";
    let pp = "preproduction";
    tr(
        &mut b,
        "2026-10-01T01:00:00Z",
        "PC-01",
        p,
        State::InProgress,
        None,
    );
    tr(&mut b, "2026-10-01T02:00:00Z", "PC-01", p, State::Compliant, None);
    tr(
        &mut b,
        "2026-10-01T01:00:00Z",
        "PC-02",
        p,
        State::InProgress,
        None,
    );
    tr(
        &mut b,
        "2026-10-01T03:00:00Z",
        "PC-02",
        p,
        State::Failed,
        Some(0x80070005),
    );
    tr(
        &mut b,
        "2026-10-02T01:00:00Z",
        "PC-02",
        p,
        State::InProgress,
        None,
    );
    tr(
        &mut b,
        "2026-10-02T02:00:00Z",
        "PC-02",
        p,
        State::Failed,
        Some(0x80070005),
    );
    tr(&mut b, "2026-10-01T05:00:00Z", "PC-03", p, State::Failed, None);
    tr(&mut b, "2026-10-01T05:00:00Z", "PC-03", p, State::Compliant, None);
    tr(
        &mut b,
        "2026-10-01T04:00:00Z",
        "PC-04",
        p,
        State::NonCompliant,
        Some(0x87d00324),
    );
    tr(
        &mut b,
        "2026-10-01T06:00:00Z",
        "PC-05",
        p,
        State::Failed,
        Some(0x80070005),
    );
    tr(
        &mut b,
        "2026-10-02T06:00:00Z",
        "PC-05",
        p,
        State::Failed,
        Some(0x80070643),
    );
    tr(&mut b, "2026-10-01T02:00:00Z", LAPTOP, p, State::Compliant, None);
    tr(
        &mut b,
        "2026-10-01T00:30:00Z",
        "PC-01",
        pp,
        State::Compliant,
        None,
    );
    tr(
        &mut b,
        "2026-10-01T00:30:00Z",
        "PC-02",
        pp,
        State::Failed,
        Some(0x00000001),
    );
    store.append(&b).expect("append batch 1");
    store.flush().expect("flush");

    let mut b = Batch::new();
    tr(
        &mut b,
        "2026-10-01T01:30:00Z",
        "PC-01",
        p,
        State::Failed,
        Some(0x80070005),
    );
    tr(
        &mut b,
        "2026-10-02T09:00:00.250Z",
        "PC-04",
        p,
        State::InProgress,
        None,
    );
    tr(
        &mut b,
        "2026-10-01T03:00:00Z",
        "PC-02",
        p,
        State::Failed,
        Some(0x80070005),
    );
    join(
        &mut b,
        "2026-10-01T00:00:00Z",
        "PC-01",
        "All Desktops",
        Change::Join,
    );
    let report = store.append(&b).expect("append batch 2");
    assert_eq!(
        report.duplicates, 2,
        "the fixture's two exact duplicates are ignored"
    );
    (dir, store)
}
