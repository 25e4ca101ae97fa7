//! Data-driven golden tests over `query/test_data`:
//!
//! * `ok/NAME.rql` runs every statement on the fixture store (see
//!   `common/mod.rs`) with NOW = 2026-10-03T00:00:00Z and renders each
//!   result in every format; the output must equal `ok/NAME.out`.
//! * `err/NAME.rql` must fail (parsing, `check_params`, or running a
//!   statement); the rendered diagnostic and exit code must equal
//!   `err/NAME.err`.
//!
//! A first line `-- params: k=v; k2=v2` binds parameters. Run with
//! `UPDATE_GOLDEN=1` to rewrite the expected files — then read the diff: the
//! values in them were checked by hand against the fixture's layout, and a
//! changed number needs the same check.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use rollcall_query::{
    ExecOptions, OutputFormat, Params, QueryError, Table, Value, check_params, execute, parse_script, render,
};

/// Rows of name/value tables whose values depend on timing or on the
/// engine's storage layout, not on the data.
const VARYING: [&str; 9] = [
    "elapsed_us",
    "runs_read",
    "rows_scanned",
    "checkpoints_used",
    "member_snapshots_used",
    "bytes_on_disk",
    "segments",
    "memtable_rows",
    "unfolded_rows",
];

fn mask(mut t: Table) -> Table {
    if t.columns == ["name", "value"] {
        for row in &mut t.rows {
            if let [Value::Text(name), value] = row.as_mut_slice()
                && VARYING.contains(&name.as_str())
            {
                *value = Value::Text("<varies>".into());
            }
        }
    }
    t
}

fn files(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data").join(dir);
    let mut v: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rql"))
        .collect();
    v.sort();
    v
}

fn params_of(source: &str) -> Params {
    let mut params = Params::new();
    if let Some(rest) = source.lines().next().and_then(|l| l.strip_prefix("-- params:")) {
        for pair in rest.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                params.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    params
}

fn check(path: &Path, expected_ext: &str, actual: &str, failures: &mut Vec<String>) {
    let expected_path = path.with_extension(expected_ext);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&expected_path, actual).expect("write golden file");
        return;
    }
    match fs::read_to_string(&expected_path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{} differs\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        )),
        Err(e) => failures.push(format!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            expected_path.display()
        )),
    }
}

#[test]
fn ok_scripts_render_as_expected() {
    let (_dir, store) = common::fixture();
    let mut failures = Vec::new();
    let all = files("ok");
    assert!(all.len() >= 6, "the ok corpus is missing");
    for path in all {
        let source = fs::read_to_string(&path).expect("read");
        let origin = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let script = match parse_script(&source) {
            Ok(s) => s,
            Err(e) => {
                failures.push(e.render(&source, &origin));
                continue;
            }
        };
        let opts = ExecOptions {
            now: common::now(),
            params: params_of(&source),
            cancel: None,
        };
        let mut out = String::new();
        for s in &script.statements {
            out.push_str(&format!("== {}\n", s.statement));
            if let Some(name) = &s.name {
                out.push_str(&format!("== name: {name}\n"));
            }
            let table = match execute(&store.snapshot(), &s.statement, &opts) {
                Ok(t) => mask(t),
                Err(e) => {
                    failures.push(e.render(&source, &origin));
                    continue;
                }
            };
            // HTML pages are checked by their own tests (the html module's
            // and tests/tests/cli_html.rs), not as snapshots.
            for format in OutputFormat::ALL.into_iter().filter(|f| *f != OutputFormat::Html) {
                let mut buf = Vec::new();
                render(&table, format, &mut buf).expect("render to memory");
                out.push_str(&format!("-- {format}\n{}", String::from_utf8_lossy(&buf)));
            }
            out.push('\n');
        }
        check(&path, "out", &out, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn first_error(store: &rollcall_engine::Store, source: &str) -> Option<QueryError> {
    let script = match parse_script(source) {
        Ok(s) => s,
        Err(e) => return Some(e),
    };
    let params = params_of(source);
    if let Err(e) = check_params(&script, &params) {
        return Some(e);
    }
    let opts = ExecOptions {
        now: common::now(),
        params,
        cancel: None,
    };
    script
        .statements
        .iter()
        .find_map(|s| execute(&store.snapshot(), &s.statement, &opts).err())
}

#[test]
fn err_scripts_render_diagnostics() {
    let (_dir, store) = common::fixture();
    let mut failures = Vec::new();
    let all = files("err");
    assert!(all.len() >= 20, "the err corpus should hold at least 20 mistakes");
    for path in all {
        let source = fs::read_to_string(&path).expect("read");
        let origin = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let actual = match first_error(&store, &source) {
            Some(e) => format!("{}exit code: {}\n", e.render(&source, &origin), e.exit_code()),
            None => format!("NO ERROR for {origin}\n"),
        };
        check(&path, "err", &actual, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
