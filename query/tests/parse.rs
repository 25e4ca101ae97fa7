//! Parser behaviour through the public API: the forms SPEC.md section 3
//! allows, spans, statement names, parameters.

use rollcall_engine::{State, Timestamp};
use rollcall_query::syntax::*;
use rollcall_query::{ErrorKind, Params, check_params, parse_script};

fn one(text: &str) -> Statement {
    let script = parse_script(text).unwrap_or_else(|e| panic!("{}", e.render(text, "t")));
    assert_eq!(script.statements.len(), 1, "{text}");
    script
        .statements
        .into_iter()
        .next()
        .map(|s| s.statement)
        .expect("one statement")
}

fn at(s: &Statement) -> &TimeExpr {
    match s {
        Statement::States(StatesQuery {
            when: When::At(t), ..
        }) => t,
        other => panic!("not STATES ... AT: {other:?}"),
    }
}

fn ms(t: &str) -> i64 {
    Timestamp::parse(t).expect("valid").0
}

#[test]
fn time_forms() {
    let lit = |text: &str| match &at(&one(&format!("STATES AT {text}"))).base.value {
        TimeBase::Literal(t) => t.0,
        other => panic!("{other:?}"),
    };
    // Written without an offset: a local time (UTC unless TIME ZONE says
    // otherwise), held as its UTC reading.
    let local = |text: &str| match &at(&one(&format!("STATES AT {text}"))).base.value {
        TimeBase::Local(t) => t.0,
        other => panic!("{other:?}"),
    };
    assert_eq!(lit("2026-11-01T12:00:00Z"), ms("2026-11-01T12:00:00Z"));
    assert_eq!(
        lit("2026-11-01T14:00:00.250+02:00"),
        ms("2026-11-01T12:00:00.250Z")
    );
    assert_eq!(local("2026-11-01T12:00:00"), ms("2026-11-01T12:00:00Z"));
    assert_eq!(local("2026-11-01"), ms("2026-11-01T00:00:00Z"));
    assert_eq!(lit("2026-11-01t12:00:00z"), ms("2026-11-01T12:00:00Z"));

    let t = one("states at now-1d+1h30m - 15m");
    let t = at(&t);
    assert_eq!(t.base.value, TimeBase::Now);
    let offsets: Vec<(Sign, i64)> = t
        .offsets
        .iter()
        .map(|o| match o.by.value {
            DurationValue::Literal(d) => (o.sign, d.0),
            _ => panic!("literal"),
        })
        .collect();
    assert_eq!(
        offsets,
        [
            (Sign::Minus, 86_400_000),
            (Sign::Plus, 5_400_000),
            (Sign::Minus, 900_000)
        ]
    );
    assert_eq!(
        at(&one("STATES AT $from + 1w")).base.value,
        TimeBase::Param("from".into())
    );
}

#[test]
fn durations_are_exact() {
    let every = |text: &str| match one(&format!("FAILURES FROM NOW - 1w TO NOW EVERY {text}")) {
        Statement::Failures(f) => f.series.every.value,
        _ => unreachable!(),
    };
    let lit = |ms| DurationValue::Literal(Duration(ms));
    assert_eq!(every("15m"), lit(900_000));
    assert_eq!(every("1h30m"), lit(5_400_000));
    assert_eq!(every("1d12h"), lit(129_600_000));
    assert_eq!(every("2w"), lit(1_209_600_000));
    assert_eq!(every("1s500ms"), lit(1_500));
    assert_eq!(every("1D"), lit(86_400_000));
    assert_eq!(every("$step"), DurationValue::Param("step".into()));
    assert_eq!(Duration(5_400_000).to_string(), "1h30m");
    assert_eq!(Duration(1_209_600_001).to_string(), "14d1ms");
}

#[test]
fn names_and_states() {
    match one(
        r#"CLIENTS FOR pre.prod-1 IN "All \"Desk\\tops\"" AT NOW WHERE STATE IN (failed, "non compliant", not_started, In-Progress) LIMIT 7"#,
    ) {
        Statement::Clients(c) => {
            assert_eq!(c.deployment.map(|d| d.value).as_deref(), Some("pre.prod-1"));
            assert_eq!(
                c.collection.map(|d| d.value).as_deref(),
                Some("All \"Desk\\tops\"")
            );
            assert_eq!(
                c.filter.map(|f| f.states()),
                Some(vec![
                    State::Failed,
                    State::NonCompliant,
                    State::NotStarted,
                    State::InProgress
                ])
            );
            assert_eq!(c.limit.map(|l| l.value), Some(7));
        }
        other => panic!("{other:?}"),
    }
    // Keywords are reserved as bare names but fine quoted.
    assert!(parse_script("STATES IN at AT NOW").is_err());
    assert!(parse_script(r#"STATES IN "at" AT NOW"#).is_ok());
}

#[test]
fn every_statement_form() {
    for text in [
        "STATES AT NOW",
        "STATES FOR d AT NOW STALE AFTER 7d",
        "STATES IN c FROM 2026-10-01T00:00:00Z TO 2026-11-01T00:00:00.250Z EVERY 1d STALE AFTER 1h",
        "STATES FOR d BY COLLECTION AT NOW",
        "FAILURES FROM NOW - 1d TO NOW EVERY 1h",
        "FAILURES FOR d IN c FROM NOW - 1d TO NOW EVERY 1h BY ERROR",
        "CLIENTS AT NOW",
        "CLIENTS FOR d IN c AT NOW WHERE STATE = Failed LIMIT 0",
        "HISTORY x",
        "HISTORY x FOR d FROM NOW - 1d TO NOW",
        "SHOW COLLECTIONS",
        "SHOW DEPLOYMENTS",
        "SHOW STATS",
        "SHOW ERRORS FROM NOW - 1d TO NOW",
        "SHOW ERRORS FOR d IN c FROM NOW - 1d TO NOW",
        "EXPLAIN STATES AT NOW",
        "EXPLAIN SHOW STATS",
    ] {
        let s = one(text);
        assert_eq!(s.to_string(), text, "canonical form");
        let lower = one(&text.to_lowercase());
        // Lower-casing changes bare names only where they were upper-case;
        // these use lower-case names, so the trees are equal.
        assert_eq!(lower, s, "{text}");
    }
}

#[test]
fn scripts_spans_names_and_parameters() {
    let src = "-- name: first\nSTATES AT NOW ;\n\n-- a note\n-- name: second.v2\nFAILURES FROM $from TO $to EVERY $step;;\nSHOW STATS";
    let script = parse_script(src).expect("parses");
    assert_eq!(script.statements.len(), 3);
    let names: Vec<Option<&str>> = script.statements.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names, [Some("first"), Some("second.v2"), None]);
    assert_eq!(&src[script.statements[0].span.clone()], "STATES AT NOW");
    assert_eq!(
        &src[script.statements[1].span.clone()],
        "FAILURES FROM $from TO $to EVERY $step"
    );
    assert_eq!(&src[script.statements[2].span.clone()], "SHOW STATS");
    let params: Vec<String> = script.parameters().into_iter().collect();
    assert_eq!(params, ["from", "step", "to"]);

    let err = check_params(&script, &Params::from([("to".into(), "NOW".into())])).expect_err("unbound");
    let unbound: Vec<String> = err
        .kinds()
        .map(|k| match k {
            ErrorKind::UnboundParam { name, .. } => name.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(unbound, ["from", "step"]);

    let bad = Params::from([
        ("from".into(), "2026-10-01".into()),
        ("to".into(), "1790000000000".into()),
        ("step".into(), "1 hour".into()),
    ]);
    let err = check_params(&script, &bad).expect_err("a bad duration");
    assert_eq!(err.kinds().count(), 1);
    assert!(err.to_string().contains("--param step="), "{err}");

    assert!(parse_script("").expect("empty").statements.is_empty());
    assert!(
        parse_script("-- nothing\n;;")
            .expect("comments")
            .statements
            .is_empty()
    );
}

#[test]
fn errors_point_at_the_fault() {
    let span_of = |text: &str| match parse_script(text).expect_err(text).kind() {
        ErrorKind::Syntax { span, .. }
        | ErrorKind::Invalid { span, .. }
        | ErrorKind::UnknownName { span, .. } => span.range(),
        other => panic!("{other:?}"),
    };
    // End of input: just past the last token, even with trailing comments.
    assert_eq!(span_of("STATES IN x -- trailing\n"), 11..11);
    assert_eq!(span_of("STATES AT NOW EVERY"), 14..19);
    assert_eq!(span_of("STATES AT 2026-02-30"), 10..20);
    assert_eq!(span_of("CLIENTS AT NOW WHERE STATE = nope"), 29..33);
}
