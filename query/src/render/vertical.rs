//! The vertical layout of the table format (psql's `\\x`, duckdb's
//! `.mode line`): one record after another, a `column │ value` line per
//! field, for tables wider than the terminal.
//!
//! Invariants: the same cells, bars, legend and row count as the side by
//! side layout (only the arrangement differs); deterministic for a given
//! width.

use std::io::{self, Write};

use super::table::{Cells, RowBar, fit, write_footer, write_state_lines};
use crate::result::Table;

/// The label of the bar line of a record.
const BAR_LABEL: &str = "bar";

pub(super) fn write(
    table: &Table,
    cells: &Cells,
    width: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut label_width = table.columns.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    if cells.bar != RowBar::None {
        label_width = label_width.max(BAR_LABEL.len());
    }
    let value_width = cells
        .rows
        .iter()
        .flatten()
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(0);
    let (bar_fixed, bar_min) = cells.bar_widths();
    let bar_width = fit(
        bar_fixed,
        bar_min,
        width.map(|w| w.saturating_sub(label_width + 3)),
    );
    let mut rule_width =
        label_width + 3 + value_width.max(if cells.bar == RowBar::None { 0 } else { bar_width });
    if let Some(w) = width {
        rule_width = rule_width.min(w);
    }
    for (i, row) in cells.rows.iter().enumerate() {
        let head = format!("─[ row {} ]", i + 1);
        let fill = rule_width.saturating_sub(head.chars().count());
        writeln!(out, "{head}{}", "─".repeat(fill))?;
        for (name, value) in table.columns.iter().zip(row) {
            let line = format!("{name:<label_width$} │ {value}");
            writeln!(out, "{}", line.trim_end())?;
        }
        if cells.bar != RowBar::None {
            let line = format!("{BAR_LABEL:<label_width$} │ {}", cells.bar(table, i, bar_width));
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    write_state_lines(table, width, out)?;
    write_footer(table, cells, out)
}

#[cfg(test)]
mod tests {
    use crate::render::{Layout, OutputFormat, TableStyle, render_styled};
    use crate::result::{Chart, Table, Value};

    fn table() -> Table {
        Table {
            columns: vec!["client".into(), "state".into(), "deployment".into()],
            rows: vec![
                vec![
                    Value::Text("PC-1".into()),
                    Value::Text("Failed".into()),
                    Value::Text("a rather long deployment name".into()),
                ],
                vec![
                    Value::Text("PC-2".into()),
                    Value::Text("Compliant".into()),
                    Value::Null,
                ],
            ],
            chart: Chart::None,
            notes: Vec::new(),
        }
    }

    fn text(layout: Layout, width: Option<usize>) -> String {
        let mut out = Vec::new();
        render_styled(
            &table(),
            OutputFormat::Table,
            TableStyle { layout, width },
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn vertical_records() {
        assert_eq!(
            text(Layout::Vertical, None),
            "\
─[ row 1 ]────────────────────────────────
client     │ PC-1
state      │ Failed
deployment │ a rather long deployment name
─[ row 2 ]────────────────────────────────
client     │ PC-2
state      │ Compliant
deployment │
(2 rows)
"
        );
    }

    #[test]
    fn auto_turns_vertical_only_when_too_wide() {
        let wide = text(Layout::Auto, None);
        assert!(wide.starts_with('┌'), "{wide}");
        assert_eq!(text(Layout::Auto, Some(120)), wide);
        assert!(text(Layout::Auto, Some(40)).starts_with("─[ row 1 ]"));
        assert_eq!(text(Layout::Table, Some(40)), wide);
    }
}
