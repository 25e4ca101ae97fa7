//! `--format html` (SPEC.md section 7.7): results as one self-contained HTML
//! page — every statement's table, and for `STATES` and `FAILURES` an inline
//! SVG chart ([`svg`]) — and, for `run --output-dir`, an index page linking
//! the pages of the statements.
//!
//! This module owns the page: its markup, its inline style sheet (for the
//! screen and for print) and the escaping of every text in it.
//!
//! Invariants:
//! * self-contained: a page has an inline `<style>` and inline `<svg>`
//!   only — no `<script>`, no external style sheet, font or image, no
//!   `http://`/`https://` address; links are relative (`01.html`) or
//!   in-page (`#s1`);
//! * escaped: every text from the store or the query (names, error codes,
//!   statement text, column names) goes through [`escape`], in element
//!   content and in attribute values alike;
//! * the same numbers as the CSV form: a result table has the CSV form's
//!   columns in order and each cell's text is the cell's CSV text
//!   ([`Value::to_text`]); error descriptions and human durations are only
//!   tooltips (`title` attributes); the charts draw those numbers;
//! * deterministic: no clock, no randomness, so a page can be compared
//!   byte for byte.

mod svg;

use std::borrow::Cow;
use std::io::{self, Write};

use rollcall_engine::State;

use crate::result::{Chart, Table, Value};

pub use svg::STATE_COLOURS;

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references,
/// safe in element content and in quoted attribute values.
///
/// ```
/// use rollcall_query::html::escape;
/// assert_eq!(escape("a <b> & \"c\" 'd'"), "a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;");
/// assert_eq!(escape("plain"), "plain");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut s = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    Cow::Owned(s)
}

/// One statement's part of a page.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    /// Its 1-based position in the script (the heading and the `#sN` anchor).
    pub number: usize,
    /// Its `-- name:`, if it has one.
    pub name: Option<&'a str>,
    /// The statement text, if known.
    pub statement: Option<&'a str>,
    /// The result.
    pub table: &'a Table,
}

/// A line of the index page: a statement's page.
#[derive(Clone, Copy, Debug)]
pub struct IndexEntry<'a> {
    /// The page's file name, relative to the index (`01.html`).
    pub href: &'a str,
    /// The statement's `-- name:`, if it has one.
    pub name: Option<&'a str>,
    /// The statement text.
    pub statement: &'a str,
    /// Rows in its result.
    pub rows: usize,
    /// For a `GATE`: whether every condition held.
    pub gate_passed: Option<bool>,
}

/// Whether a `GATE` table passed (`None` for other tables).
pub fn gate_passed(table: &Table) -> Option<bool> {
    (table.chart == Chart::Gate).then(|| !table.gate_failed())
}

const STYLE: &str = "\
:root{color-scheme:light}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#fff;margin:24px auto;max-width:1000px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 6px}
nav.toc ol,ol.index{padding-left:22px}nav.toc li,ol.index li{margin:3px 0}
a{color:#0b5cad}
section.statement{border-top:1px solid #ccc;padding:14px 0 18px}
pre.rql{background:#f4f4f4;border-left:3px solid #2f7fd1;padding:6px 10px;margin:0 0 10px;white-space:pre-wrap;word-break:break-word;font:12.5px/1.4 ui-monospace,Consolas,monospace}
figure.chart{margin:0 0 10px;overflow-x:auto}
svg.chart{max-width:100%;height:auto}
table{border-collapse:collapse;margin:4px 0 6px;font-size:13px}
th,td{border:1px solid #c8c8c8;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
tbody tr:nth-child(even){background:#fafafa}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.yes{color:#1e6b1e;font-weight:600}td.yes::before{content:'\\2714\\00a0'}
td.no{color:#b0262a;font-weight:600}td.no::before{content:'\\2716\\00a0'}
td.state::before{content:'';display:inline-block;width:9px;height:9px;margin-right:5px;border:1px solid #777;vertical-align:baseline}
td.s0::before{background:#c8c8c8}td.s1::before{background:#3c9b3c}td.s2::before{background:#2f7fd1}
td.s3::before{background:#e0a100}td.s4::before{background:#d13438}td.s5::before{background:#8a8a8a}
p.gate{display:inline-block;padding:4px 12px;border-radius:3px;font-weight:700;margin:0 0 8px}
p.gate.passed{background:#dff0d8;color:#1e6b1e;border:1px solid #3c9b3c}
p.gate.failed{background:#fbe3e4;color:#a4262c;border:1px solid #d13438}
p.rows,p.meta{color:#555;font-size:12px;margin:2px 0}
p.note{color:#7a5b00;font-size:12px;margin:2px 0}
caption{caption-side:top;text-align:left;font-weight:600;padding:2px 0}
@media print{
body{margin:0;max-width:none;font-size:11pt}
nav{display:none}
a{color:inherit;text-decoration:none}
section.statement{break-inside:avoid-page}
thead{display:table-header-group}
tr{break-inside:avoid}
table{font-size:9pt}td{white-space:nowrap}
figure.chart{overflow:visible}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
";

fn head(out: &mut dyn Write, title: &str) -> io::Result<()> {
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"rollcall\">\n<title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    )
}

/// A heading for a statement without a name: its kind (`STATES`, `GATE`...).
fn heading(s: &Section<'_>) -> String {
    match (s.name, s.statement) {
        (Some(name), _) => format!("{}. {name}", s.number),
        (None, Some(text)) => {
            let mut words = text.split_whitespace();
            let first = words.next().unwrap_or("statement");
            let kind = match (first, words.next()) {
                ("SHOW" | "EXPLAIN", Some(second)) => format!("{first} {second}"),
                _ => first.to_owned(),
            };
            format!("{}. {kind}", s.number)
        }
        (None, None) => format!("Statement {}", s.number),
    }
}

fn write_table(out: &mut dyn Write, table: &Table) -> io::Result<()> {
    out.write_all(b"<table class=\"result\">\n<thead><tr>")?;
    for c in &table.columns {
        write!(out, "<th scope=\"col\">{}</th>", escape(c))?;
    }
    out.write_all(b"</tr></thead>\n<tbody>\n")?;
    for row in &table.rows {
        out.write_all(b"<tr>")?;
        for v in row {
            let text = v.to_text();
            let display = v.to_display();
            let class = match v {
                Value::Count(_) | Value::Millis(_) => Cow::Borrowed(" class=\"n\""),
                Value::Bool(true) if table.chart == Chart::Gate => Cow::Borrowed(" class=\"yes\""),
                Value::Bool(false) if table.chart == Chart::Gate => Cow::Borrowed(" class=\"no\""),
                Value::State(s) => Cow::Owned(format!(" class=\"state s{}\"", s.index())),
                _ => Cow::Borrowed(""),
            };
            if display != text {
                write!(
                    out,
                    "<td{class} title=\"{}\">{}</td>",
                    escape(&display),
                    escape(&text)
                )?;
            } else {
                write!(out, "<td{class}>{}</td>", escape(&text))?;
            }
        }
        out.write_all(b"</tr>\n")?;
    }
    out.write_all(b"</tbody>\n</table>\n")
}

/// `FLOW` as a from x to matrix of the six states, as the table format
/// shows it (the result table below it keeps the CSV rows).
fn write_flow_matrix(out: &mut dyn Write, table: &Table) -> io::Result<()> {
    let (Some(f), Some(t), Some(n)) = (table.column("from"), table.column("to"), table.column("clients"))
    else {
        return Ok(());
    };
    let mut m = [[0u64; 6]; 6];
    for row in &table.rows {
        if let (Some(Value::State(a)), Some(Value::State(b)), Some(Value::Count(k))) =
            (row.get(f), row.get(t), row.get(n))
        {
            m[a.index()][b.index()] += k;
        }
    }
    out.write_all(b"<table class=\"flow\">\n<caption>clients from (rows) to (columns)</caption>\n<thead><tr><th>from \\ to</th>")?;
    for s in State::ALL {
        write!(out, "<th scope=\"col\">{}</th>", s.name())?;
    }
    out.write_all(b"<th scope=\"col\">total</th></tr></thead>\n<tbody>\n")?;
    let mut column_totals = [0u64; 6];
    for (i, s) in State::ALL.iter().enumerate() {
        write!(out, "<tr><th scope=\"row\">{}</th>", s.name())?;
        for (j, k) in m[i].iter().enumerate() {
            column_totals[j] += k;
            write!(out, "<td class=\"n\">{k}</td>")?;
        }
        writeln!(out, "<td class=\"n\">{}</td></tr>", m[i].iter().sum::<u64>())?;
    }
    out.write_all(b"<tr><th scope=\"row\">total</th>")?;
    for k in column_totals {
        write!(out, "<td class=\"n\">{k}</td>")?;
    }
    writeln!(
        out,
        "<td class=\"n\">{}</td></tr>",
        column_totals.iter().sum::<u64>()
    )?;
    out.write_all(b"</tbody>\n</table>\n")
}

fn write_section(out: &mut dyn Write, s: &Section<'_>) -> io::Result<()> {
    let table = s.table;
    writeln!(out, "<section class=\"statement\" id=\"s{}\">", s.number)?;
    writeln!(out, "<h2>{}</h2>", escape(&heading(s)))?;
    if let Some(text) = s.statement {
        writeln!(out, "<pre class=\"rql\">{}</pre>", escape(text))?;
    }
    if let Some(passed) = gate_passed(table) {
        let failed = table.column("passed").map_or(0, |c| {
            table
                .rows
                .iter()
                .filter(|r| r.get(c) == Some(&Value::Bool(false)))
                .count()
        });
        if passed {
            writeln!(
                out,
                "<p class=\"gate passed\">Gate passed: every condition holds</p>"
            )?;
        } else {
            writeln!(
                out,
                "<p class=\"gate failed\">Gate FAILED: {failed} of {} conditions do not hold</p>",
                table.rows.len()
            )?;
        }
    }
    if let Some(chart) = svg::chart(table) {
        writeln!(out, "<figure class=\"chart\">{chart}</figure>")?;
    }
    if table.chart == Chart::Flow {
        write_flow_matrix(out, table)?;
    }
    write_table(out, table)?;
    let n = table.rows.len();
    writeln!(
        out,
        "<p class=\"rows\">({n} row{})</p>",
        if n == 1 { "" } else { "s" }
    )?;
    for note in &table.notes {
        writeln!(out, "<p class=\"note\">{}</p>", escape(note))?;
    }
    out.write_all(b"</section>\n")
}

/// Writes one page holding `sections` in order, titled `title`; with more
/// than one section it starts with a list of in-page links; `index` is a
/// link back to an index page (`index.html`).
pub fn write_page(
    title: &str,
    index: Option<&str>,
    sections: &[Section<'_>],
    out: &mut dyn Write,
) -> io::Result<()> {
    head(out, title)?;
    if let Some(href) = index {
        writeln!(
            out,
            "<nav class=\"back\"><a href=\"{}\">← all statements</a></nav>",
            escape(href)
        )?;
    }
    writeln!(out, "<header><h1>{}</h1></header>", escape(title))?;
    if sections.len() > 1 {
        out.write_all(b"<nav class=\"toc\"><ol>\n")?;
        for s in sections {
            writeln!(
                out,
                "<li><a href=\"#s{}\">{}</a></li>",
                s.number,
                escape(s.statement.or(s.name).unwrap_or("statement"))
            )?;
        }
        out.write_all(b"</ol></nav>\n")?;
    }
    out.write_all(b"<main>\n")?;
    for s in sections {
        write_section(out, s)?;
    }
    out.write_all(b"</main>\n</body>\n</html>\n")
}

/// Writes an index page titled `title` linking to each statement's page,
/// with the statement text, its row count and a gate's verdict.
pub fn write_index(title: &str, entries: &[IndexEntry<'_>], out: &mut dyn Write) -> io::Result<()> {
    head(out, title)?;
    writeln!(out, "<header><h1>{}</h1></header>", escape(title))?;
    let failed = entries.iter().filter(|e| e.gate_passed == Some(false)).count();
    if failed > 0 {
        writeln!(
            out,
            "<p class=\"gate failed\">{failed} gate{} FAILED</p>",
            if failed == 1 { "" } else { "s" }
        )?;
    }
    out.write_all(b"<main>\n<ol class=\"index\">\n")?;
    for e in entries {
        let label = e.name.unwrap_or(e.href);
        write!(out, "<li><a href=\"{}\">{}</a> ", escape(e.href), escape(label))?;
        write!(
            out,
            "<code class=\"rql\">{}</code> <span class=\"meta\">({} row{})</span>",
            escape(e.statement),
            e.rows,
            if e.rows == 1 { "" } else { "s" }
        )?;
        match e.gate_passed {
            Some(true) => out.write_all(b" <strong class=\"yes\">gate passed</strong>")?,
            Some(false) => out.write_all(b" <strong class=\"no\">gate FAILED</strong>")?,
            None => {}
        }
        out.write_all(b"</li>\n")?;
    }
    out.write_all(b"</ol>\n</main>\n</body>\n</html>\n")
}

/// One table as a page of its own (what `render` writes for `html`).
pub(crate) fn write(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    write_page(
        "rollcall",
        None,
        &[Section {
            number: 1,
            name: None,
            statement: None,
            table,
        }],
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(sections: &[Section<'_>]) -> String {
        let mut out = Vec::new();
        write_page("t <&>", None, sections, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escaping_covers_content_and_attributes() {
        assert_eq!(escape("<&>\"'"), "&lt;&amp;&gt;&quot;&#39;");
        assert!(matches!(escape("All Desktops"), Cow::Borrowed(_)));
        let table = Table {
            columns: vec!["collection<".into(), "total".into()],
            rows: vec![vec![Value::Text("<&>\"".into()), Value::Count(3)]],
            chart: Chart::None,
            notes: vec!["note <b>".into()],
        };
        let html = page(&[Section {
            number: 1,
            name: Some("x\"y"),
            statement: Some("SHOW \"<script>\""),
            table: &table,
        }]);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<td>&lt;&amp;&gt;&quot;</td>"), "{html}");
        assert!(html.contains("<th scope=\"col\">collection&lt;</th>"));
        assert!(html.contains("<title>t &lt;&amp;&gt;</title>"));
        assert!(html.contains("SHOW &quot;&lt;script&gt;&quot;"));
        assert!(html.contains("note &lt;b&gt;"));
        assert!(!html.contains("<script") && !html.contains("http"), "{html}");
    }

    #[test]
    fn cells_are_the_csv_text_with_tooltips() {
        let table = Table {
            columns: vec!["error".into(), "max_ms".into(), "passed".into()],
            rows: vec![vec![
                Value::Error(Some(rollcall_engine::ErrorCode(0x8007_0005))),
                Value::Millis(90_000),
                Value::Bool(false),
            ]],
            chart: Chart::Gate,
            notes: Vec::new(),
        };
        let html = page(&[Section {
            number: 1,
            name: None,
            statement: None,
            table: &table,
        }]);
        assert!(html.contains(">0x80070005</td>"), "{html}");
        assert!(
            html.contains("<td class=\"n\" title=\"1m 30s\">90000</td>"),
            "{html}"
        );
        assert!(html.contains("<td class=\"no\">false</td>"));
        assert!(html.contains("Gate FAILED: 1 of 1 conditions"));
    }

    #[test]
    fn a_page_of_several_statements_links_each() {
        let t = Table::new(&["collection"], Chart::None);
        let html = page(&[
            Section {
                number: 1,
                name: None,
                statement: Some("SHOW COLLECTIONS"),
                table: &t,
            },
            Section {
                number: 2,
                name: Some("again"),
                statement: Some("SHOW COLLECTIONS"),
                table: &t,
            },
        ]);
        assert!(html.contains("<a href=\"#s1\">") && html.contains("<a href=\"#s2\">"));
        assert!(html.contains("<section class=\"statement\" id=\"s2\">\n<h2>2. again</h2>"));
        assert!(!html.contains("<svg"));
        assert!(html.ends_with("</html>\n"));

        let mut out = Vec::new();
        write_index(
            "i",
            &[IndexEntry {
                href: "01.html",
                name: None,
                statement: "GATE AT NOW WHEN Failed <= 1",
                rows: 1,
                gate_passed: Some(false),
            }],
            &mut out,
        )
        .unwrap();
        let index = String::from_utf8(out).unwrap();
        assert!(index.contains("<a href=\"01.html\">01.html</a>"));
        assert!(index.contains("Failed &lt;= 1"));
        assert!(index.contains("1 gate FAILED"));
    }
}
