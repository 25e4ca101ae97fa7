//! ClickHouse spellings of the translation primitives.
//!
//! Invariants: string literals escape `\` and `'` with a backslash and spell
//! control characters as `\xHH` (ClickHouse reads backslash escapes in
//! every literal); local exports are read with `file(...)`, `scheme://`
//! locations with `s3(...)`; the query ends with `SETTINGS join_use_nulls =
//! 1` so that a LEFT JOIN miss is NULL as in standard SQL (the semantics
//! rely on it: no transition yet means NotStarted and an empty `since`);
//! point and bucket indexes are `UInt64` everywhere so join keys agree;
//! times print through `DateTime64(3, 'UTC')`, so they must lie in its
//! range (years 1900 to 2299).

use std::fmt::Write as _;

use super::dialect::{Source, Sql, int_list};

/// ClickHouse (server, `clickhouse local`, chDB).
#[derive(Debug)]
pub(crate) struct ClickHouse;

impl Sql for ClickHouse {
    fn string(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 2);
        out.push('\'');
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() && u32::from(c) < 0x80 => {
                    let _ = write!(out, "\\x{:02X}", u32::from(c));
                }
                c if c.is_control() => {
                    // A C1 control character: its UTF-8 bytes, escaped.
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02X}");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    }

    fn read(&self, source: &Source, table: &str) -> String {
        let function = if source.is_remote() { "s3" } else { "file" };
        format!("{function}({}, 'Parquet')", self.string(&source.glob(table)))
    }

    fn arg_max(&self, value: &str, key: &str) -> String {
        format!("argMax({value}, {key})")
    }

    fn count_if(&self, cond: &str) -> String {
        format!("countIf({cond})")
    }

    fn index_div(&self, a: &str, b: &str) -> String {
        format!("toUInt64(intDiv({a}, {b}))")
    }

    fn points(&self, n: u64, from: i64, every: i64) -> String {
        format!("SELECT number AS k, {from} + number * {every} AS t_ms\nFROM numbers({n})")
    }

    fn unnest_range(&self, lo: &str, hi: &str) -> String {
        format!("arrayJoin(range(toUInt64({lo}), toUInt64({hi})))")
    }

    fn next_value(&self, value: &str, partition: &str, order: &str) -> String {
        format!(
            "leadInFrame(toNullable({value})) OVER (PARTITION BY {partition} ORDER BY {order} ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)"
        )
    }

    fn format_time(&self, ms: &str) -> String {
        format!(
            "concat(replaceOne(replaceOne(toString(fromUnixTimestamp64Milli(toInt64({ms}), 'UTC')), ' ', 'T'), '.000', ''), 'Z')"
        )
    }

    fn format_error(&self, code: &str) -> String {
        format!("concat('0x', leftPad(lower(hex(toUInt32({code}))), 8, '0'))")
    }

    fn trailer(&self) -> &'static str {
        "SETTINGS join_use_nulls = 1"
    }

    fn points_list(&self, points: &[i64]) -> String {
        format!(
            "SELECT toUInt64(k - 1) AS k, toInt64(t_ms) AS t_ms\nFROM (SELECT arrayJoin(arrayEnumerate({list})) AS k, {list}[k] AS t_ms) AS listed",
            list = int_list(points)
        )
    }

    fn count_below(&self, x: &str, points: &[i64]) -> String {
        format!("toUInt64(arrayCount(p -> p < {x}, {}))", int_list(points))
    }

    fn bucket_of(&self, x: &str, points: &[i64]) -> String {
        format!("toUInt64(arrayCount(p -> p <= {x}, {}) - 1)", int_list(points))
    }

    fn point_at(&self, k: &str, points: &[i64]) -> String {
        format!("arrayElement({}, toUInt64({k}) + 1)", int_list(points))
    }

    fn wide(&self, x: &str) -> String {
        format!("toInt128({x})")
    }

    fn to_text(&self, x: &str) -> String {
        format!("toString({x})")
    }

    fn format_time_in(&self, ms: &str, zone: &str) -> String {
        let local = format!("fromUnixTimestamp64Milli(toInt64({ms}), {})", self.string(zone));
        let offset = format!("timeZoneOffset({local})");
        format!(
            "concat(replaceOne(replaceOne(toString({local}), ' ', 'T'), '.000', ''), if({offset} < 0, '-', '+'), leftPad(toString(intDiv(abs({offset}), 3600)), 2, '0'), ':', leftPad(toString(intDiv(abs({offset}), 60) % 60), 2, '0'))"
        )
    }
}
