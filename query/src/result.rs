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
}

/// One cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A time, printed as RFC 3339 UTC.
    Time(Timestamp),
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
            Value::Error(None) | Value::Null => serde_json::Value::Null,
            other => serde_json::Value::String(other.to_text()),
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
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[&str], chart: Chart) -> Table {
        Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
            chart,
        }
    }

    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}
