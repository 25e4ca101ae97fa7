//! Property tests of the parser: syntax tree -> pretty-print -> parse is the
//! identity; random bytes and random token soups never panic, always return
//! quickly, and whatever parses prints back to an equal tree and runs (or
//! fails cleanly) on the fixture store.
//!
//! Case counts come from `PROPTEST_CASES` (default 64 here).

mod common;

use std::time::{Duration as StdDuration, Instant};

use proptest::prelude::*;
use rollcall_engine::{State, Timestamp};
use rollcall_query::syntax::*;
use rollcall_query::{ExecOptions, OutputFormat, execute, parse_script, render};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ----- generators of syntax trees ----------------------------------------------

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![
        "[A-Za-z_][A-Za-z0-9_.-]{0,12}",
        "[ -~]{1,16}",
        "\\PC{1,8}",
        Just("STATES".to_owned()),
        Just("now".to_owned()),
        Just("a\"b\\c".to_owned()),
    ]
    .prop_map(Spanned::synthetic)
}

fn param_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,8}"
}

fn duration() -> impl Strategy<Value = DurationExpr> {
    prop_oneof![
        4 => (0i64..=10_000_000_000_000).prop_map(|ms| DurationValue::Literal(Duration(ms))),
        1 => param_name().prop_map(DurationValue::Param),
    ]
    .prop_map(Spanned::synthetic)
}

fn positive_duration() -> impl Strategy<Value = DurationExpr> {
    prop_oneof![
        4 => (1i64..=10_000_000_000_000).prop_map(|ms| DurationValue::Literal(Duration(ms))),
        1 => param_name().prop_map(DurationValue::Param),
    ]
    .prop_map(Spanned::synthetic)
}

/// Times the literal grammar can write: years 0000..=9999.
fn literal_time() -> impl Strategy<Value = Timestamp> {
    (-62_167_219_200_000i64..=253_402_300_799_999).prop_map(Timestamp)
}

fn time() -> impl Strategy<Value = TimeExpr> {
    let base = prop_oneof![
        literal_time().prop_map(TimeBase::Literal),
        literal_time().prop_map(TimeBase::Local),
        Just(TimeBase::Now),
        param_name().prop_map(TimeBase::Param),
    ];
    let offset = (any::<bool>(), duration()).prop_map(|(plus, by)| Offset {
        sign: if plus { Sign::Plus } else { Sign::Minus },
        by,
    });
    (base, prop::collection::vec(offset, 0..4)).prop_map(|(base, offsets)| TimeExpr {
        base: Spanned::synthetic(base),
        offsets,
    })
}

/// `FROM a TO b` that passes the parser's static order check: `b` is `a`
/// plus a positive step.
fn range() -> impl Strategy<Value = TimeRange> {
    (time(), 1i64..=1_000_000_000_000).prop_map(|(from, step)| {
        let mut to = from.clone();
        to.offsets.push(Offset {
            sign: Sign::Plus,
            by: Spanned::synthetic(DurationValue::Literal(Duration(step))),
        });
        TimeRange { from, to }
    })
}

fn series() -> impl Strategy<Value = Series> {
    let every = prop_oneof![
        6 => positive_duration(),
        1 => (1u32..=24).prop_map(|n| Spanned::synthetic(DurationValue::Months(n))),
    ];
    (range(), every).prop_map(|(r, every)| Series {
        from: r.from,
        to: r.to,
        every,
    })
}

fn state() -> impl Strategy<Value = Spanned<State>> {
    prop::sample::select(State::ALL.to_vec()).prop_map(Spanned::synthetic)
}

/// A `FOR` list without repeats.
fn deployments() -> impl Strategy<Value = Vec<Name>> {
    prop::collection::vec(name(), 0..4).prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|n| seen.insert(n.value.clone()));
        v
    })
}

fn tail() -> impl Strategy<Value = Tail> {
    let zone = prop::sample::select(vec!["Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"])
        .prop_map(|z| Spanned::synthetic(z.to_owned()));
    (prop::option::of(zone), prop::option::of(time()))
        .prop_map(|(time_zone, known_at)| Tail { time_zone, known_at })
}

fn condition() -> impl Strategy<Value = Condition> {
    let op = prop::sample::select(vec![
        CompareOp::AtLeast,
        CompareOp::AtMost,
        CompareOp::Above,
        CompareOp::Below,
    ]);
    let threshold = prop_oneof![
        any::<u64>().prop_map(Threshold::Count),
        (0u64..=100_000_000, 0u32..=6).prop_filter_map("at most 100%", |(units, scale)| {
            let d = Decimal::new(units, scale);
            (d.units <= 100 * 10u64.pow(d.scale)).then_some(Threshold::Percent(d))
        }),
    ];
    (state(), op, threshold).prop_map(|(state, op, threshold)| Condition {
        state,
        op,
        threshold: Spanned::synthetic(threshold),
    })
}

fn round_two() -> impl Strategy<Value = Statement> {
    let flow = (
        prop::option::of(name()),
        prop::option::of(name()),
        range(),
        tail(),
    )
        .prop_map(|(deployment, collection, range, tail)| {
            Statement::Flow(FlowQuery {
                deployment,
                collection,
                range,
                tail,
            })
        });
    let durations = (
        prop::option::of(name()),
        prop::option::of(name()),
        range(),
        state(),
        prop::option::of(state()),
        tail(),
    )
        .prop_map(|(deployment, collection, range, until, since, tail)| {
            Statement::Durations(DurationsQuery {
                deployment,
                collection,
                range,
                until,
                since,
                tail,
            })
        });
    let gate = (
        prop::option::of(name()),
        prop::option::of(name()),
        time(),
        prop::collection::vec(condition(), 1..4),
        prop::option::of(duration()),
        tail(),
    )
        .prop_map(|(deployment, collection, at, conditions, stale_after, tail)| {
            Statement::Gate(GateQuery {
                deployment,
                collection,
                at,
                conditions,
                stale_after,
                tail,
            })
        });
    let show_error = any::<u32>()
        .prop_map(|c| Statement::Show(Show::Error(Spanned::synthetic(rollcall_engine::ErrorCode(c)))));
    prop_oneof![flow, durations, gate, show_error]
}

fn statement_no_explain() -> impl Strategy<Value = Statement> {
    let states = (
        deployments(),
        prop_oneof![
            Just(Scope::All),
            name().prop_map(Scope::In),
            Just(Scope::ByCollection)
        ],
        prop_oneof![time().prop_map(When::At), series().prop_map(When::Series)],
        prop::option::of(duration()),
        tail(),
    )
        .prop_map(|(deployments, scope, when, stale_after, tail)| {
            Statement::States(StatesQuery {
                deployments,
                scope,
                when,
                stale_after,
                tail,
            })
        });
    let failures = (
        deployments(),
        prop::option::of(name()),
        series(),
        any::<bool>(),
        tail(),
    )
        .prop_map(|(deployments, collection, series, by_error, tail)| {
            Statement::Failures(FailuresQuery {
                deployments,
                collection,
                series,
                by_error,
                tail,
            })
        });
    let filter = prop_oneof![
        state().prop_map(StateFilter::Eq),
        prop::collection::vec(state(), 1..4).prop_map(StateFilter::In),
    ];
    let clients = (
        prop::option::of(name()),
        prop::option::of(name()),
        time(),
        prop::option::of(filter),
        prop::option::of(any::<u32>().prop_map(Spanned::synthetic)),
        tail(),
    )
        .prop_map(|(deployment, collection, at, filter, limit, tail)| {
            Statement::Clients(ClientsQuery {
                deployment,
                collection,
                at,
                filter,
                limit,
                tail,
            })
        });
    let history = (
        name(),
        prop::option::of(name()),
        prop::option::of(range()),
        tail(),
    )
        .prop_map(|(client, deployment, range, tail)| {
            Statement::History(HistoryQuery {
                client,
                deployment,
                range,
                tail,
            })
        });
    let show = prop_oneof![
        Just(Show::Collections),
        Just(Show::Deployments),
        Just(Show::Stats),
        (prop::option::of(name()), prop::option::of(name()), range()).prop_map(
            |(deployment, collection, range)| {
                Show::Errors(Box::new(ShowErrors {
                    deployment,
                    collection,
                    range,
                }))
            }
        ),
    ]
    .prop_map(Statement::Show);
    prop_oneof![states, failures, clients, history, show, round_two()]
}

fn statement() -> impl Strategy<Value = Statement> {
    (statement_no_explain(), any::<bool>()).prop_map(|(s, explain)| {
        if explain {
            Statement::Explain(Box::new(s))
        } else {
            s
        }
    })
}

// ----- token soup ------------------------------------------------------------------

const TOKENS: &[&str] = &[
    "STATES",
    "FAILURES",
    "CLIENTS",
    "HISTORY",
    "SHOW",
    "EXPLAIN",
    "FOR",
    "IN",
    "BY",
    "COLLECTION",
    "AT",
    "FROM",
    "TO",
    "EVERY",
    "STALE",
    "AFTER",
    "ERROR",
    "WHERE",
    "STATE",
    "LIMIT",
    "COLLECTIONS",
    "DEPLOYMENTS",
    "ERRORS",
    "STATS",
    "NOW",
    "now",
    "states",
    ";",
    ";",
    "(",
    ")",
    ",",
    "=",
    "+",
    "-",
    "--",
    "\n",
    "\"All Desktops\"",
    "\"Pilot Ring\"",
    "Laptops",
    "production",
    "preproduction",
    "PC-01",
    "\"PC-02\"",
    "Failed",
    "\"non compliant\"",
    "NotStarted",
    "2026-10-01",
    "2026-10-02T12:00:00Z",
    "2026-10-01T01:30:00.250+02:00",
    "2026-13-45",
    "1d",
    "12h",
    "1h30m",
    "0s",
    "15m",
    "1w",
    "7",
    "99999999999999999999",
    "$from",
    "$to",
    "$",
    "\"",
    "\\",
    "é",
    "-- name: x\n",
    "\t",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|toks| toks.join(" "))
}

fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < StdDuration::from_secs(2), "{what} took {took:?}");
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn print_then_parse_is_identity(s in statement()) {
        let text = s.to_string();
        let script = parse_script(&text).map_err(|e| TestCaseError::fail(e.render(&text, "printed")))?;
        prop_assert_eq!(script.statements.len(), 1);
        prop_assert_eq!(&script.statements[0].statement, &s, "{}", text);
        // The printed form is a fixed point.
        prop_assert_eq!(script.statements[0].statement.to_string(), text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = quick("parse", || parse_script(&text)) {
            let _ = e.render(&text, "bytes");
            prop_assert!(matches!(e.exit_code(), 1 | 2));
        }
    }

    #[test]
    fn token_soup_parses_or_fails_cleanly(text in soup()) {
        let (_d, store) = common::fixture();
        match quick("parse", || parse_script(&text)) {
            Err(e) => {
                let rendered = e.render(&text, "soup");
                prop_assert!(rendered.starts_with("error: "), "{}", rendered);
            }
            Ok(script) => {
                let opts = ExecOptions::new(common::now());
                for s in &script.statements {
                    let printed = s.statement.to_string();
                    let again = parse_script(&printed).map_err(|e| TestCaseError::fail(e.render(&printed, "printed")))?;
                    prop_assert_eq!(&again.statements[0].statement, &s.statement);
                    match quick("execute", || execute(&store.snapshot(), &s.statement, &opts)) {
                        Ok(t) => {
                            for format in OutputFormat::ALL {
                                render(&t, format, &mut std::io::sink()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                            }
                        }
                        Err(e) => {
                            let _ = e.render(&text, "soup");
                        }
                    }
                }
            }
        }
    }
}

/// Inputs built to hurt: long chains, deep nesting attempts, huge numbers.
#[test]
fn pathological_inputs_are_refused_quickly() {
    let n = 200_000;
    let cases: Vec<String> = vec![
        format!("STATES AT NOW{}", " + 1s".repeat(n)),
        format!("STATES AT NOW{}", "-1ms".repeat(n)),
        "EXPLAIN ".repeat(n),
        format!("{}SHOW STATS", "EXPLAIN ".repeat(3)),
        "(".repeat(n),
        "\"".repeat(n),
        format!("STATES AT NOW - {}d", "9".repeat(n)),
        format!("CLIENTS AT NOW LIMIT {}", "9".repeat(n)),
        format!("STATES IN \"{}\" AT NOW", "x".repeat(n)),
        format!(
            "CLIENTS AT NOW WHERE STATE IN ({}Failed)",
            "Failed, ".repeat(n / 8)
        ),
        "-- just a comment\n".repeat(n / 16),
        ";".repeat(n),
        "x".repeat((1 << 20) + 1),
        format!("STATES AT {}", "2026-10-01".repeat(n / 10)),
        format!("STATES AT NOW{}", " + $p".repeat(n / 5)),
    ];
    let (_d, store) = common::fixture();
    for text in &cases {
        let head: String = text.chars().take(30).collect();
        match quick(&head, || parse_script(text)) {
            Err(e) => {
                let _ = quick("render", || e.render(text, "big"));
            }
            Ok(script) => {
                let opts = ExecOptions::new(common::now());
                for s in &script.statements {
                    let _ = quick("execute", || execute(&store.snapshot(), &s.statement, &opts));
                }
            }
        }
    }
}

#[test]
fn long_offset_chains_evaluate_without_overflow() {
    let (_d, store) = common::fixture();
    let text = format!("STATES AT NOW{}", " + 1000000w".repeat(20_000));
    let script = parse_script(&text).expect("parses");
    let err = execute(
        &store.snapshot(),
        &script.statements[0].statement,
        &ExecOptions::new(common::now()),
    )
    .expect_err("overflows");
    assert!(
        err.to_string().contains("out of the representable range"),
        "{err}"
    );
    assert!(err.to_string().len() < 200, "the message stays short");
}
