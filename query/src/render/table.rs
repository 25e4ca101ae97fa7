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

/// Clients not Compliant, and all clients, of one row's counts.
fn not_compliant(counts: &[u64; 6]) -> (u64, u64) {
    let total: u64 = counts.iter().sum();
    (total - counts[State::Compliant as usize], total)
}

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
    /// `STATES BY COLLECTION`: each row's share of clients not Compliant,
    /// stacked by state, the row with the largest share (`not`, `total`)
    /// drawn full width, so that rows compare with one another.
    Problems {
        not: u64,
        total: u64,
    },
}

/// Cells of the `12.3% ` label before a [`RowBar::Problems`] bar.
const SHARE_LABEL: usize = 7;

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
        let by_collection = table.columns.first().is_some_and(|c| c == "collection");
        let bar = match (series_bars, failure_col) {
            (true, _) if by_collection => {
                // The largest share not Compliant, compared as fractions.
                let (mut not, mut total) = (0u64, 1u64);
                for counts in table.rows.iter().filter_map(|r| state_counts(table, r)) {
                    let (n, t) = not_compliant(&counts);
                    if t > 0 && u128::from(n) * u128::from(total) > u128::from(not) * u128::from(t) {
                        (not, total) = (n, t);
                    }
                }
                RowBar::Problems { not, total }
            }
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
            RowBar::Problems { not, total } => {
                let Some(mut counts) = state_counts(table, row) else {
                    return String::new();
                };
                let (n, t) = not_compliant(&counts);
                if t == 0 {
                    return String::new();
                }
                let room = width.saturating_sub(SHARE_LABEL) as u128;
                // room x (n / t) / (not / total), rounded.
                let den = u128::from(t) * u128::from(not);
                let cells = (room * u128::from(n) * u128::from(total) + den / 2)
                    .checked_div(den)
                    .map_or(0, |c| c.min(room) as usize);
                counts[State::Compliant as usize] = 0;
                let pct = n as f64 * 100.0 / t as f64;
                format!(
                    "{pct:>5.1}% {}",
                    bars::stacked(&counts, cells.max(usize::from(n > 0)))
                )
            }
        }
    }

    /// The fixed width of the bar, and the narrowest it may be made.
    pub(super) fn bar_widths(&self) -> (usize, usize) {
        match self.bar {
            RowBar::None => (0, 0),
            RowBar::Stacked => (STACKED_WIDTH, MIN_BAR_WIDTH),
            RowBar::Failures(..) => (FAILURE_BAR_WIDTH, MIN_BAR_WIDTH),
            RowBar::Problems { .. } => (STACKED_WIDTH + SHARE_LABEL, MIN_BAR_WIDTH + SHARE_LABEL),
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
    match cells.bar {
        RowBar::Stacked => writeln!(out, "bar: {}", bars::legend())?,
        RowBar::Problems { .. } => writeln!(
            out,
            "bar: share not Compliant (the largest drawn full width): {}",
            bars::legend_without(State::Compliant)
        )?,
        _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    fn by_collection(rows: &[(&str, [u64; 6])]) -> Table {
        let mut cols = vec!["collection"];
        cols.extend(State::ALL.iter().map(|s| s.name()));
        cols.push("total");
        let mut t = Table::new(&cols, Chart::States);
        for (name, counts) in rows {
            let mut r = vec![Value::Text((*name).to_owned())];
            r.extend(counts.iter().map(|&c| Value::Count(c)));
            r.push(Value::Count(counts.iter().sum()));
            t.rows.push(r);
        }
        t
    }

    #[test]
    fn by_collection_bars_compare_rows_by_their_share_not_compliant() {
        // 50% and 25% not Compliant, and a row wholly Compliant.
        let t = by_collection(&[
            ("a", [0, 50, 0, 0, 50, 0]),
            ("b", [0, 300, 100, 0, 0, 0]),
            ("c", [0, 10, 0, 0, 0, 0]),
        ]);
        let cells = Cells::of(&t);
        let width = SHARE_LABEL + 20;
        assert_eq!(cells.bar(&t, 0, width), format!(" 50.0% {}", "░".repeat(20)));
        assert_eq!(cells.bar(&t, 1, width), format!(" 25.0% {}", "▓".repeat(10)));
        assert_eq!(cells.bar(&t, 2, width), "  0.0% ");
        let mut out = Vec::new();
        write_footer(&t, &cells, &mut out).expect("footer");
        let footer = String::from_utf8(out).expect("utf-8");
        assert!(footer.starts_with("bar: share not Compliant"), "{footer}");
        assert!(!footer.contains("█ Compliant"), "{footer}");
    }
}
