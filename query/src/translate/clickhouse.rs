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

use super::dialect::{Source, Sql};

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
}
