//! The table format for people: aligned columns (comfy-table, no terminal
//! probing), counts right-aligned, and bars — a bar per state for a single
//! `STATES` row, a stacked bar per row for a `STATES` series or
//! `BY COLLECTION`, a bar per bucket for `FAILURES` — then a row count.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, ContentArrangement, presets};
use rollcall_engine::State;

use super::{Layout, TableStyle, bars};
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

/// Which bar the table draws beside each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RowBar {
    None,
    /// A stacked bar of the six states (a `STATES` series).
    Stacked,
    /// A bar of the `failures` column against its largest value.
    Failures(usize, u64),
}

/// A table's cells as text, and the bar each row gets: shared by the side by
/// side and the vertical layouts.
pub(super) struct Cells {
    pub(super) rows: Vec<Vec<String>>,
    /// Per column: every value is a count (right-aligned).
    pub(super) numeric: Vec<bool>,
    pub(super) bar: RowBar,
}

impl Cells {
    pub(super) fn of(table: &Table) -> Cells {
        let series_bars = table.chart == Chart::States && table.rows.len() > 1;
        let failure_col = match table.chart {
            Chart::Failures => table.column("failures"),
            _ => None,
        };
        let bar = match (series_bars, failure_col) {
            (true, _) => RowBar::Stacked,
            (false, Some(c)) => RowBar::Failures(
                c,
                table
                    .rows
                    .iter()
                    .filter_map(|r| r.get(c)?.as_count())
                    .max()
                    .unwrap_or(0),
            ),
            (false, None) => RowBar::None,
        };
        // Right-align a column only when every value in it is a count.
        let numeric = (0..table.columns.len())
            .map(|c| {
                table
                    .rows
                    .iter()
                    .all(|r| matches!(r.get(c), Some(Value::Count(_) | Value::Millis(_) | Value::Null)))
            })
            .collect();
        let rows = table
            .rows
            .iter()
            .map(|r| r.iter().map(Value::to_display).collect())
            .collect();
        Cells { rows, numeric, bar }
    }

    /// The bar of row `i` in `width` cells.
    pub(super) fn bar(&self, table: &Table, i: usize, width: usize) -> String {
        let Some(row) = table.rows.get(i) else {
            return String::new();
        };
        match self.bar {
            RowBar::None => String::new(),
            RowBar::Stacked => state_counts(table, row)
                .map(|c| bars::stacked(&c, width))
                .unwrap_or_default(),
            RowBar::Failures(c, max) => {
                bars::bar(row.get(c).and_then(Value::as_count).unwrap_or(0), max, width)
            }
        }
    }

    /// The fixed width of the bar, and the narrowest it may be made.
    pub(super) fn bar_widths(&self) -> (usize, usize) {
        match self.bar {
            RowBar::None => (0, 0),
            RowBar::Stacked => (STACKED_WIDTH, MIN_BAR_WIDTH),
            RowBar::Failures(..) => (FAILURE_BAR_WIDTH, MIN_BAR_WIDTH),
        }
    }

    /// Characters per column (header included).
    fn column_widths(&self, table: &Table) -> Vec<usize> {
        table
            .columns
            .iter()
            .enumerate()
            .map(|(c, name)| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|v| v.chars().count())
                    .chain([name.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// The narrowest a bar is drawn when fitting a width.
const MIN_BAR_WIDTH: usize = 8;

/// `fixed` cells, or fewer to fit `room` (never fewer than `min`).
pub(super) fn fit(fixed: usize, min: usize, room: Option<usize>) -> usize {
    room.map_or(fixed, |r| r.clamp(min, fixed))
}

/// The per-state bars under a single `STATES` row.
pub(super) fn write_state_lines(table: &Table, width: Option<usize>, out: &mut dyn Write) -> io::Result<()> {
    if table.chart != Chart::States || table.rows.len() != 1 {
        return Ok(());
    }
    let Some(counts) = state_counts(table, &table.rows[0]) else {
        return Ok(());
    };
    // `name(12) count(8) pct(7)` and the spaces between: 30 cells before the bar.
    let bar_width = fit(
        STATE_BAR_WIDTH,
        MIN_BAR_WIDTH,
        width.map(|w| w.saturating_sub(31)),
    );
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
            bars::bar(counts[i], total, bar_width)
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The legend and the row count that end a table in either layout.
pub(super) fn write_footer(table: &Table, cells: &Cells, out: &mut dyn Write) -> io::Result<()> {
    if cells.bar == RowBar::Stacked {
        writeln!(out, "bar: {}", bars::legend())?;
    }
    let n = table.rows.len();
    writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" })
}

pub(super) fn write(table: &Table, style: TableStyle, out: &mut dyn Write) -> io::Result<()> {
    if table.chart == Chart::Flow {
        return write_flow(table, out);
    }
    let cells = Cells::of(table);
    // Comfy-table's condensed style: `│ a │ b │`, three cells per column and one.
    let text_width: usize = 1 + cells.column_widths(table).iter().map(|w| w + 3).sum::<usize>();
    let (bar_fixed, bar_min) = cells.bar_widths();
    let bar_extra = if cells.bar == RowBar::None { 0 } else { 3 };
    let vertical = match style.layout {
        Layout::Vertical => true,
        Layout::Table => false,
        Layout::Auto => style.width.is_some_and(|w| text_width + bar_min + bar_extra > w),
    };
    if vertical {
        return super::vertical::write(table, &cells, style.width, out);
    }
    let bar_width = fit(
        bar_fixed,
        bar_min,
        style.width.map(|w| w.saturating_sub(text_width + bar_extra)),
    );
    let mut ct = comfy_table::Table::new();
    ct.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    let mut header: Vec<Cell> = table.columns.iter().map(Cell::new).collect();
    if cells.bar != RowBar::None {
        header.push(Cell::new(""));
    }
    ct.set_header(header);
    for (i, row) in cells.rows.iter().enumerate() {
        let mut line: Vec<Cell> = row
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let cell = Cell::new(v);
                if cells.numeric.get(c).copied().unwrap_or(false) {
                    cell.set_alignment(CellAlignment::Right)
                } else {
                    cell
                }
            })
            .collect();
        if cells.bar != RowBar::None {
            line.push(Cell::new(cells.bar(table, i, bar_width)));
        }
        ct.add_row(line);
    }
    writeln!(out, "{ct}")?;
    write_state_lines(table, style.width, out)?;
    write_footer(table, &cells, out)
}
