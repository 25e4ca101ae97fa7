//! SPEC 7.3 (FLOW), 7.4 (DURATIONS), 7.6 (SHOW ERROR) and 7.9 (GATE) with
//! hand-worked answers. Every rule has a case that breaks when the rule is
//! broken: the population is the members at TO (a client that left is not
//! counted, one that joined late is), ties at `start` go by ingest order, a
//! client that reaches UNTIL without SINCE is not started, percentiles are
//! nearest-rank at n = 1, 2, 3 and 100, shares compare exactly.

use rollcall_engine::{Batch, Change, ErrorCode, Options, State, Store, Timestamp};
use rollcall_query::{ExecOptions, OutputFormat, Params, execute, parse_script, render};

fn t(h: i64) -> Timestamp {
    // Hours after 2026-01-01T00:00:00Z.
    Timestamp(1_767_225_600_000 + h * 3_600_000)
}

fn csv(store: &Store, rql: &str) -> String {
    let script = parse_script(rql).unwrap_or_else(|e| panic!("{}", e.render(rql, "test")));
    let opts = ExecOptions {
        now: t(1000),
        params: Params::new(),
        cancel: None,
    };
    let mut out = Vec::new();
    for s in &script.statements {
        let table = execute(&store.snapshot(), &s.statement, &opts)
            .unwrap_or_else(|e| panic!("{}", e.render(rql, "test")));
        render(&table, OutputFormat::Csv, &mut out).unwrap();
    }
    String::from_utf8(out).unwrap()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), Options::default()).unwrap();
    (dir, store)
}

fn join(b: &mut Batch, h: i64, client: &str, change: Change) {
    b.push_membership(t(h), client, "Ring", change).unwrap();
}

fn tr(b: &mut Batch, h: i64, client: &str, state: State) {
    b.push_transition(t(h), client, "production", state, None)
        .unwrap();
}

// FROM = 2026-01-01T10:00:00Z (h 10), TO = 2026-01-02T00:00:00Z (h 24).
const FLOW: &str = "FLOW IN Ring FROM 2026-01-01T10:00:00Z TO 2026-01-02";

#[test]
fn flow_counts_the_members_at_to_from_their_state_at_from() {
    let (_d, mut store) = store();
    let mut b = Batch::new();
    for c in ["A", "B", "C", "D", "E"] {
        join(&mut b, 0, c, Change::Join);
    }
    // A: Failed before FROM, Compliant after: Failed -> Compliant.
    tr(&mut b, 5, "A", State::Failed);
    tr(&mut b, 12, "A", State::Compliant);
    // B: Failed before FROM and still: Failed -> Failed.
    tr(&mut b, 5, "B", State::Failed);
    // C: nothing before FROM, InProgress at TO itself (included): NotStarted -> InProgress.
    tr(&mut b, 24, "C", State::InProgress);
    // D: leaves before TO: not counted.
    tr(&mut b, 5, "D", State::Failed);
    join(&mut b, 20, "D", Change::Leave);
    // E: a transition exactly at FROM counts as its state at FROM.
    tr(&mut b, 10, "E", State::Failed);
    tr(&mut b, 11, "E", State::InProgress);
    // F: joins after FROM; its state at FROM is what it had then.
    join(&mut b, 15, "F", Change::Join);
    tr(&mut b, 2, "F", State::Compliant);
    store.append(&b).unwrap();
    let want = "from,to,clients\n\
                NotStarted,InProgress,1\n\
                Compliant,Compliant,1\n\
                Failed,Compliant,1\n\
                Failed,InProgress,1\n\
                Failed,Failed,1\n";
    assert_eq!(csv(&store, FLOW), want);
    store.flush().unwrap();
    assert_eq!(csv(&store, FLOW), want, "after a flush");
    store.compact().unwrap();
    assert_eq!(csv(&store, FLOW), want, "after a compaction");
    // Without IN: every client with a transition or membership change at or
    // before TO — D is back in.
    assert_eq!(
        csv(&store, "FLOW FROM 2026-01-01T10:00:00Z TO 2026-01-02"),
        "from,to,clients\n\
         NotStarted,InProgress,1\n\
         Compliant,Compliant,1\n\
         Failed,Compliant,1\n\
         Failed,InProgress,1\n\
         Failed,Failed,2\n"
    );
}

#[test]
fn flow_refuses_stale_after_and_reversed_ranges() {
    let err = parse_script("FLOW FROM 2026-01-02 TO 2026-01-01").unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let err = parse_script("FLOW FROM 2026-01-01 TO 2026-01-02 STALE AFTER 1d").unwrap_err();
    assert!(err.to_string().contains("STALE AFTER"), "{err}");
}

// DURATIONS over [h 0, h 100).
const DURATIONS: &str = "DURATIONS IN Ring FROM 2026-01-01 TO 2026-01-05T04:00:00Z UNTIL Compliant";

#[test]
fn durations_follow_ingest_order_at_start_and_count_only_members_at_to() {
    let (_d, mut store) = store();
    let mut b = Batch::new();
    for c in ["A", "B", "C", "D", "E", "G"] {
        join(&mut b, 0, c, Change::Join);
    }
    // A: InProgress at h1, then a second InProgress (ignored), Compliant at h4: 3 h.
    tr(&mut b, 1, "A", State::InProgress);
    tr(&mut b, 2, "A", State::InProgress);
    tr(&mut b, 4, "A", State::Compliant);
    // B: InProgress then Compliant at the same ms, ingested in that order: 0 ms.
    tr(&mut b, 10, "B", State::InProgress);
    tr(&mut b, 10, "B", State::Compliant);
    // C: Compliant then InProgress at the same ms: the Compliant came first
    // and does not count; the next Compliant at h 30 does: 20 h.
    tr(&mut b, 10, "C", State::Compliant);
    tr(&mut b, 10, "C", State::InProgress);
    tr(&mut b, 30, "C", State::Compliant);
    // D: reaches Compliant without InProgress: not started.
    tr(&mut b, 5, "D", State::Compliant);
    // E: started, never reached: open.
    tr(&mut b, 50, "E", State::InProgress);
    // G: started and reached, but left the collection before TO: not counted.
    tr(&mut b, 1, "G", State::InProgress);
    tr(&mut b, 2, "G", State::Compliant);
    join(&mut b, 60, "G", Change::Leave);
    store.append(&b).unwrap();
    // started 4 (A, B, C, E), reached 3: 0 ms, 3 h, 20 h.
    // p50: ceil(0.5*3) = 2nd = 3 h; p90, p99: 3rd = 20 h.
    let want = "started,reached,open,p50_ms,p90_ms,p99_ms,max_ms\n\
                4,3,1,10800000,72000000,72000000,72000000\n";
    assert_eq!(csv(&store, DURATIONS), want);
    store.flush().unwrap();
    store.compact().unwrap();
    assert_eq!(csv(&store, DURATIONS), want, "after a compaction");
    // SINCE another state: from Failed (nobody) — empty percentiles.
    assert_eq!(
        csv(&store, &format!("{DURATIONS} SINCE Failed")),
        "started,reached,open,p50_ms,p90_ms,p99_ms,max_ms\n0,0,0,,,,\n"
    );
    // A start before FROM does not count: from h 3 only E starts (B and C at
    // h 10 too): A's InProgress at h1/h2 are outside.
    assert_eq!(
        csv(
            &store,
            "DURATIONS IN Ring FROM 2026-01-01T03:00:00Z TO 2026-01-05T04:00:00Z UNTIL Compliant"
        ),
        "started,reached,open,p50_ms,p90_ms,p99_ms,max_ms\n3,2,1,0,72000000,72000000,72000000\n"
    );
    // An end at or after TO does not count: TO at h 30 leaves C open; G is
    // still a member then (1 h), E has not started.
    assert_eq!(
        csv(
            &store,
            "DURATIONS IN Ring FROM 2026-01-01 TO 2026-01-02T06:00:00Z UNTIL Compliant"
        ),
        "started,reached,open,p50_ms,p90_ms,p99_ms,max_ms\n4,3,1,3600000,10800000,10800000,10800000\n"
    );
}

#[test]
fn duration_percentiles_are_nearest_rank() {
    let (_d, mut store) = store();
    let mut b = Batch::new();
    // 100 clients, client k takes k hours.
    for k in 1..=100 {
        let c = format!("C{k:03}");
        join(&mut b, 0, &c, Change::Join);
        tr(&mut b, 0, &c, State::InProgress);
        tr(&mut b, k, &c, State::Compliant);
    }
    store.append(&b).unwrap();
    let h = 3_600_000;
    assert_eq!(
        csv(
            &store,
            "DURATIONS IN Ring FROM 2026-01-01 TO 2026-02-01 UNTIL Compliant"
        ),
        format!(
            "started,reached,open,p50_ms,p90_ms,p99_ms,max_ms\n100,100,0,{},{},{},{}\n",
            50 * h,
            90 * h,
            99 * h,
            100 * h
        )
    );
    // n = 1 and n = 2: TO cuts the range after the first one or two ends.
    assert_eq!(
        csv(
            &store,
            "DURATIONS IN Ring FROM 2026-01-01 TO 2026-01-01T01:30:00Z UNTIL Compliant"
        ),
        format!("started,reached,open,p50_ms,p90_ms,p99_ms,max_ms\n100,1,99,{h},{h},{h},{h}\n")
    );
    assert_eq!(
        csv(
            &store,
            "DURATIONS IN Ring FROM 2026-01-01 TO 2026-01-01T02:30:00Z UNTIL Compliant"
        ),
        format!(
            "started,reached,open,p50_ms,p90_ms,p99_ms,max_ms\n100,2,98,{h},{},{},{}\n",
            2 * h,
            2 * h,
            2 * h
        )
    );
}

#[test]
fn gates_compare_shares_exactly_and_report_one_decimal() {
    let (_d, store_) = store();
    let mut store = store_;
    let mut b = Batch::new();
    // 20 members: 19 Compliant, 1 Failed.
    for k in 0..20 {
        let c = format!("C{k:02}");
        join(&mut b, 0, &c, Change::Join);
        tr(
            &mut b,
            1,
            &c,
            if k == 0 { State::Failed } else { State::Compliant },
        );
    }
    store.append(&b).unwrap();
    assert_eq!(
        csv(
            &store,
            "GATE IN Ring AT 2026-01-02 WHEN Compliant >= 95% AND Compliant > 95% AND Failed <= 5% AND Failed < 1 AND NotStarted <= 0"
        ),
        "condition,actual,passed\n\
         Compliant >= 95%,95.0%,true\n\
         Compliant > 95%,95.0%,false\n\
         Failed <= 5%,5.0%,true\n\
         Failed < 1,1,false\n\
         NotStarted <= 0,0,true\n"
    );
    // Thresholds print normalised; 94.999% is below 95%.
    assert_eq!(
        csv(
            &store,
            "GATE IN Ring AT 2026-01-02 WHEN Compliant >= 94.9990% AND Compliant >= 95.00001%"
        ),
        "condition,actual,passed\n\
         Compliant >= 94.999%,95.0%,true\n\
         Compliant >= 95.00001%,95.0%,false\n"
    );
    let err = parse_script("GATE AT NOW WHEN Compliant >= 101%").unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let err = parse_script("GATE AT NOW WHEN Failed <= 2.5").unwrap_err();
    assert!(err.to_string().contains("whole number"), "{err}");
}

#[test]
fn show_error_decodes_hresults_and_names_known_codes() {
    let (_d, store) = store();
    assert_eq!(
        csv(&store, "SHOW ERROR 0x87D00324"),
        "name,value\n\
         error,0x87d00324\n\
         decimal,2278556452\n\
         signed,-2016410844\n\
         severity,1 (failure)\n\
         customer,false\n\
         facility,2000 (Configuration Manager client)\n\
         code,804 (0x0324)\n\
         text,The application was not detected after installation completed.\n"
    );
    // Negative decimals as ConfigMgr logs print them; unknown codes have no text.
    let out = csv(&store, "SHOW ERROR -2147024891");
    assert!(
        out.contains("error,0x80070005\n") && out.contains("text,Access is denied.\n"),
        "{out}"
    );
    let out = csv(&store, "SHOW ERROR 0x12345678");
    assert!(out.ends_with("text,\n"), "{out}");
}

#[test]
fn error_text_shows_beside_codes_in_the_table_form_only() {
    let (_d, mut store) = store();
    let mut b = Batch::new();
    join(&mut b, 0, "A", Change::Join);
    b.push_transition(
        t(1),
        "A",
        "production",
        State::Failed,
        Some(ErrorCode(0x8007_0643)),
    )
    .unwrap();
    store.append(&b).unwrap();
    let rql = "FAILURES FROM 2026-01-01 TO 2026-01-02 EVERY 1d BY ERROR";
    assert_eq!(
        csv(&store, rql),
        "bucket,error,failures\n2026-01-01T00:00:00Z,0x80070643,1\n"
    );
    let script = parse_script(rql).unwrap();
    let table = execute(
        &store.snapshot(),
        &script.statements[0].statement,
        &ExecOptions::new(t(1000)),
    )
    .unwrap();
    let mut out = Vec::new();
    render(&table, OutputFormat::Table, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("0x80070643 Fatal error during installation."),
        "{text}"
    );
}
