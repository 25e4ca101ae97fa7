//! JSON and NDJSON: one object per row, keys are the column names in column
//! order, counts are numbers, nothing is `null`, everything else a string.

use std::io::{self, Write};

use crate::result::Table;

fn object(table: &Table, row: &[crate::Value]) -> String {
    let mut s = String::from("{");
    for (i, (col, v)) in table.columns.iter().zip(row).enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::String(col.clone()).to_string());
        s.push(':');
        s.push_str(&v.to_json().to_string());
    }
    s.push('}');
    s
}

/// `[`, one object per line, `]`; an empty table is `[]`.
pub(super) fn write_array(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    if table.rows.is_empty() {
        return out.write_all(b"[]\n");
    }
    out.write_all(b"[\n")?;
    for (i, row) in table.rows.iter().enumerate() {
        let sep = if i + 1 < table.rows.len() { "," } else { "" };
        writeln!(out, "  {}{sep}", object(table, row))?;
    }
    out.write_all(b"]\n")
}

/// One object per line; an empty table writes nothing.
pub(super) fn write_lines(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    for row in &table.rows {
        writeln!(out, "{}", object(table, row))?;
    }
    Ok(())
}
