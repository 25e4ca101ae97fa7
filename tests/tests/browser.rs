//! The dashboard in a real browser (SPEC 7.7): headless Chromium, driven
//! through the Chrome DevTools Protocol over its WebSocket, against
//! `rollcall serve` on a demo fleet. The page loads without a console
//! error; the state chart's numbers are the RQL answer; the failures chart
//! holds the answer of the statement it shows; choosing another collection
//! changes them; a commit made by another process while the page is open
//! shows up without a reload. The browser runs in Europe/Berlin, so the
//! daily chart is one of local days (and the fleet's 90 days cross the
//! October DST change). A screenshot is kept; its path is printed.
//!
//! Chromium is `$ROLLCALL_CHROMIUM`, else `chromium` on the `PATH`
//! (Debian's package; `.ci/run` installs it). Without one the test says so
//! and passes, unless `ROLLCALL_BROWSER_TEST=required` (CI sets it), where
//! a missing browser fails it.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::Env;
use common::server::Server;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const STATES: [&str; 6] = [
    "NotStarted",
    "Compliant",
    "InProgress",
    "NonCompliant",
    "Failed",
    "Unknown",
];

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROLLCALL_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// A headless Chromium; killed when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws_url: String,
}

impl Browser {
    fn launch(exe: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1200,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", exe.display()));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let ws_url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium did not print its DevTools address");
        Browser {
            child,
            _profile: profile,
            ws_url,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DevTools connection with one attached page.
struct Page {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: String,
    /// Console errors and uncaught exceptions seen so far.
    errors: Vec<String>,
}

impl Page {
    fn open(browser: &Browser) -> Page {
        let (ws, _) = tungstenite::connect(browser.ws_url.as_str()).expect("connect to DevTools");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        }
        let mut page = Page {
            ws,
            next_id: 0,
            session: String::new(),
            errors: Vec::new(),
        };
        let target = page.call_browser("Target.createTarget", json!({ "url": "about:blank" }));
        let id = target["targetId"].as_str().unwrap().to_owned();
        let attached = page.call_browser(
            "Target.attachToTarget",
            json!({ "targetId": id, "flatten": true }),
        );
        page.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            page.call(domain, json!({}));
        }
        page
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to DevTools");
        loop {
            let m = self.ws.read().expect("read from DevTools");
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
            self.event(&v);
        }
    }

    fn event(&mut self, v: &Value) {
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => self
                .errors
                .push(format!("exception: {}", v["params"]["exceptionDetails"])),
            Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => self
                .errors
                .push(format!("console.error: {}", v["params"]["args"])),
            Some("Log.entryAdded") if v["params"]["entry"]["level"] == "error" => {
                self.errors.push(format!("log: {}", v["params"]["entry"]["text"]))
            }
            _ => {}
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(None, method, params)
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(Some(&s), method, params)
    }

    /// Evaluates `expr` in the page and returns its value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expr}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is true in the page.
    fn wait(&mut self, expr: &str, what: &str) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if self.eval(expr) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let error = self.eval("document.getElementById('error').textContent");
        panic!("timed out waiting for {what} ({expr}); the page's error box says {error}");
    }

    /// The six counts and the total the state chart shows.
    fn counts(&mut self) -> Value {
        self.eval(
            "(() => { const o = {}; for (const s of ['NotStarted','Compliant','InProgress','NonCompliant','Failed','Unknown']) o[s] = Number(document.getElementById('count-' + s).textContent); o.total = Number(document.getElementById('total').textContent); return o; })()",
        )
    }

    fn loaded(&mut self) -> u64 {
        self.eval("window.rollcall.loaded").as_u64().unwrap()
    }
}

/// `STATES ... AT NOW` through the command line, as the chart's object.
fn rql_counts(env: &Env, rql: &str) -> Value {
    let out = env
        .cmd()
        .args(["query", rql, "--format", "json"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let row = &v[0];
    let mut o = serde_json::Map::new();
    for s in STATES {
        o.insert(s.to_owned(), row[s].clone());
    }
    o.insert("total".into(), row["total"].clone());
    Value::Object(o)
}

fn query_json(env: &Env, rql: &str) -> Value {
    let out = env
        .cmd()
        .args(["query", rql, "--format", "json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let Some(exe) = chromium() else {
        assert!(
            std::env::var("ROLLCALL_BROWSER_TEST").as_deref() != Ok("required"),
            "ROLLCALL_BROWSER_TEST=required but no chromium: install it (apt-get install -y chromium) or set ROLLCALL_CHROMIUM"
        );
        println!(
            "browser test skipped: no chromium on PATH (set ROLLCALL_CHROMIUM, or apt-get install -y chromium)"
        );
        return;
    };
    let env = Env::new();
    // A demo fleet whose 90 days end an hour ago: the page's NOW is the
    // wall clock, and the October DST change lies inside its range.
    let now = common::wall_clock_hour();
    env.cmd()
        .args(["demo", "--clients", "600", "--now", &now])
        .assert()
        .success();
    let server = Server::start(&env.db(), &[]);
    let browser = Browser::launch(&exe);
    let mut page = Page::open(&browser);
    page.call(
        "Emulation.setTimezoneOverride",
        json!({ "timezoneId": "Europe/Berlin" }),
    );
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 1200, "height": 1000, "deviceScaleFactor": 1, "mobile": false }),
    );
    page.call("Page.navigate", json!({ "url": format!("{}/", server.url()) }));
    page.wait(
        "window.rollcall !== undefined && window.rollcall.loaded >= 1",
        "the first load",
    );

    // The whole fleet, production, now: the chart is the RQL answer.
    assert_eq!(page.counts(), rql_counts(&env, "STATES FOR production AT NOW"));
    assert_eq!(
        page.eval("Intl.DateTimeFormat().resolvedOptions().timeZone"),
        json!("Europe/Berlin")
    );

    // The failures chart: its bars are the answer of the statement the
    // page shows (daily buckets of Berlin days), bucket by bucket.
    let failures_rql =
        page.eval("document.getElementById('rql').textContent.split(';\\n')[1].replace(/;$/, '')");
    let failures_rql = failures_rql.as_str().unwrap().to_owned();
    assert!(
        failures_rql.contains("TIME ZONE \"Europe/Berlin\""),
        "{failures_rql}"
    );
    let bars = page.eval(
        "[...document.querySelectorAll('#failures-chart rect')].map(r => [r.getAttribute('data-bucket'), Number(r.getAttribute('data-count'))])",
    );
    let answer: Vec<Value> = query_json(&env, &failures_rql)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["bucket"], r["failures"]]))
        .collect();
    assert_eq!(bars, Value::Array(answer), "{failures_rql}");
    assert_eq!(bars.as_array().unwrap().len(), 30);
    assert!(
        bars[0][0].as_str().unwrap().ends_with("+01:00"),
        "Berlin days in winter: {bars}"
    );

    // 90 Berlin days cross the end of summer time (2026-10-25): the
    // buckets change offset there and the chart still holds the answer.
    let before = page.loaded();
    page.eval("(() => { const s = document.getElementById('span'); s.value = '90d'; s.dispatchEvent(new Event('change')); return true; })()");
    page.wait(&format!("window.rollcall.loaded > {before}"), "the 90-day chart");
    let rql90 = page.eval("document.getElementById('rql').textContent.split(';\\n')[1].replace(/;$/, '')");
    let bars90 = page.eval(
        "[...document.querySelectorAll('#failures-chart rect')].map(r => [r.getAttribute('data-bucket'), Number(r.getAttribute('data-count'))])",
    );
    let answer90: Vec<Value> = query_json(&env, rql90.as_str().unwrap())
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["bucket"], r["failures"]]))
        .collect();
    assert_eq!(bars90, Value::Array(answer90));
    let offsets: Vec<&str> = bars90
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b[0].as_str().unwrap()[19..])
        .collect();
    assert_eq!(offsets.len(), 90);
    if offsets[0] == "+02:00" {
        let change = offsets
            .iter()
            .position(|o| *o == "+01:00")
            .expect("winter time starts");
        assert!(offsets[change..].iter().all(|o| *o == "+01:00"), "{offsets:?}");
        assert!(
            bars90[change][0]
                .as_str()
                .unwrap()
                .starts_with("2026-10-26T00:00:00"),
            "{bars90}"
        );
    }
    // Back to 30 days, and wait for that load: otherwise its completion
    // could be taken below for the redraw of another collection.
    let before = page.loaded();
    page.eval("(() => { const s = document.getElementById('span'); s.value = '30d'; s.dispatchEvent(new Event('change')); return true; })()");
    page.wait(
        &format!("window.rollcall.loaded > {before}"),
        "the 30-day chart again",
    );

    // The failed clients are those CLIENTS lists, with error codes.
    let listed =
        page.eval("[...document.querySelectorAll('#failed-rows tr')].map(tr => tr.cells[0].textContent)");
    let failed = query_json(
        &env,
        "CLIENTS FOR production AT NOW WHERE STATE = Failed LIMIT 50",
    );
    let names: Vec<Value> = failed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["client"].clone())
        .collect();
    assert_eq!(listed, Value::Array(names));
    assert!(
        !listed.as_array().unwrap().is_empty(),
        "the demo fleet has failed clients"
    );

    // Another collection: the numbers change to its answer.
    let before = page.loaded();
    page.eval("(() => { const s = document.getElementById('collection'); s.value = 'Pilot Ring'; s.dispatchEvent(new Event('change')); return true; })()");
    page.wait(
        &format!("window.rollcall.loaded > {before}"),
        "the redraw for Pilot Ring",
    );
    let pilot = rql_counts(&env, "STATES FOR production IN \"Pilot Ring\" AT NOW");
    assert_eq!(page.counts(), pilot);
    assert_ne!(
        pilot,
        rql_counts(&env, "STATES FOR production AT NOW"),
        "the fixture makes the two differ"
    );

    // A commit made by another process while the page is open shows up
    // without a reload: every Pilot Ring client fails a minute ago.
    page.eval("window.__sameDocument = 42");
    let version = page.eval("window.rollcall.version").as_u64().unwrap();
    let members = query_json(&env, "CLIENTS IN \"Pilot Ring\" AT NOW");
    let minute_ago = common::wall_clock_minus_minute();
    let mut csv = String::from("time,client,state,error\n");
    for m in members.as_array().unwrap() {
        csv.push_str(&format!(
            "{minute_ago},{},Failed,0x80070643\n",
            m["client"].as_str().unwrap()
        ));
    }
    let file = env.write("late.csv", csv);
    env.cmd().args(["ingest", "events"]).arg(file).assert().success();
    page.wait(
        &format!("window.rollcall.version > {version} && Number(document.getElementById('count-Failed').textContent) === Number(document.getElementById('total').textContent)"),
        "the new commit on the open page",
    );
    assert_eq!(
        page.counts(),
        rql_counts(&env, "STATES FOR production IN \"Pilot Ring\" AT NOW")
    );
    assert_eq!(
        page.eval("window.__sameDocument"),
        json!(42),
        "the page was not reloaded"
    );
    let texts =
        page.eval("[...document.querySelectorAll('#failed-rows tr')].map(tr => tr.cells[3].textContent)");
    assert!(
        texts
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t == "Fatal error during installation."),
        "each failed client shows its error's text: {texts}"
    );

    // Back to everything for the picture.
    let before = page.loaded();
    page.eval("(() => { const s = document.getElementById('collection'); s.value = 'All Desktops'; s.dispatchEvent(new Event('change')); return true; })()");
    page.wait(
        &format!("window.rollcall.loaded > {before}"),
        "the redraw for All Desktops",
    );
    let shot = page.call("Page.captureScreenshot", json!({ "format": "png" }));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&out, &png).unwrap();
    println!("dashboard screenshot: {}", out.display());
    if std::env::var_os("ROLLCALL_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/dashboard.png");
        std::fs::write(&docs, &png).unwrap();
        println!("updated {}", docs.display());
    }
    assert!(
        page.errors.is_empty(),
        "the page logged errors: {:#?}",
        page.errors
    );
    drop(browser);
}
