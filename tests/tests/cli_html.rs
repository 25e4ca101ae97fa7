//! `--format html` through the real binary (SPEC 7.7): pages parse as HTML
//! (html5ever, through `scraper`) without a parse error; every chartable
//! statement (`STATES`, a `STATES` series, `FAILURES`) gets exactly one
//! `<svg>` and no other statement does; each result table holds exactly the
//! CSV form of the same query; the charts' labels and tooltips hold the CSV
//! numbers; names are escaped; nothing is fetched (no address, no script);
//! `run --output-dir` writes a page per statement and an index linking each.

mod common;

use std::collections::BTreeSet;

use common::{Env, stderr_of, stdout_of};
use scraper::{ElementRef, Html, Selector};

/// A collection name that needs escaping everywhere.
const EVIL: &str = "Ev<&>\"il";

fn fixture() -> Env {
    let env = Env::new();
    env.load_fixture();
    let m = env.write(
        "evil.csv",
        "time,client,collection,change\n2026-10-01T00:00:00Z,PC-2,\"Ev<&>\"\"il\",join\n",
    );
    env.cmd().args(["ingest", "members"]).arg(m).assert().success();
    env
}

/// Statements and whether each is charted.
const STATEMENTS: &[(&str, bool)] = &[
    ("STATES IN \"All Desktops\" AT 2026-10-03", true),
    (
        "STATES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-04 EVERY 12h",
        true,
    ),
    ("STATES BY COLLECTION AT 2026-10-03", true),
    ("FAILURES FROM 2026-10-01 TO 2026-10-04 EVERY 1d", true),
    ("FAILURES FROM 2026-10-01 TO 2026-10-07 EVERY 1d BY ERROR", true),
    ("FAILURES FROM 2026-10-10 TO 2026-10-12 EVERY 1d BY ERROR", true),
    ("CLIENTS AT 2026-10-03", false),
    ("HISTORY \"PC-1\"", false),
    (
        "GATE IN \"All Desktops\" AT 2026-10-03 WHEN Compliant >= 60% AND Failed <= 1",
        false,
    ),
    ("FLOW IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-03", false),
    ("SHOW COLLECTIONS", false),
];

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("a valid selector")
}

fn text(e: ElementRef<'_>) -> String {
    e.text().collect()
}

/// Parses `page`, asserting it is a self-contained HTML document without a
/// parse error.
fn parse_page(page: &str) -> Html {
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "{}",
        &page[..page.len().min(200)]
    );
    let lower = page.to_ascii_lowercase();
    for banned in [
        "http://", "https://", "<script", "<link", "src=", "@import", "url(",
    ] {
        assert!(!lower.contains(banned), "the page holds {banned:?}");
    }
    let doc = Html::parse_document(page);
    assert!(doc.errors.is_empty(), "parse errors: {:?}", doc.errors);
    assert_eq!(
        doc.select(&sel("head > style")).count(),
        1,
        "one inline style sheet"
    );
    doc
}

/// The CSV form of `rql`, as records (header first).
fn csv_records(env: &Env, rql: &str) -> Vec<Vec<String>> {
    let out = env.cmd().args(["query", rql, "--format", "csv"]).assert();
    let out = out.get_output().stdout.clone();
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(out.as_slice());
    r.records()
        .map(|rec| rec.expect("csv").iter().map(str::to_owned).collect())
        .collect()
}

/// The result table of a section, as records (header first).
fn table_records(section: ElementRef<'_>) -> Vec<Vec<String>> {
    let table = section
        .select(&sel("table.result"))
        .next()
        .expect("a result table");
    let mut rows = vec![table.select(&sel("thead th")).map(text).collect::<Vec<_>>()];
    for tr in table.select(&sel("tbody tr")) {
        rows.push(tr.select(&sel("td")).map(text).collect());
    }
    rows
}

fn share(n: u64, total: u64) -> String {
    if total == 0 {
        return "0.0%".into();
    }
    let tenths = (n * 2000 + total) / (total * 2);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

const STATES: [&str; 6] = [
    "NotStarted",
    "Compliant",
    "InProgress",
    "NonCompliant",
    "Failed",
    "Unknown",
];

/// Checks the chart of `section` against the CSV records of its statement.
fn check_chart(rql: &str, section: ElementRef<'_>, csv: &[Vec<String>]) {
    let svg = section.select(&sel("svg")).next().expect("a chart");
    let header = &csv[0];
    let col = |name: &str| header.iter().position(|c| c == name);
    let titles: BTreeSet<String> = svg.select(&sel("title")).map(text).collect();
    let texts: Vec<String> = svg.select(&sel("text")).map(text).collect();
    let rows = &csv[1..];
    if rows.is_empty() {
        assert_eq!(texts, ["no rows to draw"], "{rql}");
        return;
    }
    if rql.starts_with("STATES") && rows.len() == 1 {
        // One bar: the legend holds each state's count and share.
        let total: u64 = rows[0][col("total").unwrap()].parse().unwrap();
        for s in STATES {
            let n: u64 = rows[0][col(s).unwrap()].parse().unwrap();
            let label = format!("{s} {n} ({})", share(n, total));
            assert!(texts.contains(&label), "{rql}: no legend {label:?} in {texts:?}");
        }
    } else if rql.starts_with("STATES BY COLLECTION") {
        let bars: Vec<ElementRef<'_>> = svg.select(&sel("g.bar")).collect();
        assert_eq!(bars.len(), rows.len(), "{rql}: a bar per row");
        for (bar, row) in bars.iter().zip(rows) {
            let name = &row[col("collection").unwrap()];
            assert_eq!(bar.value().attr("data-label"), Some(name.as_str()));
            let total: u64 = row[col("total").unwrap()].parse().unwrap();
            assert_eq!(bar.value().attr("data-total"), Some(total.to_string().as_str()));
            let seg_titles: BTreeSet<String> = bar.select(&sel("rect.seg > title")).map(text).collect();
            let want: BTreeSet<String> = STATES
                .iter()
                .filter_map(|s| {
                    let n: u64 = row[col(s).unwrap()].parse().unwrap();
                    (n > 0).then(|| format!("{name}: {s} {n} ({})", share(n, total)))
                })
                .collect();
            assert_eq!(seg_titles, want, "{rql}");
        }
    } else {
        // A time chart: a column per point, its tooltip(s) and value label
        // holding the CSV numbers, time labels from the CSV times.
        let time_col = col("time").or(col("bucket")).unwrap();
        let mut points: Vec<(String, u64, BTreeSet<String>)> = Vec::new();
        for row in rows {
            let time = row[time_col].clone();
            let (n, title) = if rql.starts_with("STATES") {
                let total = row[col("total").unwrap()].parse().unwrap();
                let t = STATES
                    .iter()
                    .filter_map(|s| {
                        let n: u64 = row[col(s).unwrap()].parse().unwrap();
                        (n > 0).then(|| format!("{time}: {s} {n}"))
                    })
                    .collect();
                (total, t)
            } else if let Some(e) = col("error") {
                let n: u64 = row[col("failures").unwrap()].parse().unwrap();
                (n, [format!("{time}: {} {n}", row[e])].into())
            } else {
                let n: u64 = row[col("failures").unwrap()].parse().unwrap();
                (n, [format!("{time}: {n} failures")].into())
            };
            match points.last_mut() {
                Some((t, total, titles)) if *t == time => {
                    *total += n;
                    titles.extend(title);
                }
                _ => points.push((time, n, title)),
            }
        }
        let drawn: Vec<ElementRef<'_>> = svg.select(&sel("g.point")).collect();
        assert_eq!(drawn.len(), points.len(), "{rql}: a column per point");
        for (g, (time, total, want)) in drawn.iter().zip(&points) {
            assert_eq!(g.value().attr("data-time"), Some(time.as_str()), "{rql}");
            assert_eq!(
                g.value().attr("data-total"),
                Some(total.to_string().as_str()),
                "{rql}"
            );
            let got: BTreeSet<String> = g.select(&sel("title")).map(text).collect();
            assert_eq!(&got, want, "{rql}");
            let value: Vec<String> = g.select(&sel("text.value")).map(text).collect();
            assert_eq!(value, vec![total.to_string()], "{rql}");
        }
        let ticks: Vec<String> = svg.select(&sel("text.xtick")).map(text).collect();
        assert!(!ticks.is_empty(), "{rql}: time labels");
        assert_eq!(ticks[0], points[0].0, "{rql}: the first point is labelled");
        for t in &ticks {
            assert!(
                points.iter().any(|p| &p.0 == t),
                "{rql}: label {t} is no point's time"
            );
        }
        let yticks: Vec<String> = svg.select(&sel("text.ytick")).map(text).collect();
        assert_eq!(
            yticks.first().map(String::as_str),
            Some("0"),
            "{rql}: the y axis starts at 0"
        );
        let top: u64 = yticks.last().unwrap().parse().unwrap();
        assert!(
            points.iter().all(|p| p.1 <= top),
            "{rql}: the y axis covers every value"
        );
        assert!(
            texts.iter().any(|t| t == "failures" || t == "clients"),
            "{rql}: the y axis is titled"
        );
    }
    assert!(!titles.is_empty(), "{rql}: tooltips");
}

#[test]
fn a_query_page_holds_every_table_and_a_chart_per_chartable_statement() {
    let env = fixture();
    let rql: Vec<&str> = STATEMENTS.iter().map(|(s, _)| *s).collect();
    let a = env
        .cmd()
        .args(["query", &rql.join(";\n"), "--format", "html"])
        .assert()
        .success();
    let page = stdout_of(&a);
    let doc = parse_page(&page);
    let sections: Vec<ElementRef<'_>> = doc.select(&sel("section.statement")).collect();
    assert_eq!(sections.len(), STATEMENTS.len());
    let charted = STATEMENTS.iter().filter(|(_, c)| *c).count();
    assert_eq!(
        doc.select(&sel("svg")).count(),
        charted,
        "one svg per chartable statement"
    );
    for (section, (rql, chart)) in sections.iter().zip(STATEMENTS) {
        let rql_text: String = section.select(&sel("pre.rql")).map(text).collect();
        assert_eq!(rql_text, *rql, "the section shows its statement");
        assert_eq!(section.select(&sel("svg")).count(), usize::from(*chart), "{rql}");
        let csv = csv_records(&env, rql);
        assert_eq!(table_records(*section), csv, "{rql}: the table is the CSV form");
        if *chart {
            check_chart(rql, *section, &csv);
        }
    }
    // In-page links to every section.
    let links: Vec<String> = doc
        .select(&sel("nav.toc a"))
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    let want: Vec<String> = (1..=STATEMENTS.len()).map(|i| format!("#s{i}")).collect();
    assert_eq!(links, want);
    // The gate passed and says so; the flow has its matrix too.
    assert_eq!(doc.select(&sel("p.gate.passed")).count(), 1);
    assert_eq!(doc.select(&sel("table.flow")).count(), 1);
}

#[test]
fn names_are_escaped_in_tables_charts_and_statements() {
    let env = fixture();
    let rql = "STATES IN \"Ev<&>\\\"il\" AT 2026-10-03; STATES BY COLLECTION AT 2026-10-03; \
               CLIENTS IN \"Ev<&>\\\"il\" AT 2026-10-03";
    let a = env
        .cmd()
        .args(["query", rql, "--format", "html"])
        .assert()
        .success();
    let page = stdout_of(&a);
    assert!(!page.contains(EVIL), "the raw name never appears unescaped");
    assert!(page.contains("Ev&lt;&amp;&gt;&quot;il"), "it appears escaped");
    let doc = parse_page(&page);
    let cells: Vec<String> = doc.select(&sel("td")).map(text).collect();
    assert!(
        cells.iter().any(|c| c == EVIL),
        "the parsed cell is the name: {cells:?}"
    );
    let labels: Vec<String> = doc
        .select(&sel("g.bar"))
        .filter_map(|g| g.value().attr("data-label").map(str::to_owned))
        .collect();
    assert!(labels.iter().any(|l| l == EVIL), "{labels:?}");
    let statements: Vec<String> = doc.select(&sel("pre.rql")).map(text).collect();
    assert!(statements[0].contains("Ev<&>\\\"il"), "{statements:?}");
    assert_eq!(doc.select(&sel("svg")).count(), 2);
}

#[test]
fn run_with_an_output_dir_writes_a_page_per_statement_and_an_index() {
    let env = fixture();
    let script = "-- name: weekly_states\nSTATES IN \"All Desktops\" AT 2026-10-03;\n\
                  FAILURES FROM 2026-10-01 TO 2026-10-04 EVERY 1d;\n\
                  GATE FOR preproduction IN \"Pilot Ring\" AT 2026-10-03 WHEN Compliant >= 95%;\n\
                  SHOW DEPLOYMENTS;\n";
    let file = env.write("weekly.rql", script);
    let dir = env.path().join("out");
    let a = env
        .cmd()
        .args(["run", file.to_str().unwrap(), "--format", "html", "--output-dir"])
        .arg(&dir)
        .assert()
        .code(3);
    assert!(stderr_of(&a).contains("index.html"), "{}", stderr_of(&a));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "02.html",
            "03.html",
            "04.html",
            "index.html",
            "weekly_states.html"
        ]
    );

    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let doc = parse_page(&index);
    let items: Vec<(String, String)> = doc
        .select(&sel("ol.index li"))
        .map(|li| {
            let a = li.select(&sel("a")).next().expect("a link");
            (a.value().attr("href").unwrap().to_owned(), text(li))
        })
        .collect();
    let hrefs: Vec<&str> = items.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(hrefs, ["weekly_states.html", "02.html", "03.html", "04.html"]);
    assert!(
        items[0].1.contains("STATES IN \"All Desktops\" AT 2026-10-03"),
        "{items:?}"
    );
    assert!(items[2].1.contains("gate FAILED"), "{items:?}");
    assert_eq!(doc.select(&sel("svg")).count(), 0);

    for (href, item) in &items {
        let page = std::fs::read_to_string(dir.join(href)).unwrap();
        let doc = parse_page(&page);
        let section = doc.select(&sel("section.statement")).next().expect("a section");
        let rql: String = section.select(&sel("pre.rql")).map(text).collect();
        assert!(item.contains(&rql), "the index shows the statement of {href}");
        assert_eq!(table_records(section), csv_records(&env, &rql), "{href}");
        let charted = rql.starts_with("STATES") || rql.starts_with("FAILURES");
        assert_eq!(doc.select(&sel("svg")).count(), usize::from(charted), "{href}");
        let back: Vec<&str> = doc
            .select(&sel("nav a"))
            .filter_map(|a| a.value().attr("href"))
            .collect();
        assert_eq!(back, ["index.html"], "{href} links back to the index");
    }
    let gate = std::fs::read_to_string(dir.join("03.html")).unwrap();
    assert_eq!(
        Html::parse_document(&gate).select(&sel("p.gate.failed")).count(),
        1
    );

    // Without --output-dir: one page with every statement.
    let a = env
        .cmd()
        .args(["run", file.to_str().unwrap(), "--format", "html"])
        .assert()
        .code(3);
    let doc = parse_page(&stdout_of(&a));
    assert_eq!(doc.select(&sel("section.statement")).count(), 4);
    assert_eq!(doc.select(&sel("svg")).count(), 2);
    assert_eq!(doc.select(&sel("html")).count(), 1, "one page");
}

#[test]
fn a_statement_named_index_cannot_overwrite_the_index_page() {
    let env = fixture();
    let file = env.write("x.rql", "-- name: index\nSHOW COLLECTIONS;\nSHOW DEPLOYMENTS;\n");
    let dir = env.path().join("out");
    let a = env
        .cmd()
        .args(["run", file.to_str().unwrap(), "--format", "html", "--output-dir"])
        .arg(&dir)
        .assert()
        .code(2);
    assert!(stderr_of(&a).contains("index.html"), "{}", stderr_of(&a));
    assert!(!dir.join("index.html").exists());
    // In csv, `index` is an ordinary name.
    env.cmd()
        .args(["run", file.to_str().unwrap(), "--output-dir"])
        .arg(&dir)
        .assert()
        .success();
    assert!(dir.join("index.csv").exists());
}

#[test]
fn format_html_in_a_piped_session() {
    let env = fixture();
    let a = env
        .cmd()
        .write_stdin(
            ".format html\nSTATES IN \"All Desktops\" AT 2026-10-03;\n.format\n\
             .output report.html\nSHOW DEPLOYMENTS; FAILURES FROM 2026-10-01 TO 2026-10-03 EVERY 1d;\n",
        )
        .assert()
        .success();
    let out = stdout_of(&a);
    let (page, rest) = out.split_once("</html>\n").expect("a whole page");
    let doc = parse_page(page);
    assert_eq!(doc.select(&sel("svg")).count(), 1);
    assert_eq!(rest, "html\n");
    // `.output FILE`: one page for the input's two statements.
    let report = std::fs::read_to_string(env.path().join("report.html")).unwrap();
    let doc = parse_page(report.trim_end());
    assert_eq!(doc.select(&sel("section.statement")).count(), 2);
    assert_eq!(doc.select(&sel("svg")).count(), 1);
    assert_eq!(report.matches("<!DOCTYPE html>").count(), 1);
}
