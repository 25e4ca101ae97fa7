//! SPEC 7.1 and 7.2 with hand-worked answers: local calendar buckets across
//! both DST changes of 2025 in Europe/Berlin and America/New_York, calendar
//! months across month ends, a spring-gap and an autumn-fold time written in
//! a statement, `--param` dates read in the zone, several deployments side
//! by side; and a property: a zone-bucketed histogram equals the failures
//! counted directly into its local-day buckets and the sum of its UTC
//! hourly pieces.
//!
//! The transition times below are chosen one second either side of local
//! midnight, so that an hour's error in a bucket edge moves a failure into
//! the neighbouring bucket and fails the test.

use proptest::prelude::*;
use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};
use rollcall_query::{ExecOptions, OutputFormat, Params, execute, parse_script, render};

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("valid time")
}

/// A store with one collection `Ring` holding `PC-idle` and `PC-0`..`PC-n`
/// from 2000-01-01, and the given production failures (one client each).
fn failures_store(times: &[&str]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(dir.path(), Options::default()).unwrap();
    let mut b = Batch::new();
    // A member without transitions, so that `Ring` exists with no failures.
    b.push_membership(ts("2000-01-01T00:00:00Z"), "PC-idle", "Ring", Change::Join)
        .unwrap();
    for (i, t) in times.iter().enumerate() {
        let client = format!("PC-{i}");
        b.push_membership(ts("2000-01-01T00:00:00Z"), &client, "Ring", Change::Join)
            .unwrap();
        b.push_transition(
            ts(t),
            &client,
            "production",
            State::Failed,
            Some(rollcall_engine::ErrorCode(0x8007_0005)),
        )
        .unwrap();
    }
    store.append(&b).unwrap();
    (dir, store)
}

fn csv(store: &Store, rql: &str) -> String {
    csv_with(store, rql, Params::new())
}

fn csv_with(store: &Store, rql: &str, params: Params) -> String {
    let script = parse_script(rql).unwrap_or_else(|e| panic!("{}", e.render(rql, "test")));
    let opts = ExecOptions {
        now: ts("2026-01-01T00:00:00Z"),
        params,
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

#[test]
fn berlin_days_across_the_march_change_are_23_hours() {
    // 2025-03-30: 02:00 CET becomes 03:00 CEST (01:00Z). Local days:
    // 03-29 = [03-28T23:00Z, 03-29T23:00Z), 03-30 = [03-29T23:00Z, 03-30T22:00Z).
    let (_d, store) = failures_store(&[
        "2025-03-29T22:59:59Z",
        "2025-03-29T23:00:00Z",
        "2025-03-30T21:59:59Z",
        "2025-03-30T22:00:00Z",
    ]);
    assert_eq!(
        csv(
            &store,
            r#"FAILURES IN Ring FROM 2025-03-29 TO 2025-04-01 EVERY 1d TIME ZONE "Europe/Berlin""#
        ),
        "bucket,failures\n\
         2025-03-29T00:00:00+01:00,1\n\
         2025-03-30T00:00:00+01:00,2\n\
         2025-03-31T00:00:00+02:00,1\n"
    );
    // The same rows in UTC days: 03-29 holds the first two.
    assert_eq!(
        csv(&store, "FAILURES IN Ring FROM 2025-03-29 TO 2025-04-01 EVERY 1d"),
        "bucket,failures\n\
         2025-03-29T00:00:00Z,2\n\
         2025-03-30T00:00:00Z,2\n\
         2025-03-31T00:00:00Z,0\n"
    );
}

#[test]
fn berlin_days_across_the_october_change_are_25_hours() {
    // 2025-10-26: 03:00 CEST becomes 02:00 CET (01:00Z). Local days:
    // 10-26 = [10-25T22:00Z, 10-26T23:00Z).
    let (_d, store) = failures_store(&[
        "2025-10-25T21:59:59Z",
        "2025-10-25T22:00:00Z",
        "2025-10-26T22:59:59Z",
        "2025-10-26T23:00:00Z",
    ]);
    let want = "bucket,failures\n\
                2025-10-25T00:00:00+02:00,1\n\
                2025-10-26T00:00:00+02:00,2\n\
                2025-10-27T00:00:00+01:00,1\n";
    let rql = r#"FAILURES IN Ring FROM 2025-10-25 TO 2025-10-28 EVERY 1d TIME ZONE "Europe/Berlin""#;
    assert_eq!(csv(&store, rql), want);
    // The same after a flush and a compaction (rollup path).
    let mut store = store;
    store.compact().unwrap();
    assert_eq!(csv(&store, rql), want);
    // Bare zone names and a FROM with an explicit offset are the same.
    assert_eq!(
        csv(
            &store,
            "FAILURES IN Ring FROM 2025-10-25T00:00:00+02:00 TO 2025-10-28 EVERY 1d TIME ZONE Europe/Berlin"
        ),
        want
    );
    // BY ERROR over the same buckets.
    assert_eq!(
        csv(
            &store,
            r#"FAILURES IN Ring FROM 2025-10-25 TO 2025-10-28 EVERY 1d BY ERROR TIME ZONE "Europe/Berlin""#
        ),
        "bucket,error,failures\n\
         2025-10-25T00:00:00+02:00,0x80070005,1\n\
         2025-10-26T00:00:00+02:00,0x80070005,2\n\
         2025-10-27T00:00:00+01:00,0x80070005,1\n"
    );
}

#[test]
fn new_york_series_and_histogram_across_both_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(dir.path(), Options::default()).unwrap();
    let mut b = Batch::new();
    b.push_membership(ts("2025-03-01T00:00:00Z"), "PC-1", "Ring", Change::Join)
        .unwrap();
    // Local 03-08 23:59:59 EST, 03-09 23:59:59 EDT, 03-10 00:00 EDT.
    for (t, s) in [
        ("2025-03-09T04:59:59Z", State::InProgress),
        ("2025-03-10T03:59:59Z", State::Failed),
        ("2025-03-10T04:00:00Z", State::Compliant),
    ] {
        b.push_transition(ts(t), "PC-1", "production", s, None).unwrap();
    }
    store.append(&b).unwrap();
    assert_eq!(
        csv(
            &store,
            r#"STATES IN Ring FROM 2025-03-08 TO 2025-03-12 EVERY 1d TIME ZONE "America/New_York""#
        ),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         2025-03-08T00:00:00-05:00,1,0,0,0,0,0,1\n\
         2025-03-09T00:00:00-05:00,0,0,1,0,0,0,1\n\
         2025-03-10T00:00:00-04:00,0,1,0,0,0,0,1\n\
         2025-03-11T00:00:00-04:00,0,1,0,0,0,0,1\n"
    );
    // 2025-11-02: 02:00 EDT becomes 01:00 EST (06:00Z); that day is
    // [11-02T04:00Z, 11-03T05:00Z).
    let (_d, store) = failures_store(&[
        "2025-11-02T03:59:59Z",
        "2025-11-02T04:00:00Z",
        "2025-11-03T04:59:59Z",
        "2025-11-03T05:00:00Z",
    ]);
    assert_eq!(
        csv(
            &store,
            r#"FAILURES IN Ring FROM 2025-11-01 TO 2025-11-04 EVERY 1d TIME ZONE "America/New_York""#
        ),
        "bucket,failures\n\
         2025-11-01T00:00:00-04:00,1\n\
         2025-11-02T00:00:00-04:00,2\n\
         2025-11-03T00:00:00-05:00,1\n"
    );
}

#[test]
fn months_keep_the_day_of_month_clamped_to_the_month_end() {
    let (_d, store) = failures_store(&[
        "2025-02-27T23:59:59Z",
        "2025-02-28T00:00:00Z",
        "2025-03-30T12:00:00Z",
        "2025-03-31T00:00:00Z",
        "2025-04-30T23:59:59Z",
    ]);
    assert_eq!(
        csv(&store, "FAILURES IN Ring FROM 2025-01-31 TO 2025-05-01 EVERY 1mo"),
        "bucket,failures\n\
         2025-01-31T00:00:00Z,1\n\
         2025-02-28T00:00:00Z,2\n\
         2025-03-31T00:00:00Z,1\n\
         2025-04-30T00:00:00Z,1\n"
    );
    // Quarterly in Berlin: local midnights, winter and summer offsets.
    assert_eq!(
        csv(
            &store,
            r#"FAILURES IN Ring FROM 2025-01-01 TO 2025-07-01 EVERY 3mo TIME ZONE "Europe/Berlin""#
        ),
        "bucket,failures\n\
         2025-01-01T00:00:00+01:00,4\n\
         2025-04-01T00:00:00+02:00,1\n"
    );
}

#[test]
fn a_gap_time_moves_forward_and_a_fold_time_is_the_earlier() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(dir.path(), Options::default()).unwrap();
    let mut b = Batch::new();
    b.push_membership(ts("2025-01-01T00:00:00Z"), "PC-1", "Ring", Change::Join)
        .unwrap();
    // 00:45Z is 02:45 CEST, between the two readings of 02:30 on 10-26.
    b.push_transition(
        ts("2025-10-26T00:45:00Z"),
        "PC-1",
        "production",
        State::Failed,
        None,
    )
    .unwrap();
    // 01:15Z is 03:15 CEST on 03-30, before 02:30 + the gap = 03:30.
    b.push_transition(
        ts("2025-03-30T01:15:00Z"),
        "PC-1",
        "production",
        State::InProgress,
        None,
    )
    .unwrap();
    store.append(&b).unwrap();
    assert_eq!(
        csv(
            &store,
            r#"STATES IN Ring AT 2025-03-30T02:30:00 TIME ZONE "Europe/Berlin""#
        ),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         2025-03-30T03:30:00+02:00,0,0,1,0,0,0,1\n"
    );
    assert_eq!(
        csv(
            &store,
            r#"STATES IN Ring AT 2025-10-26T02:30:00 TIME ZONE "Europe/Berlin""#
        ),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         2025-10-26T02:30:00+02:00,0,0,1,0,0,0,1\n"
    );
    // With an explicit offset the later reading is written and used.
    assert_eq!(
        csv(
            &store,
            r#"STATES IN Ring AT 2025-10-26T02:30:00+01:00 TIME ZONE "Europe/Berlin""#
        ),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         2025-10-26T02:30:00+01:00,0,0,0,0,1,0,1\n"
    );
    // CLIENTS and HISTORY print their times in the zone too.
    assert_eq!(
        csv(
            &store,
            r#"CLIENTS IN Ring AT 2025-11-01 TIME ZONE "Europe/Berlin""#
        ),
        "client,state,since\nPC-1,Failed,2025-10-26T02:45:00+02:00\n"
    );
    assert_eq!(
        csv(&store, r#"HISTORY "PC-1" TIME ZONE "America/New_York""#),
        "time,deployment,state,error\n\
         2025-03-29T21:15:00-04:00,production,InProgress,\n\
         2025-10-25T20:45:00-04:00,production,Failed,\n"
    );
}

#[test]
fn parameters_without_an_offset_are_local_times_too() {
    let (_d, store) = failures_store(&["2025-10-25T22:00:00Z"]);
    let params = Params::from([
        ("from".to_owned(), "2025-10-26".to_owned()),
        ("to".to_owned(), "2025-10-27".to_owned()),
    ]);
    assert_eq!(
        csv_with(
            &store,
            r#"FAILURES IN Ring FROM $from TO $to EVERY 1d TIME ZONE "Europe/Berlin""#,
            params.clone()
        ),
        "bucket,failures\n2025-10-26T00:00:00+02:00,1\n"
    );
    assert_eq!(
        csv_with(&store, "FAILURES IN Ring FROM $from TO $to EVERY 1d", params),
        "bucket,failures\n2025-10-26T00:00:00Z,0\n"
    );
}

#[test]
fn several_deployments_side_by_side_in_the_order_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(dir.path(), Options::default()).unwrap();
    let mut b = Batch::new();
    for c in ["PC-1", "PC-2"] {
        b.push_membership(ts("2025-01-01T00:00:00Z"), c, "Pilot Ring", Change::Join)
            .unwrap();
    }
    b.push_transition(
        ts("2025-01-02T00:00:00Z"),
        "PC-1",
        "preproduction",
        State::Compliant,
        None,
    )
    .unwrap();
    b.push_transition(
        ts("2025-01-02T00:00:00Z"),
        "PC-2",
        "preproduction",
        State::Failed,
        None,
    )
    .unwrap();
    b.push_transition(
        ts("2025-01-03T00:00:00Z"),
        "PC-1",
        "production",
        State::InProgress,
        None,
    )
    .unwrap();
    store.append(&b).unwrap();
    assert_eq!(
        csv(
            &store,
            r#"STATES FOR preproduction, production IN "Pilot Ring" AT 2025-01-04"#
        ),
        "deployment,time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         preproduction,2025-01-04T00:00:00Z,0,1,0,0,1,0,2\n\
         production,2025-01-04T00:00:00Z,1,0,1,0,0,0,2\n"
    );
    assert_eq!(
        csv(
            &store,
            r#"FAILURES FOR production, preproduction IN "Pilot Ring" FROM 2025-01-01 TO 2025-01-03 EVERY 1d"#
        ),
        "deployment,bucket,failures\n\
         production,2025-01-01T00:00:00Z,0\n\
         production,2025-01-02T00:00:00Z,0\n\
         preproduction,2025-01-01T00:00:00Z,0\n\
         preproduction,2025-01-02T00:00:00Z,1\n"
    );
    // One deployment in the list keeps the plain columns.
    assert_eq!(
        csv(
            &store,
            r#"STATES FOR preproduction IN "Pilot Ring" AT 2025-01-04"#
        ),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         2025-01-04T00:00:00Z,0,1,0,0,1,0,2\n"
    );
}

/// Local midnights `from_day + k` days in `zone` as UTC milliseconds.
fn local_midnights(zone: &str, first: jiff::civil::Date, days: i64) -> Vec<i64> {
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    (0..=days)
        .map(|k| {
            let d = first.checked_add(jiff::Span::new().days(k)).unwrap();
            tz.to_timestamp(d.at(0, 0, 0, 0)).unwrap().as_millisecond()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whole-hour zones: the zone histogram equals the failures counted
    /// straight into the local-day buckets, and the sum of the UTC hourly
    /// histogram's pieces inside each bucket.
    #[test]
    fn zone_days_are_sums_of_utc_hours(
        zone in prop::sample::select(vec!["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]),
        start_day in 0i64..600,
        days in 1i64..40,
        offsets in prop::collection::vec(0i64..(45 * 86_400_000), 0..60),
        compact in any::<bool>(),
    ) {
        let first = jiff::civil::date(2024, 1, 1).checked_add(jiff::Span::new().days(start_day)).unwrap();
        let edges = local_midnights(zone, first, days);
        let times: Vec<String> = offsets
            .iter()
            .map(|o| Timestamp(edges[0] - 86_400_000 + o).to_string())
            .collect();
        let refs: Vec<&str> = times.iter().map(String::as_str).collect();
        let (_d, mut store) = failures_store(&refs);
        if compact {
            store.compact().unwrap();
        }
        let rql = format!(
            "FAILURES IN Ring FROM {first} TO {} EVERY 1d TIME ZONE \"{zone}\"",
            first.checked_add(jiff::Span::new().days(days)).unwrap()
        );
        let got = csv(&store, &rql);
        let counts: Vec<u64> = got.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
        prop_assert_eq!(counts.len() as i64, days);
        let direct: Vec<u64> = edges
            .windows(2)
            .map(|w| offsets.iter().map(|o| edges[0] - 86_400_000 + o).filter(|t| (w[0]..w[1]).contains(t)).count() as u64)
            .collect();
        prop_assert_eq!(&counts, &direct);
        let hourly = csv(
            &store,
            &format!(
                "FAILURES IN Ring FROM {} TO {} EVERY 1h",
                Timestamp(edges[0]),
                Timestamp(*edges.last().unwrap())
            ),
        );
        let mut sums = vec![0u64; days as usize];
        for line in hourly.lines().skip(1) {
            let (t, n) = line.split_once(',').unwrap();
            let t = ts(t).0;
            let k = edges.partition_point(|e| *e <= t) - 1;
            sums[k] += n.parse::<u64>().unwrap();
        }
        prop_assert_eq!(&counts, &sums);
    }
}
