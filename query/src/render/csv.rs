//! CSV: a header row, then one record per row, RFC 4180 quoting (a field is
//! quoted when it holds `,`, `"`, CR or LF; quotes are doubled), `\n` line
//! ends.

use std::io::{self, Write};

use crate::result::Table;

pub(super) fn write(table: &Table, out: &mut dyn Write) -> io::Result<()> {
    let mut w = ::csv::WriterBuilder::new()
        .quote_style(::csv::QuoteStyle::Necessary)
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(out);
    let to_io = |e: ::csv::Error| match e.into_kind() {
        ::csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    };
    w.write_record(&table.columns).map_err(to_io)?;
    for row in &table.rows {
        w.write_record(row.iter().map(|v| v.to_text())).map_err(to_io)?;
    }
    w.flush()
}
