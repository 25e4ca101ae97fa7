//! Every difference between the SQL dialects, in one place: the
//! [`Dialect`] a caller picks, the [`Sql`] primitives whose spelling
//! differs (implemented by `duckdb.rs` and `clickhouse.rs`), and the
//! [`Source`] the query reads the export from.
//!
//! Invariants: statement families write SQL only through these primitives
//! and plain standard SQL (CTEs, `GROUP BY`, `LEFT JOIN`, `ASOF JOIN`,
//! `CASE`), so a third dialect is one more `Sql` implementation; every
//! argument and result of a primitive is an SQL expression; every string
//! that reaches the SQL goes through [`Sql::string`].

use super::{clickhouse, duckdb};

/// The SQL dialect to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// DuckDB (`read_parquet`, `arg_max`, `FILTER`, `ASOF JOIN`).
    DuckDb,
    /// ClickHouse (`file`/`s3` table functions, `argMax`, `countIf`,
    /// `ASOF JOIN`, `SETTINGS join_use_nulls = 1`).
    ClickHouse,
}

impl Dialect {
    /// `duckdb` or `clickhouse`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::ClickHouse => "clickhouse",
        }
    }

    pub(super) fn sql(self) -> &'static dyn Sql {
        match self {
            Dialect::DuckDb => &duckdb::DuckDb,
            Dialect::ClickHouse => &clickhouse::ClickHouse,
        }
    }
}

/// Where the SQL reads the export from.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// The prefix before `transitions/...` (empty: relative paths), without
    /// a trailing `/`.
    prefix: String,
    /// True for `scheme://` locations (object stores, HTTP).
    remote: bool,
    /// `AS KNOWN AT`: only rows whose `committed_ms` is NULL or at most
    /// this are read.
    pub(crate) known_at: Option<i64>,
}

impl Source {
    pub(super) fn new(source: Option<&str>) -> Source {
        let prefix = source.unwrap_or("").trim_end_matches('/').to_owned();
        Source {
            remote: prefix.contains("://"),
            prefix,
            known_at: None,
        }
    }

    /// The glob of every part file of `table`.
    pub(crate) fn glob(&self, table: &str) -> String {
        if self.prefix.is_empty() {
            format!("{table}/*/*.parquet")
        } else {
            format!("{}/{table}/*/*.parquet", self.prefix)
        }
    }

    pub(crate) fn is_remote(&self) -> bool {
        self.remote
    }
}

/// The primitives whose spelling differs between dialects. Every argument
/// is an SQL expression; every result is one.
pub(crate) trait Sql: Sync {
    /// A string literal.
    fn string(&self, text: &str) -> String;
    /// The table expression reading every part file of `table`.
    fn read(&self, source: &Source, table: &str) -> String;
    /// The value of `value` on the row with the greatest `key`.
    fn arg_max(&self, value: &str, key: &str) -> String;
    /// The number of rows where `cond` holds.
    fn count_if(&self, cond: &str) -> String;
    /// `a / b` rounded down, for `a >= 0` and `b > 0`, as the type of a
    /// point index.
    fn index_div(&self, a: &str, b: &str) -> String;
    /// The body of a relation of the points `k` in `0..n` with their times
    /// `t_ms = from + k * every`.
    fn points(&self, n: u64, from: i64, every: i64) -> String;
    /// One row per value of `lo..hi` (an expression for a SELECT list).
    fn unnest_range(&self, lo: &str, hi: &str) -> String;
    /// The next row's `value` within `partition`, ordered by `order`; NULL
    /// on the last row.
    fn next_value(&self, value: &str, partition: &str, order: &str) -> String;
    /// Epoch milliseconds as rollcall prints times.
    fn format_time(&self, ms: &str) -> String;
    /// An error code (or NULL) as rollcall prints it (or NULL).
    fn format_error(&self, code: &str) -> String;
    /// What ends the query (settings), without the `;`.
    fn trailer(&self) -> &'static str;
    /// The body of a relation of listed points: `k` in `0..n` and `t_ms`.
    fn points_list(&self, points: &[i64]) -> String;
    /// How many of the (increasing) `points` are below `x`: the index of
    /// the first point at or after `x`.
    fn count_below(&self, x: &str, points: &[i64]) -> String;
    /// The index of the bucket `[p_k, p_k+1)` holding `x` (for `x >= p_0`),
    /// as the type of a point index.
    fn bucket_of(&self, x: &str, points: &[i64]) -> String;
    /// Point `k` (an expression, 0-based) of the listed `points`.
    fn point_at(&self, k: &str, points: &[i64]) -> String;
    /// Epoch milliseconds as rollcall prints times in `zone` (SPEC 7.1:
    /// local time and the offset at that instant), through the engine's
    /// own time-zone functions.
    fn format_time_in(&self, ms: &str, zone: &str) -> String;
    /// An integer widened to 128 bits (products that may pass 2^63).
    fn wide(&self, x: &str) -> String;
    /// An integer as decimal text.
    fn to_text(&self, x: &str) -> String;
    /// A time known at translation time, as rollcall prints it.
    fn time_literal(&self, at: i64) -> String {
        self.string(&rollcall_engine::Timestamp(at).to_string())
    }
}

/// A list literal of integers, `[a, b, c]` (both dialects spell it so).
pub(crate) fn int_list(points: &[i64]) -> String {
    let items: Vec<String> = points.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// The dialect, printing times in a statement's `TIME ZONE`.
pub(crate) struct Zoned<'a> {
    pub(crate) inner: &'a dyn Sql,
    pub(crate) zone: crate::zone::Zone,
}

impl Sql for Zoned<'_> {
    fn string(&self, text: &str) -> String {
        self.inner.string(text)
    }
    fn read(&self, source: &Source, table: &str) -> String {
        self.inner.read(source, table)
    }
    fn arg_max(&self, value: &str, key: &str) -> String {
        self.inner.arg_max(value, key)
    }
    fn count_if(&self, cond: &str) -> String {
        self.inner.count_if(cond)
    }
    fn index_div(&self, a: &str, b: &str) -> String {
        self.inner.index_div(a, b)
    }
    fn points(&self, n: u64, from: i64, every: i64) -> String {
        self.inner.points(n, from, every)
    }
    fn unnest_range(&self, lo: &str, hi: &str) -> String {
        self.inner.unnest_range(lo, hi)
    }
    fn next_value(&self, value: &str, partition: &str, order: &str) -> String {
        self.inner.next_value(value, partition, order)
    }
    fn format_time(&self, ms: &str) -> String {
        self.inner.format_time_in(ms, self.zone.name())
    }
    fn format_error(&self, code: &str) -> String {
        self.inner.format_error(code)
    }
    fn trailer(&self) -> &'static str {
        self.inner.trailer()
    }
    fn points_list(&self, points: &[i64]) -> String {
        self.inner.points_list(points)
    }
    fn count_below(&self, x: &str, points: &[i64]) -> String {
        self.inner.count_below(x, points)
    }
    fn bucket_of(&self, x: &str, points: &[i64]) -> String {
        self.inner.bucket_of(x, points)
    }
    fn point_at(&self, k: &str, points: &[i64]) -> String {
        self.inner.point_at(k, points)
    }
    fn format_time_in(&self, ms: &str, zone: &str) -> String {
        self.inner.format_time_in(ms, zone)
    }
    fn wide(&self, x: &str) -> String {
        self.inner.wide(x)
    }
    fn to_text(&self, x: &str) -> String {
        self.inner.to_text(x)
    }
    fn time_literal(&self, at: i64) -> String {
        let t = rollcall_engine::Timestamp(at);
        let mut text = String::new();
        let _ = crate::zone::write_zoned(&mut text, t, self.zone.offset_seconds(t));
        self.inner.string(&text)
    }
}
