//! `rollcall serve` against a real server on a loopback port (SPEC 7.7):
//! `POST /query` answers exactly the bytes `rollcall query --format F`
//! prints, for every statement kind; errors are JSON with the SPEC status;
//! oversized bodies, slow clients, a full queue and 200 requests at once are
//! answered without a crash; the token is required and checked; the server
//! follows commits and compactions made by another process.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::server::{Server, get, post_query, read_answer, request};
use common::{Env, stdout_of};

/// One statement of every kind, on the fixture.
const STATEMENTS: &[&str] = &[
    "STATES IN \"All Desktops\" AT 2026-10-03",
    "STATES AT 2026-10-02T12:00:00Z STALE AFTER 1d",
    "STATES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-04 EVERY 12h",
    "STATES BY COLLECTION AT 2026-10-03",
    "STATES FOR preproduction, production AT 2026-10-03",
    "FAILURES FROM 2026-10-01 TO 2026-10-04 EVERY 1d",
    "FAILURES FROM 2026-10-01 TO 2026-10-07 EVERY 1d BY ERROR",
    "FAILURES FROM 2026-10-01 TO 2026-10-04 EVERY 1d TIME ZONE \"Europe/Berlin\"",
    "CLIENTS AT 2026-10-03",
    "CLIENTS IN \"All Desktops\" AT 2026-10-03 WHERE STATE = Failed LIMIT 1",
    "HISTORY \"PC-1\"",
    "FLOW IN \"All Desktops\" FROM 2026-10-01T11:30:00Z TO 2026-10-03",
    "DURATIONS IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-05 UNTIL Compliant SINCE InProgress",
    "GATE IN \"All Desktops\" AT 2026-10-03 WHEN Compliant >= 30% AND Failed <= 2",
    "STATES IN \"All Desktops\" AT 2026-10-03 AS KNOWN AT NOW",
    "SHOW COLLECTIONS",
    "SHOW DEPLOYMENTS",
    "SHOW ERRORS FROM 2026-10-01 TO 2026-10-08",
    "SHOW ERROR 0x87D00324",
    "SHOW STATS",
    "STATES IN \"All Desktops\" AT 2026-10-03; FAILURES FROM 2026-10-01 TO 2026-10-03 EVERY 1d",
];

fn fixture() -> Env {
    let env = Env::new();
    env.load_fixture();
    env
}

fn cli(env: &Env, rql: &str, format: &str, params: &[(&str, &str)]) -> Vec<u8> {
    let mut cmd = env.cmd();
    cmd.args(["query", rql, "--format", format]);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    let out = cmd.assert();
    out.get_output().stdout.clone()
}

#[test]
fn every_statement_kind_answers_the_bytes_query_prints() {
    let env = fixture();
    let server = Server::start(&env.db(), &[]);
    for rql in STATEMENTS {
        for format in ["json", "csv", "ndjson"] {
            let expected = cli(&env, rql, format, &[]);
            assert!(!expected.is_empty(), "{rql}: the command printed nothing");
            let got = post_query(server.addr, &format!("format={format}"), rql);
            assert_eq!(got.status, 200, "{rql} as {format}: {}", got.text());
            assert_eq!(
                got.text(),
                String::from_utf8(expected).unwrap(),
                "{rql} as {format}: the server's body differs from `rollcall query`'s output"
            );
        }
    }
    // json is the default; parameters come as ?param.NAME=VALUE.
    let rql = "FAILURES FROM $from TO $from + 3d EVERY 1d";
    let expected = cli(&env, rql, "json", &[("from", "2026-10-01")]);
    let got = post_query(server.addr, "param.from=2026-10-01", rql);
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.body, expected);
    let csv = post_query(server.addr, "format=csv", "SHOW COLLECTIONS");
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    // html is the page `--format html` prints, one table per statement.
    let html = post_query(server.addr, "format=html", STATEMENTS[0]);
    assert_eq!(html.status, 200);
    assert!(html.text().starts_with("<!doctype html>") || html.text().starts_with("<!DOCTYPE html>"));
    assert!(html.text().contains("<svg"), "the STATES page has its chart");
}

#[test]
fn errors_are_json_with_the_spec_status() {
    let env = fixture();
    let server = Server::start(&env.db(), &[]);
    let syntax = post_query(server.addr, "", "SHOW STATS;\nSTATES IN \"All Desktops\" NOW");
    assert_eq!(syntax.status, 400, "{}", syntax.text());
    let j = syntax.json();
    assert_eq!(j["error"], "syntax");
    assert_eq!(j["line"], 2);
    assert_eq!(j["column"], 26);
    assert!(
        j["message"].as_str().unwrap().contains("expected AT or FROM"),
        "{j}"
    );

    let unknown = post_query(server.addr, "", "STATES IN \"All Desktop\" AT 2026-10-03");
    assert_eq!(unknown.status, 422, "{}", unknown.text());
    let j = unknown.json();
    assert_eq!(j["error"], "unknown_name");
    assert_eq!((j["line"].as_u64(), j["column"].as_u64()), (Some(1), Some(11)));
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"All Desktops\"?"),
        "{j}"
    );
    // The same through the command line: exit 1 and 2, for comparison.
    env.cmd()
        .args(["query", "STATES IN \"All Desktop\" AT 2026-10-03"])
        .assert()
        .code(1);

    let second_fails = post_query(server.addr, "", "SHOW STATS; HISTORY \"PC-404\"");
    assert_eq!(second_fails.status, 422, "{}", second_fails.text());
    assert_eq!(
        second_fails.json()["statement"],
        2,
        "the failing statement is named"
    );
    assert_eq!(second_fails.json()["line"], 1);

    for (query, body, code) in [
        ("", "", "empty"),
        ("", "-- only a comment\n", "empty"),
        ("", "FAILURES FROM $from TO NOW EVERY 1d", "unbound_parameter"),
        (
            "param.fro=1",
            "FAILURES FROM $from TO NOW EVERY 1d",
            "unused_parameter",
        ),
        (
            "param.from=yesterday",
            "FAILURES FROM $from TO NOW EVERY 1d",
            "invalid",
        ),
        ("format=xml", "SHOW STATS", "format"),
        ("limit=3", "SHOW STATS", "query_string"),
        (
            "",
            "STATES AT 2026-10-03 TIME ZONE \"Europe/Berln\"",
            "unknown_name",
        ),
    ] {
        let a = post_query(server.addr, query, body);
        assert!(
            a.status == 400 || a.status == 422,
            "{query} {body:?}: {} {}",
            a.status,
            a.text()
        );
        let j = a.json();
        assert_eq!(j["error"], code, "{query} {body:?}: {j}");
        assert!(j.get("line").is_some() && j.get("column").is_some(), "{j}");
        assert!(!j["message"].as_str().unwrap().is_empty());
    }
    let zone = post_query(server.addr, "", "STATES AT 2026-10-03 TIME ZONE \"Europe/Berln\"");
    assert!(
        zone.json()["message"].as_str().unwrap().contains("Europe/Berlin"),
        "{}",
        zone.text()
    );
    let not_utf8 = request(server.addr, "POST", "/query", &[], b"STATES AT \xff");
    assert_eq!(not_utf8.status, 400);

    // A failed gate is an answer, not an error: the header says it.
    let gate = post_query(
        server.addr,
        "",
        "GATE IN \"All Desktops\" AT 2026-10-03 WHEN Compliant >= 99%",
    );
    assert_eq!(gate.status, 200, "{}", gate.text());
    assert_eq!(gate.header("x-rollcall-gates-failed"), Some("1"));

    // No write endpoint, no other path; never a panic.
    assert_eq!(request(server.addr, "PUT", "/query", &[], b"x").status, 405);
    assert_eq!(
        request(server.addr, "DELETE", "/api/collections", &[], b"").status,
        405
    );
    assert_eq!(get(server.addr, "/ingest").status, 404);
    assert_eq!(get(server.addr, "/query").status, 405);
    assert_eq!(get(server.addr, "/api/failed?collection=Nope").status, 422);
    assert_eq!(get(server.addr, "/api/failed?at=yesterday").status, 400);
    assert_eq!(get(server.addr, "/api/failed?limit=0").status, 400);
    assert_eq!(get(server.addr, "/api/failed?x=%ZZ").status, 400);
}

#[test]
fn the_api_lists_what_rql_shows() {
    let env = fixture();
    let server = Server::start(&env.db(), &[]);
    let collections = get(server.addr, "/api/collections").json();
    assert_eq!(collections, serde_json::json!(["All Desktops", "Pilot Ring"]));
    let deployments = get(server.addr, "/api/deployments").json();
    assert_eq!(deployments, serde_json::json!(["preproduction", "production"]));
    let v = get(server.addr, "/api/version").json();
    assert_eq!(v["version"], 0);
    assert_eq!(v["first"], "2026-10-01T10:00:00Z");
    assert_eq!(v["last"], "2026-10-06T10:00:00Z");
    assert_eq!(v["transitions"], 9);

    // The failed clients: those of CLIENTS ... WHERE STATE = Failed, with
    // the error of the transition that made them Failed, and its text.
    let failed = get(
        server.addr,
        "/api/failed?collection=All%20Desktops&at=2026-10-03T12:00:00Z",
    )
    .json();
    let clients = env.query_csv("CLIENTS IN \"All Desktops\" AT 2026-10-03T12:00:00Z WHERE STATE = Failed");
    assert_eq!(
        clients, "client,state,since\nPC-2,Failed,2026-10-03T08:00:00Z\n",
        "the fixture as the test expects it"
    );
    assert_eq!(
        failed["clients"],
        serde_json::json!([{
            "client": "PC-2",
            "since": "2026-10-03T08:00:00Z",
            "error": "0x87d00324",
            "text": env.query_csv("SHOW ERROR 0x87D00324").lines().find_map(|l| l.strip_prefix("text,")).map(|t| t.trim_matches('"').to_owned()),
        }])
    );
    assert_eq!(failed["more"], false);
    let pilot = get(
        server.addr,
        "/api/failed?deployment=preproduction&at=2026-10-03&limit=1",
    )
    .json();
    assert_eq!(pilot["clients"][0]["client"], "PC-4");
    assert_eq!(pilot["clients"][0]["error"], "0x80070652");
    assert_eq!(pilot["more"], false);

    let page = get(server.addr, "/");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(
        page.header("access-control-allow-origin").is_none(),
        "CORS is off"
    );
    let html = page.text();
    for id in [
        "collection",
        "deployment",
        "time",
        "states-chart",
        "failures-chart",
        "failed-rows",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "the dashboard has #{id}");
    }
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "nothing is fetched from elsewhere"
    );

    // One log line per request, naming method, path and status.
    let log = server.log_lines();
    let requests: Vec<&String> = log
        .iter()
        .filter(|l| l.contains(" GET /") || l.contains(" POST /"))
        .collect();
    assert_eq!(requests.len(), 6, "{log:#?}");
    assert!(
        requests.iter().any(|l| l.contains("GET /api/failed 200")),
        "{log:#?}"
    );
}

#[test]
fn oversized_slow_and_crowded_requests_are_answered() {
    let env = fixture();
    let server = Server::start(
        &env.db(),
        &[
            "--max-body",
            "1024",
            "--timeout",
            "2",
            "--workers",
            "1",
            "--queue",
            "0",
        ],
    );
    // Too large, by its length or by what it sends.
    let big = post_query(server.addr, "", &"-- padding\n".repeat(200));
    assert_eq!(big.status, 413, "{}", big.text());
    assert_eq!(big.json()["error"], "too_large");

    // A slow client: a head that promises a body never sent. It holds the
    // only place (workers 1, queue 0), so another request is refused with
    // 429 at once; after the time limit the slow one gets 408.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    write!(
        slow,
        "POST /query HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\nSTATES"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let crowded = post_query(server.addr, "", "SHOW STATS");
    assert_eq!(crowded.status, 429, "{}", crowded.text());
    assert_eq!(crowded.header("retry-after"), Some("1"));
    let started = Instant::now();
    let timed_out = read_answer(&mut slow);
    assert_eq!(timed_out.status, 408, "{}", timed_out.text());
    assert_eq!(timed_out.json()["error"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The place is free again.
    assert_eq!(post_query(server.addr, "", "SHOW STATS").status, 200);

    // A connection that sends half a head and goes away changes nothing.
    {
        let mut half = TcpStream::connect(server.addr).unwrap();
        half.write_all(b"POST /query HTTP/1.1\r\nContent-Le").unwrap();
    }
    assert_eq!(post_query(server.addr, "", "SHOW STATS").status, 200);
}

#[test]
fn two_hundred_requests_at_once() {
    let env = fixture();
    let mut server = Server::start(&env.db(), &["--queue", "32"]);
    let expected = String::from_utf8(cli(&env, STATEMENTS[3], "json", &[])).unwrap();
    let addr = server.addr;
    let handles: Vec<_> = (0..200)
        .map(|_| std::thread::spawn(move || post_query(addr, "", STATEMENTS[3])))
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = answers.iter().filter(|a| a.status == 200).count();
    for a in &answers {
        assert!(a.status == 200 || a.status == 429, "{} {}", a.status, a.text());
        if a.status == 200 {
            assert_eq!(a.text(), expected);
        } else {
            assert_eq!(a.json()["error"], "busy");
        }
    }
    assert!(
        ok >= 34,
        "only {ok} of 200 were answered (workers + queue at least)"
    );
    assert!(server.alive());
    assert_eq!(post_query(addr, "", "SHOW STATS").status, 200);
}

#[test]
fn the_token_is_required_and_checked() {
    let env = fixture();
    // Off loopback without a token: refused before listening.
    let refused = env
        .cmd()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .assert()
        .code(2);
    let text = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(text.contains("without --token"), "{text}");
    env.cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--token", "short"])
        .assert()
        .code(2);

    let token = "0123456789abcdef0123456789abcdef";
    let server = Server::start(&env.db(), &["--token", token]);
    let bearer = format!("Bearer {token}");
    let wrong = format!("Bearer {}x", &token[..31]);
    let missing = request(server.addr, "POST", "/query", &[], b"SHOW COLLECTIONS");
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert_eq!(missing.json()["error"], "unauthorized");
    for h in [wrong.as_str(), "Bearer", "Basic Zm9vOmJhcg==", token] {
        let a = request(
            server.addr,
            "GET",
            "/api/collections",
            &[("Authorization", h)],
            b"",
        );
        assert_eq!(a.status, 401, "{h}");
    }
    let ok = request(
        server.addr,
        "POST",
        "/query",
        &[("Authorization", &bearer)],
        b"SHOW COLLECTIONS",
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    // The page itself holds no data and loads without the token; it asks
    // for it. Nothing the log prints holds the token.
    let page = get(server.addr, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("const TOKEN_REQUIRED = true;"));
    assert!(server.log_lines().iter().all(|l| !l.contains(token)));

    // Off loopback with a token: it starts.
    let outside = Server::start(&env.db(), &["--listen", "0.0.0.0:0", "--token", token]);
    assert!(outside.addr.ip().is_unspecified());
}

#[test]
fn the_server_follows_commits_and_compactions_of_another_process() {
    let env = fixture();
    let server = Server::start(&env.db(), &[]);
    let rql = "STATES IN \"All Desktops\" AT 2026-10-10";
    let before = post_query(server.addr, "format=csv", rql).text();
    assert_eq!(before, String::from_utf8(cli(&env, rql, "csv", &[])).unwrap());
    // The server holds no lock: another process ingests beside it.
    let more = env.write(
        "more.csv",
        "time,client,state\n2026-10-08T00:00:00Z,PC-1,Failed\n2026-10-08T00:00:00Z,PC-2,InProgress\n",
    );
    env.cmd().args(["ingest", "events"]).arg(&more).assert().success();
    let expected = String::from_utf8(cli(&env, rql, "csv", &[])).unwrap();
    assert_ne!(expected, before);
    let waited = wait_for(|| post_query(server.addr, "format=csv", rql).text() == expected);
    assert!(waited, "the server did not see the new commit");
    // The ingest's commit and its end-of-command flush are one or two
    // changes, depending on when the server looked.
    let seen = get(server.addr, "/api/version").json()["version"]
        .as_u64()
        .unwrap();
    assert!(seen >= 1);
    env.cmd().arg("compact").assert().success();
    assert!(wait_for(|| get(server.addr, "/api/version").json()["version"]
        .as_u64()
        .unwrap()
        > seen));
    assert_eq!(post_query(server.addr, "format=csv", rql).text(), expected);
    let stats = stdout_of(&env.cmd().arg("stats").assert().success());
    assert!(stats.contains("transitions           11"), "{stats}");
    assert_eq!(get(server.addr, "/api/version").json()["transitions"], 11);
}

fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_statement_over_the_time_limit_is_cancelled_with_408() {
    let env = fixture();
    let server = Server::start(
        &env.db(),
        &["--timeout", "1", "--workers", "1", "--max-body", "4000000"],
    );
    // Thousands of 10,080-point series: far more than a second of work.
    let one = "STATES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-08 EVERY 1m;\n";
    let started = Instant::now();
    let slow = post_query(server.addr, "format=csv", &one.repeat(12_000));
    assert_eq!(slow.status, 408, "{}", &slow.text()[..slow.text().len().min(300)]);
    assert_eq!(slow.json()["error"], "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The only worker was given back: the statement stopped, so the next
    // request is answered within its own one-second limit.
    let next = post_query(server.addr, "format=csv", "SHOW COLLECTIONS");
    assert_eq!(next.status, 200, "{}", next.text());
}
