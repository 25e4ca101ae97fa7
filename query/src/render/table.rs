//! The table format for people: aligned columns (comfy-table, no terminal
//! probing), counts right-aligned, and bars — a bar per state for a single
//! `STATES` row, a stacked bar per row for a `STATES` series or
//! `BY COLLECTION`, a bar per bucket for `FAILURES` — then a row count.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, ContentArrangement, presets};
use rollcall_engine::State;

use super::bars;
use crate::result::{Chart, Table, Value};

const STATE_BAR_WIDTH: usize = 40;
const STACKED_WIDTH: usize = 24;
const FAILURE_BAR_WIDTH: usize = 30;

fn state_counts(table: &Table, row: &[Value]) -> Option<[u64; 6]> {
    let mut counts = [0u64; 6];
    for (i, s) in State::ALL.iter().enumerate() {
        counts[i] = row.get(table.column(s.name())?)?.as_count()?;
    }
    Some(counts)
}

/// `FLOW` for people: a from x to matrix of the six states with row and
/// column totals (the CSV form keeps the `from,to,clients` rows).
fn write_flow(table: &Table, out: &mut dyn Write) -> io::Result<()> {
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
    let mut ct = comfy_table::Table::new();
    ct.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    let mut header = vec![Cell::new("from \\ to")];
    header.extend(State::ALL.iter().map(|s| Cell::new(s.name())));
    header.push(Cell::new("total"));
    ct.set_header(header);
    let right = |n: u64| Cell::new(n).set_alignment(CellAlignment::Right);
    let mut column_totals = [0u64; 6];
    for (i, s) in State::ALL.iter().enumerate() {
        let mut cells = vec![Cell::new(s.name())];
        cells.extend(m[i].iter().map(|&k| right(k)));
        cells.push(right(m[i].iter().sum()));
        for (j, k) in m[i].iter().enumerate() {
            column_totals[j] += k;
        }
        ct.add_row(cells);
    }
    let mut cells = vec![Cell::new("total")];
    cells.extend(column_totals.iter().map(|&k| right(k)));
    let all: u64 = column_totals.iter().sum();
    cells.push(right(all));
    ct.add_row(cells);
    writeln!(out, "{ct}")?;
    writeln!(out, "({all} client{})", if all == 1 { "" } else { "s" })
}

pub(super) fn write(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    if table.chart == Chart::Flow {
        return write_flow(table, out);
    }
    let mut ct = comfy_table::Table::new();
    ct.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    let series_bars = table.chart == Chart::States && table.rows.len() > 1;
    let failure_col = match table.chart {
        Chart::Failures => table.column("failures"),
        _ => None,
    };
    let mut header: Vec<Cell> = table.columns.iter().map(Cell::new).collect();
    if series_bars || failure_col.is_some() {
        header.push(Cell::new(""));
    }
    ct.set_header(header);
    let max_failures = failure_col
        .map(|c| {
            table
                .rows
                .iter()
                .filter_map(|r| r.get(c)?.as_count())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    // Right-align a column only when every value in it is a count.
    let numeric: Vec<bool> = (0..table.columns.len())
        .map(|c| {
            table
                .rows
                .iter()
                .all(|r| matches!(r.get(c), Some(Value::Count(_) | Value::Millis(_) | Value::Null)))
        })
        .collect();
    for row in &table.rows {
        let mut cells: Vec<Cell> = row
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let cell = Cell::new(v.to_display());
                if numeric.get(c).copied().unwrap_or(false) {
                    cell.set_alignment(CellAlignment::Right)
                } else {
                    cell
                }
            })
            .collect();
        if series_bars {
            let bar = state_counts(table, row).map(|c| bars::stacked(&c, STACKED_WIDTH));
            cells.push(Cell::new(bar.unwrap_or_default()));
        } else if let Some(c) = failure_col {
            let n = row.get(c).and_then(Value::as_count).unwrap_or(0);
            cells.push(Cell::new(bars::bar(n, max_failures, FAILURE_BAR_WIDTH)));
        }
        ct.add_row(cells);
    }
    writeln!(out, "{ct}")?;
    if table.chart == Chart::States
        && table.rows.len() == 1
        && let Some(counts) = state_counts(table, &table.rows[0])
    {
        let total: u64 = counts.iter().sum();
        for (i, s) in State::ALL.iter().enumerate() {
            let pct = if total == 0 {
                0.0
            } else {
                counts[i] as f64 * 100.0 / total as f64
            };
            let line = format!(
                "{:<12} {:>8} {:>6.1}% {}",
                s.name(),
                counts[i],
                pct,
                bars::bar(counts[i], total, STATE_BAR_WIDTH)
            );
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    if series_bars {
        writeln!(out, "bar: {}", bars::legend())?;
    }
    let n = table.rows.len();
    writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" })
}
