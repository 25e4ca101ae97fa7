//! [`Table`] and [`Value`]: what every statement returns, before rendering.
//!
//! Invariants: every row has exactly `columns.len()` values; column names
//! and order are those of SPEC.md section 4 (or, for `SHOW` and `EXPLAIN`,
//! those written down in `docs/rql.md`); a table holds typed values, and
//! only the renderers turn them into text.

use rollcall_engine::{ErrorCode, State, Timestamp};

/// Which bars the `table` format draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Chart {
    /// No bars.
    #[default]
    None,
    /// The table has the six state columns and `total`: one bar per state
    /// (one row) or a stacked bar per row (several rows).
    States,
    /// The table has a `failures` column: one bar per row.
    Failures,
    /// A `GATE` verdict: a `passed` column of booleans.
    Gate,
    /// A `FLOW`: `from,to,clients` rows, drawn as a from x to matrix.
    Flow,
}

/// One cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A time, printed as RFC 3339 UTC.
    Time(Timestamp),
    /// A time printed in a `TIME ZONE`: the instant and the zone's offset
    /// from UTC at that instant, in seconds (`2025-10-26T00:00:00+02:00`).
    ZonedTime(Timestamp, i32),
    /// A length of time in milliseconds: a number in CSV and JSON, `3h 12m`
    /// in the table form.
    Millis(i64),
    /// `true` or `false` (a JSON boolean).
    Bool(bool),
    /// A count, a JSON number.
    Count(u64),
    /// Text (a name).
    Text(String),
    /// A state, printed by its canonical name.
    State(State),
    /// An error code (`0x80070005`), or none (empty in CSV, `null` in JSON).
    Error(Option<ErrorCode>),
    /// Nothing (empty in CSV, `null` in JSON).
    Null,
}

impl Value {
    /// The text of the value as CSV and the table format print it (empty for
    /// `Null` and `Error(None)`).
    pub fn to_text(&self) -> String {
        match self {
            Value::Time(t) => t.to_string(),
            Value::ZonedTime(t, offset) => {
                let mut s = String::new();
                let _ = crate::zone::write_zoned(&mut s, *t, *offset);
                s
            }
            Value::Millis(ms) => ms.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Count(n) => n.to_string(),
            Value::Text(s) => s.clone(),
            Value::State(s) => s.name().to_owned(),
            Value::Error(Some(e)) => e.to_string(),
            Value::Error(None) | Value::Null => String::new(),
        }
    }

    /// The value as JSON: counts are numbers, nothing is `null`, the rest
    /// strings.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Count(n) => serde_json::Value::from(*n),
            Value::Millis(ms) => serde_json::Value::from(*ms),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Error(None) | Value::Null => serde_json::Value::Null,
            other => serde_json::Value::String(other.to_text()),
        }
    }

    /// The text of the value in the table form for people: like
    /// [`Value::to_text`], but an error code is followed by its text when
    /// it is known (SPEC 7.6) and a length of time reads `3h 12m`.
    pub fn to_display(&self) -> String {
        match self {
            Value::Error(Some(code)) => match crate::error_text::describe(*code) {
                Some(text) => format!("{code} {text}"),
                None => code.to_string(),
            },
            Value::Millis(ms) => human_duration(*ms),
            other => other.to_text(),
        }
    }

    /// The count, if the value is one.
    pub fn as_count(&self) -> Option<u64> {
        match self {
            Value::Count(n) => Some(*n),
            _ => None,
        }
    }
}

/// A length of time for people: the two largest units (`3h 12m`, `2d 4h`,
/// `45s`, `250ms`).
pub fn human_duration(ms: i64) -> String {
    if ms < 0 {
        return format!("-{}", human_duration(ms.saturating_neg()));
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let units = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)];
    let mut parts = Vec::new();
    let mut rest = ms;
    for (name, len) in units {
        let n = rest / len;
        if n > 0 || !parts.is_empty() {
            parts.push(format!("{n}{name}"));
            rest -= n * len;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.len() == 2 && parts[1].starts_with('0') {
        parts.pop();
    }
    parts.join(" ")
}

/// A result: named columns, rows of values, and a hint for the bars of the
/// `table` format.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Table {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
    /// Which bars the `table` format draws.
    pub chart: Chart,
    /// Remarks about the answer for people (`AS KNOWN AT` on data without
    /// commit times): printed on standard error, never in the result.
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[&str], chart: Chart) -> Table {
        Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
            chart,
            notes: Vec::new(),
        }
    }

    /// True when the table is a `GATE` verdict with a failed condition.
    pub fn gate_failed(&self) -> bool {
        self.chart == Chart::Gate
            && self.column("passed").is_some_and(|c| {
                self.rows
                    .iter()
                    .any(|r| matches!(r.get(c), Some(Value::Bool(false))))
            })
    }

    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}
