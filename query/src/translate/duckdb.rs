//! DuckDB spellings of the translation primitives.
//!
//! Invariants: string literals double `'` and spell control characters with
//! `chr(n)`, so no name can end a literal early; times are formatted from
//! epoch milliseconds with `epoch_ms` + `strftime` (`%g`: milliseconds),
//! and a `.000` fraction is dropped, as rollcall prints times.

use std::fmt::Write as _;

use super::dialect::{Source, Sql, int_list};

/// DuckDB.
#[derive(Debug)]
pub(crate) struct DuckDb;

impl Sql for DuckDb {
    fn string(&self, text: &str) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut current = String::new();
        for c in text.chars() {
            if c.is_control() {
                parts.push(format!("'{current}'"));
                current.clear();
                parts.push(format!("chr({})", u32::from(c)));
            } else if c == '\'' {
                current.push_str("''");
            } else {
                current.push(c);
            }
        }
        if parts.is_empty() {
            return format!("'{current}'");
        }
        parts.push(format!("'{current}'"));
        let mut out = String::from("(");
        let _ = write!(out, "{}", parts.join(" || "));
        out.push(')');
        out
    }

    fn read(&self, source: &Source, table: &str) -> String {
        format!("read_parquet({})", self.string(&source.glob(table)))
    }

    fn arg_max(&self, value: &str, key: &str) -> String {
        format!("arg_max({value}, {key})")
    }

    fn count_if(&self, cond: &str) -> String {
        format!("count(*) FILTER (WHERE {cond})")
    }

    fn index_div(&self, a: &str, b: &str) -> String {
        format!("(({a}) // {b})")
    }

    fn points(&self, n: u64, from: i64, every: i64) -> String {
        format!("SELECT range AS k, {from} + range * {every} AS t_ms\nFROM range({n})")
    }

    fn unnest_range(&self, lo: &str, hi: &str) -> String {
        format!("unnest(range({lo}, {hi}))")
    }

    fn next_value(&self, value: &str, partition: &str, order: &str) -> String {
        format!("lead({value}) OVER (PARTITION BY {partition} ORDER BY {order})")
    }

    fn format_time(&self, ms: &str) -> String {
        format!("replace(strftime(epoch_ms({ms}), '%Y-%m-%dT%H:%M:%S.%gZ'), '.000Z', 'Z')")
    }

    fn format_error(&self, code: &str) -> String {
        format!("printf('0x%08x', {code})")
    }

    fn trailer(&self) -> &'static str {
        ""
    }

    fn points_list(&self, points: &[i64]) -> String {
        format!(
            "SELECT k - 1 AS k, t_ms\nFROM (SELECT unnest({list}) AS t_ms, generate_subscripts({list}, 1) AS k) AS listed",
            list = int_list(points)
        )
    }

    fn count_below(&self, x: &str, points: &[i64]) -> String {
        format!("len(list_filter({}, lambda p: p < {x}))", int_list(points))
    }

    fn bucket_of(&self, x: &str, points: &[i64]) -> String {
        format!("(len(list_filter({}, lambda p: p <= {x})) - 1)", int_list(points))
    }

    fn point_at(&self, k: &str, points: &[i64]) -> String {
        format!("list_extract({}, ({k}) + 1)", int_list(points))
    }

    fn wide(&self, x: &str) -> String {
        format!("CAST({x} AS HUGEINT)")
    }

    fn to_text(&self, x: &str) -> String {
        format!("CAST({x} AS VARCHAR)")
    }

    fn format_time_in(&self, ms: &str, zone: &str) -> String {
        // The local wall-clock time (naive) of the instant, and its offset
        // in minutes from UTC at that instant.
        let local = format!("timezone({}, timezone('UTC', epoch_ms({ms})))", self.string(zone));
        let offset = format!("date_diff('minute', epoch_ms({ms}), {local})");
        format!(
            "(replace(strftime({local}, '%Y-%m-%dT%H:%M:%S.%g'), '.000', '') || CASE WHEN {offset} < 0 THEN '-' ELSE '+' END || lpad(CAST(abs({offset}) // 60 AS VARCHAR), 2, '0') || ':' || lpad(CAST(abs({offset}) % 60 AS VARCHAR), 2, '0'))"
        )
    }
}
