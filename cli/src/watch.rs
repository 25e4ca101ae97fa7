//! `.watch INTERVAL [COUNT] STATEMENT` (psql's `\watch`): runs one
//! statement again and again, each run on a fresh snapshot of the store (so
//! commits made by another process show up), prints its result under a
//! header line, and then what changed since the run before.
//!
//! Invariants: the watch ends after COUNT runs, at Ctrl-C (the session's
//! cancel flag, polled while waiting and honoured inside a running
//! statement), or at the first failing run, whose error is returned; the
//! wait is measured from the start of a run, so a slow statement is not
//! run more often than asked, and never less than 100 ms apart.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rollcall_query::{Table, Value};

use crate::UsageError;
use crate::session::{Session, Sink, StreamSink, is_cancelled, wall_clock};

/// The shortest interval accepted.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Change lines printed after a run, at most.
const MAX_CHANGES: usize = 12;

/// Forwards tables to a stream and keeps the last one, for the comparison.
struct KeepLast<'a> {
    inner: StreamSink<&'a mut dyn Write>,
    last: Option<Table>,
}

impl Sink for KeepLast<'_> {
    fn table(&mut self, index: usize, count: usize, name: Option<&str>, table: &Table) -> anyhow::Result<()> {
        self.inner.table(index, count, name, table)?;
        self.last = Some(table.clone());
        Ok(())
    }
}

/// `.watch` with its arguments `rest` (`5s STATES AT NOW`, `1s 3 STATES ...`).
pub fn watch(session: &mut Session, rest: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let usage = || {
        UsageError(
            ".watch needs an interval and a statement: .watch 5s STATES IN \"All Desktops\" AT NOW".into(),
        )
    };
    let (interval, rest) = rest.split_once(char::is_whitespace).ok_or_else(usage)?;
    let every = rollcall_query::syntax::parse_duration_value(interval).map_err(|e| {
        UsageError(format!(
            ".watch: the interval {interval:?} is not a duration ({e}); try 5s"
        ))
    })?;
    let every = Duration::from_millis(u64::try_from(every.millis()).unwrap_or(0));
    if every < MIN_INTERVAL {
        return Err(UsageError(format!(
            ".watch: the interval is at least {} ms",
            MIN_INTERVAL.as_millis()
        ))
        .into());
    }
    let rest = rest.trim();
    // A bare number before the statement is the count (no statement starts
    // with a digit).
    let (count, statement) = match rest.split_once(char::is_whitespace) {
        Some((n, st)) if n.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u64 = n
                .parse()
                .map_err(|_| UsageError(format!(".watch: {n} runs is too many")))?;
            (Some(n), st.trim())
        }
        _ => (None, rest),
    };
    if statement.is_empty() {
        return Err(usage().into());
    }
    let statement = if statement.ends_with(';') {
        statement.to_owned()
    } else {
        format!("{statement};")
    };
    let cancel = session.cancel_flag();
    let mut previous: Option<Table> = None;
    let mut run = 0u64;
    loop {
        run += 1;
        let started = Instant::now();
        writeln!(
            out,
            "-- watch every {interval}: run {run}{}, {} (Ctrl-C stops)",
            count.map(|n| format!(" of {n}")).unwrap_or_default(),
            wall_clock()
        )?;
        let mut sink = KeepLast {
            inner: StreamSink::new(&mut *out, session.format),
            last: None,
        };
        sink.inner.set_style(session.style);
        match session.run_script(&statement, "watch", &mut sink) {
            Ok(_) => {}
            Err(e) if is_cancelled(&e) => break,
            Err(e) => return Err(e),
        }
        let now = sink.last.take();
        if let (Some(before), Some(now)) = (&previous, &now) {
            for line in changes(before, now) {
                writeln!(out, "{line}")?;
            }
        }
        previous = now;
        out.flush()?;
        if count.is_some_and(|n| run >= n) {
            break;
        }
        // Wait out the interval, watching for Ctrl-C.
        while started.elapsed() < every {
            if cancel.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(25).min(every.saturating_sub(started.elapsed())));
        }
        if cancel.load(Ordering::SeqCst) {
            break;
        }
    }
    if cancel.swap(false, Ordering::SeqCst) {
        writeln!(out, "\nwatch stopped")?;
    }
    out.flush()?;
    Ok(())
}

/// What changed from `before` to `now`, for people: each count that moved
/// (`Failed: 724 -> 730 (+6)`, prefixed by the row's first cell when the
/// table has several rows), or the row count, or "no change".
pub fn changes(before: &Table, now: &Table) -> Vec<String> {
    if before.columns != now.columns || before.rows.len() != now.rows.len() {
        return vec![format!(
            "changed: {} -> {} rows",
            before.rows.len(),
            now.rows.len()
        )];
    }
    let several = now.rows.len() > 1;
    let mut lines = Vec::new();
    for (old, new) in before.rows.iter().zip(&now.rows) {
        let label = match new.first() {
            Some(Value::Time(_) | Value::ZonedTime(..)) | None => String::new(),
            Some(v) if several => format!("{}: ", v.to_display()),
            Some(_) => String::new(),
        };
        for (c, (a, b)) in old.iter().zip(new).enumerate() {
            match (a.as_count(), b.as_count()) {
                (Some(x), Some(y)) if x != y => {
                    let d = i128::from(y) - i128::from(x);
                    lines.push(format!("{label}{}: {x} -> {y} ({d:+})", now.columns[c]));
                }
                (None, None) if a != b && !matches!(b, Value::Time(_) | Value::ZonedTime(..)) => {
                    lines.push(format!(
                        "{label}{}: {} -> {}",
                        now.columns[c],
                        a.to_display(),
                        b.to_display()
                    ));
                }
                _ => {}
            }
        }
    }
    if lines.is_empty() {
        return vec!["changed: nothing since the last run".to_owned()];
    }
    let more = lines.len().saturating_sub(MAX_CHANGES);
    lines.truncate(MAX_CHANGES);
    if more > 0 {
        lines.push(format!("... and {more} more changes"));
    }
    for l in &mut lines {
        l.insert_str(0, "changed: ");
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_query::Chart;

    fn table(rows: &[(&str, u64, u64)]) -> Table {
        let mut t = Table::new(&["collection", "Compliant", "Failed"], Chart::None);
        for (n, a, b) in rows {
            t.rows.push(vec![
                Value::Text((*n).to_owned()),
                Value::Count(*a),
                Value::Count(*b),
            ]);
        }
        t
    }

    #[test]
    fn changes_name_each_moved_count() {
        let a = table(&[("x", 10, 2), ("y", 5, 5)]);
        let b = table(&[("x", 11, 1), ("y", 5, 5)]);
        assert_eq!(
            changes(&a, &b),
            vec![
                "changed: x: Compliant: 10 -> 11 (+1)",
                "changed: x: Failed: 2 -> 1 (-1)"
            ]
        );
        assert_eq!(changes(&a, &a), vec!["changed: nothing since the last run"]);
        assert_eq!(changes(&a, &table(&[("x", 1, 1)])), vec!["changed: 2 -> 1 rows"]);
    }
}
