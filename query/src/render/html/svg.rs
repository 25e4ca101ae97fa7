//! Hand-written inline SVG charts for the HTML page: a stacked bar of the six
//! states per row (`STATES ... AT`, `BY COLLECTION`), stacked columns over
//! time (`STATES ... EVERY`), and columns per bucket (`FAILURES`, stacked by
//! error code with `BY ERROR`).
//!
//! Invariants: deterministic (integer pixel arithmetic where widths must add
//! up, coordinates printed with at most one decimal); every number drawn is
//! the CSV text of a cell or derived from the cells only (shares with one
//! decimal, rounded half up, like `GATE`); every bar segment carries a
//! `<title>` with its label and number, so the chart reads back without
//! looking at pixels; every text is escaped; a chart is one `<svg>` whatever
//! the number of rows or deployments (a panel per deployment).

use std::fmt::Write as _;

use rollcall_engine::State;

use super::escape;
use crate::result::{Chart, Table, Value};

/// The state colours, in SPEC order (NotStarted, Compliant, InProgress,
/// NonCompliant, Failed, Unknown), after the Configuration Manager console.
pub const STATE_COLOURS: [&str; 6] = ["#c8c8c8", "#3c9b3c", "#2f7fd1", "#e0a100", "#d13438", "#8a8a8a"];

/// Colours of error codes in a `FAILURES ... BY ERROR` chart, in turn.
const ERROR_COLOURS: [&str; 8] = [
    "#d13438", "#8764b8", "#ca5010", "#038387", "#e3008c", "#4f6bed", "#986f0b", "#69797e",
];

const WIDTH: u32 = 760;
const LEFT: u32 = 64;
const RIGHT: u32 = 16;
const PLOT_HEIGHT: u32 = 200;
/// Pixels between the centres of two time labels, at least (a label of
/// `2026-10-01T00:00:00Z` is about 125 pixels wide).
const LABEL_SPACING: f64 = 140.0;
/// The widest column.
const MAX_BAR: f64 = 60.0;
/// Counts are written on columns when there are at most this many.
const MAX_VALUE_LABELS: usize = 31;

/// `n / total` as a percentage with one decimal, rounded half up (`33.3%`);
/// `0.0%` for an empty population (the rule of `GATE`'s `actual`).
pub(crate) fn share(n: u64, total: u64) -> String {
    if total == 0 {
        return "0.0%".to_owned();
    }
    let tenths = (u128::from(n) * 2000 + u128::from(total)) / (u128::from(total) * 2);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// Splits `width` pixels between `counts` by the largest-remainder method
/// (ties to the earlier one): the parts add up to exactly `width` when the
/// counts are not all zero.
pub(crate) fn split(counts: &[u64], width: u32) -> Vec<u32> {
    let total: u128 = counts.iter().map(|&c| u128::from(c)).sum();
    if total == 0 {
        return vec![0; counts.len()];
    }
    let w = u128::from(width);
    let mut parts: Vec<u32> = Vec::with_capacity(counts.len());
    let mut rema = Vec::with_capacity(counts.len());
    for &c in counts {
        let q = u128::from(c) * w;
        parts.push(u32::try_from(q / total).unwrap_or(width));
        rema.push(q % total);
    }
    let used: u32 = parts.iter().sum();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| rema[b].cmp(&rema[a]).then(a.cmp(&b)));
    for &i in order.iter().take(width.saturating_sub(used) as usize) {
        parts[i] += 1;
    }
    parts
}

/// A "nice" axis for values up to `max`: the step (1, 2 or 5 times a power
/// of ten) and the top (a multiple of the step, at least `max`, at most five
/// steps; `1` for an empty chart).
pub(crate) fn axis(max: u64) -> (u64, u64) {
    if max == 0 {
        return (1, 1);
    }
    let mut magnitude = 1u64;
    loop {
        for m in [1u64, 2, 5] {
            let step = magnitude.saturating_mul(m);
            if step.saturating_mul(5) >= max {
                return (step, max.div_ceil(step).saturating_mul(step));
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// The indices of the `n` points, `slot` pixels apart, that get a time
/// label: the first, then every k-th, k the least that keeps labels
/// [`LABEL_SPACING`] apart.
pub(crate) fn label_indices(n: usize, slot: f64) -> Vec<usize> {
    let stride = if slot > 0.0 {
        ((LABEL_SPACING / slot).ceil() as usize).max(1)
    } else {
        n.max(1)
    };
    (0..n).step_by(stride).collect()
}

/// One decimal, without a trailing `.0`.
fn num(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

fn state_counts(table: &Table, row: &[Value]) -> Option<([u64; 6], u64)> {
    let mut counts = [0u64; 6];
    for (i, s) in State::ALL.iter().enumerate() {
        counts[i] = row.get(table.column(s.name())?)?.as_count()?;
    }
    let total = match table.column("total") {
        Some(c) => row.get(c)?.as_count()?,
        None => counts.iter().sum(),
    };
    Some((counts, total))
}

/// Rows grouped by the `deployment` column (consecutive runs), or one group.
fn panels(table: &Table) -> Vec<(Option<String>, Vec<&[Value]>)> {
    let dep = table.column("deployment");
    let mut out: Vec<(Option<String>, Vec<&[Value]>)> = Vec::new();
    for row in &table.rows {
        let key = dep.and_then(|c| row.get(c)).map(Value::to_text);
        match out.last_mut() {
            Some((k, rows)) if *k == key => rows.push(row),
            _ => out.push((key, vec![row])),
        }
    }
    out
}

/// The text of the row's lead cells (all but the counts and `deployment`).
fn row_label(table: &Table, row: &[Value]) -> String {
    let skip = |c: &str| c == "deployment" || c == "total" || State::ALL.iter().any(|s| s.name() == c);
    table
        .columns
        .iter()
        .zip(row)
        .filter(|(c, _)| !skip(c))
        .map(|(_, v)| v.to_text())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The chart of `table`, if it has one: a complete `<svg>` element (for a
/// chartable table without rows, one that says so, so that every `STATES`
/// and `FAILURES` statement has its chart).
pub(super) fn chart(table: &Table) -> Option<String> {
    let chartable = match table.chart {
        Chart::States => true,
        Chart::Failures => table.column("failures").is_some(),
        _ => false,
    };
    if chartable && table.rows.is_empty() {
        let mut s = String::new();
        open_svg(&mut s, 40, "nothing to draw");
        s.push_str("<text class=\"empty\" x=\"8\" y=\"24\" fill=\"#666\">no rows to draw</text></svg>");
        return Some(s);
    }
    match table.chart {
        Chart::States => {
            let groups = panels(table);
            let series = table.column("time").is_some()
                && table.column("collection").is_none()
                && groups.iter().any(|(_, rows)| rows.len() > 1);
            if series {
                Some(state_series(table, &groups))
            } else {
                Some(state_bars(table, &groups))
            }
        }
        Chart::Failures if table.column("failures").is_some() => Some(failures(table, &panels(table))),
        _ => None,
    }
}

fn open_svg(s: &mut String, height: u32, label: &str) {
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{}\" \
         font-family=\"sans-serif\" font-size=\"11\">",
        escape(label)
    );
}

fn panel_heading(s: &mut String, y: u32, name: Option<&str>) {
    if let Some(name) = name {
        let _ = write!(
            s,
            "<text class=\"panel\" x=\"4\" y=\"{}\" font-weight=\"bold\">deployment {}</text>",
            y + 14,
            escape(name)
        );
    }
}

fn legend_entry(s: &mut String, x: u32, y: u32, colour: &str, class: &str, text: &str) {
    let _ = write!(
        s,
        "<g class=\"legend {class}\"><rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{colour}\" \
         stroke=\"#555\" stroke-width=\"0.5\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
        y,
        x + 17,
        y + 10,
        escape(text)
    );
}

/// One horizontal stacked bar per row; a single row also gets a legend with
/// each state's count and share.
fn state_bars(table: &Table, groups: &[(Option<String>, Vec<&[Value]>)]) -> String {
    const BAR: u32 = 22;
    const GAP: u32 = 8;
    let single = table.rows.len() == 1;
    let label_w: u32 = if single { 0 } else { 220 };
    let bar_x = 8 + label_w;
    let bar_w = WIDTH - bar_x - 72;
    let heading = |g: &Option<String>| if g.is_some() { 22 } else { 0 };
    let rows_h: u32 = groups
        .iter()
        .map(|(g, rows)| heading(g) + rows.len() as u32 * (BAR + GAP))
        .sum();
    let legend_h = if single { 44 } else { 26 };
    let height = 8 + rows_h + legend_h;
    let mut s = String::new();
    open_svg(&mut s, height, "clients by state");
    let mut y = 8;
    let mut first_counts = None;
    for (name, rows) in groups {
        panel_heading(&mut s, y, name.as_deref());
        y += heading(name);
        for row in rows {
            let Some((counts, total)) = state_counts(table, row) else {
                continue;
            };
            first_counts.get_or_insert((counts, total));
            let label = row_label(table, row);
            let _ = write!(
                s,
                "<g class=\"bar\" data-label=\"{}\" data-total=\"{total}\">",
                escape(&label)
            );
            if !single {
                let shown: String = if label.chars().count() > 34 {
                    label.chars().take(33).chain(['…']).collect()
                } else {
                    label.clone()
                };
                let _ = write!(
                    s,
                    "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}<title>{}</title></text>",
                    bar_x - 6,
                    y + 15,
                    escape(&shown),
                    escape(&label)
                );
            }
            if total == 0 || counts.iter().all(|&c| c == 0) {
                let _ = write!(
                    s,
                    "<rect x=\"{bar_x}\" y=\"{y}\" width=\"{bar_w}\" height=\"{BAR}\" fill=\"none\" stroke=\"#999\"/>\
                     <text x=\"{}\" y=\"{}\" fill=\"#666\">no clients</text>",
                    bar_x + 6,
                    y + 15
                );
            }
            let mut x = bar_x;
            for (i, w) in split(&counts, bar_w).into_iter().enumerate() {
                if counts[i] == 0 {
                    continue;
                }
                let state = State::ALL[i].name();
                let what = format!("{state} {} ({})", counts[i], share(counts[i], total));
                let title = if label.is_empty() {
                    what.clone()
                } else {
                    format!("{label}: {what}")
                };
                let _ = write!(
                    s,
                    "<rect class=\"seg\" data-state=\"{state}\" data-count=\"{}\" x=\"{x}\" y=\"{y}\" \
                     width=\"{w}\" height=\"{BAR}\" fill=\"{}\"><title>{}</title></rect>",
                    counts[i],
                    STATE_COLOURS[i],
                    escape(&title)
                );
                let digits = counts[i].to_string();
                if w as usize >= 8 * digits.len() + 6 {
                    let fill = if i == 0 { "#222" } else { "#fff" };
                    let _ = write!(
                        s,
                        "<text class=\"count\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{fill}\">{digits}</text>",
                        x + w / 2,
                        y + 15
                    );
                }
                x += w;
            }
            let _ = write!(
                s,
                "<text class=\"total\" x=\"{}\" y=\"{}\">{total}</text></g>",
                bar_x + bar_w + 6,
                y + 15
            );
            y += BAR + GAP;
        }
    }
    // The legend: with one row, each state's count and share.
    for (i, state) in State::ALL.iter().enumerate() {
        let (col, line) = if single { (i % 3, i / 3) } else { (i, 0) };
        let step = if single { 240 } else { 122 };
        let text = match (single, first_counts) {
            (true, Some((counts, total))) => {
                format!("{} {} ({})", state.name(), counts[i], share(counts[i], total))
            }
            _ => state.name().to_owned(),
        };
        legend_entry(
            &mut s,
            8 + col as u32 * step,
            y + 4 + line as u32 * 18,
            STATE_COLOURS[i],
            state.name(),
            &text,
        );
    }
    s.push_str("</svg>");
    s
}

/// One column (stacked when it has several parts) per point: the plot of a
/// panel, with axes.
struct Columns<'a> {
    /// The x label of each point (the time cell's CSV text).
    times: Vec<String>,
    /// The parts of each point: (series index, value).
    parts: Vec<Vec<(usize, u64)>>,
    /// Colour and name of each series.
    series: &'a [(String, String)],
    /// What the y axis counts.
    unit: &'a str,
}

fn columns(s: &mut String, top_y: u32, c: &Columns<'_>, x_title: &str) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let bottom = top_y + PLOT_HEIGHT;
    let max = c
        .parts
        .iter()
        .map(|p| p.iter().map(|&(_, v)| v).sum::<u64>())
        .max()
        .unwrap_or(0);
    let (step, top) = axis(max);
    let scale = |v: u64| f64::from(PLOT_HEIGHT) * v as f64 / top as f64;
    // Grid lines and y labels.
    let mut tick = 0;
    while tick <= top {
        let y = f64::from(bottom) - scale(tick);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\
             <text class=\"ytick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{tick}</text>",
            WIDTH - RIGHT,
            num(y),
            num(y),
            LEFT - 6,
            num(y + 4.0)
        );
        tick += step;
    }
    let _ = write!(
        s,
        "<text class=\"ytitle\" transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        top_y + PLOT_HEIGHT / 2,
        escape(c.unit)
    );
    let n = c.times.len().max(1);
    let slot = f64::from(plot_w) / n as f64;
    let bar_w = (slot * 0.8).clamp(0.5, MAX_BAR);
    for (i, (time, parts)) in c.times.iter().zip(&c.parts).enumerate() {
        let x = f64::from(LEFT) + slot * i as f64 + (slot - bar_w) / 2.0;
        let total: u64 = parts.iter().map(|&(_, v)| v).sum();
        let _ = write!(
            s,
            "<g class=\"point\" data-time=\"{}\" data-total=\"{total}\">",
            escape(time)
        );
        let mut acc = 0u64;
        for &(k, v) in parts {
            let (colour, name) = &c.series[k];
            let y0 = f64::from(bottom) - scale(acc + v);
            let h = scale(acc + v) - scale(acc);
            acc += v;
            let title = if c.series.len() == 1 {
                format!("{time}: {v} {}", c.unit)
            } else {
                format!("{time}: {name} {v}")
            };
            let _ = write!(
                s,
                "<rect class=\"seg\" data-series=\"{}\" data-count=\"{v}\" x=\"{}\" y=\"{}\" width=\"{}\" \
                 height=\"{}\" fill=\"{colour}\"><title>{}</title></rect>",
                escape(name),
                num(x),
                num(y0),
                num(bar_w),
                num(h),
                escape(&title)
            );
        }
        if c.times.len() <= MAX_VALUE_LABELS {
            let _ = write!(
                s,
                "<text class=\"value\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{total}</text>",
                num(x + bar_w / 2.0),
                num(f64::from(bottom) - scale(total) - 3.0)
            );
        }
        s.push_str("</g>");
    }
    // The x axis and its time labels.
    let _ = write!(
        s,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"#333\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{top_y}\" y2=\"{bottom}\" stroke=\"#333\"/>",
        WIDTH - RIGHT
    );
    for i in label_indices(c.times.len(), slot) {
        let centre = num(f64::from(LEFT) + slot * (i as f64 + 0.5));
        let _ = write!(
            s,
            "<line x1=\"{centre}\" x2=\"{centre}\" y1=\"{bottom}\" y2=\"{}\" stroke=\"#333\"/>\
             <text class=\"xtick\" x=\"{centre}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            bottom + 4,
            bottom + 16,
            escape(&c.times[i]),
        );
    }
    let _ = write!(
        s,
        "<text class=\"xtitle\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2,
        bottom + 32,
        escape(x_title)
    );
}

const PANEL_HEIGHT: u32 = 30 + PLOT_HEIGHT + 40;

/// Stacked columns of the six states over time, a panel per deployment.
fn state_series(table: &Table, groups: &[(Option<String>, Vec<&[Value]>)]) -> String {
    let series: Vec<(String, String)> = State::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| (STATE_COLOURS[i].to_owned(), s.name().to_owned()))
        .collect();
    let time_col = table.column("time");
    let height = groups.len() as u32 * PANEL_HEIGHT + 30;
    let mut s = String::new();
    open_svg(&mut s, height, "clients by state over time");
    let mut y = 0;
    for (name, rows) in groups {
        panel_heading(&mut s, y, name.as_deref());
        let mut c = Columns {
            times: Vec::new(),
            parts: Vec::new(),
            series: &series,
            unit: "clients",
        };
        for row in rows {
            let Some((counts, _)) = state_counts(table, row) else {
                continue;
            };
            c.times.push(
                time_col
                    .and_then(|t| row.get(t))
                    .map(Value::to_text)
                    .unwrap_or_default(),
            );
            c.parts.push(
                counts
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|&(_, v)| v > 0)
                    .collect(),
            );
        }
        columns(&mut s, y + 30, &c, "time");
        y += PANEL_HEIGHT;
    }
    for (i, (colour, name)) in series.iter().enumerate() {
        legend_entry(&mut s, 8 + i as u32 * 122, y + 8, colour, name, name);
    }
    s.push_str("</svg>");
    s
}

/// Columns of failures per bucket (stacked by error code with `BY ERROR`),
/// a panel per deployment.
fn failures(table: &Table, groups: &[(Option<String>, Vec<&[Value]>)]) -> String {
    let bucket = table.column("bucket");
    let error = table.column("error");
    let count = table.column("failures");
    let cell = |row: &[Value], c: Option<usize>| c.and_then(|c| row.get(c)).map(Value::to_text);
    // Every error code, in first-seen order, with its total.
    let mut codes: Vec<(String, u64)> = Vec::new();
    if error.is_some() {
        for row in &table.rows {
            let code = cell(row, error)
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "no code".into());
            let n = count
                .and_then(|c| row.get(c))
                .and_then(Value::as_count)
                .unwrap_or(0);
            match codes.iter_mut().find(|(c, _)| *c == code) {
                Some((_, total)) => *total += n,
                None => codes.push((code, n)),
            }
        }
    }
    let series: Vec<(String, String)> = if error.is_some() {
        codes
            .iter()
            .enumerate()
            .map(|(i, (c, _))| (ERROR_COLOURS[i % ERROR_COLOURS.len()].to_owned(), c.clone()))
            .collect()
    } else {
        vec![("#d13438".to_owned(), "failures".to_owned())]
    };
    let legend_lines = if error.is_some() {
        codes.len().div_ceil(4) as u32
    } else {
        0
    };
    let height = groups.len() as u32 * PANEL_HEIGHT + legend_lines * 18 + 8;
    let mut s = String::new();
    open_svg(&mut s, height, "failures over time");
    let mut y = 0;
    for (name, rows) in groups {
        panel_heading(&mut s, y, name.as_deref());
        let mut c = Columns {
            times: Vec::new(),
            parts: Vec::new(),
            series: &series,
            unit: "failures",
        };
        for row in rows {
            let time = cell(row, bucket).unwrap_or_default();
            let n = count
                .and_then(|c| row.get(c))
                .and_then(Value::as_count)
                .unwrap_or(0);
            let k = match error {
                Some(_) => {
                    let code = cell(row, error)
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "no code".into());
                    codes.iter().position(|(c, _)| *c == code).unwrap_or(0)
                }
                None => 0,
            };
            if c.times.last() != Some(&time) {
                c.times.push(time);
                c.parts.push(Vec::new());
            }
            if let Some(p) = c.parts.last_mut() {
                p.push((k, n));
            }
        }
        columns(&mut s, y + 30, &c, "bucket start");
        y += PANEL_HEIGHT;
    }
    for (i, (code, total)) in codes.iter().enumerate() {
        let (colour, _) = &series[i];
        legend_entry(
            &mut s,
            8 + (i % 4) as u32 * 184,
            y + (i / 4) as u32 * 18,
            colour,
            "error",
            &format!("{code} {total}"),
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_half_up() {
        assert_eq!(share(1, 3), "33.3%");
        assert_eq!(share(2, 3), "66.7%");
        assert_eq!(share(1, 8), "12.5%");
        assert_eq!(share(1, 2000), "0.1%");
        assert_eq!(share(0, 0), "0.0%");
        assert_eq!(share(5, 5), "100.0%");
    }

    #[test]
    fn split_adds_up_to_the_width() {
        assert_eq!(split(&[1, 1, 1], 10), vec![4, 3, 3]);
        assert_eq!(split(&[0, 0], 10), vec![0, 0]);
        assert_eq!(split(&[0, 7, 0], 600), vec![0, 600, 0]);
        for counts in [
            vec![1u64, 2, 3, 4, 5, 6],
            vec![u64::MAX, 1, 0, 0, 0, 9],
            vec![999, 1, 1, 1, 1, 1],
        ] {
            assert_eq!(split(&counts, 617).iter().sum::<u32>(), 617, "{counts:?}");
        }
    }

    #[test]
    fn axes_are_nice_and_cover_the_maximum() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(1), (1, 1));
        assert_eq!(axis(3), (1, 3));
        assert_eq!(axis(7), (2, 8));
        assert_eq!(axis(10), (2, 10));
        assert_eq!(axis(11), (5, 15));
        assert_eq!(axis(1234), (500, 1500));
        for max in [1u64, 9, 26, 99, 100, 101, 4_999, u64::MAX / 3] {
            let (step, top) = axis(max);
            assert!(
                top >= max && top / step <= 5 && top % step == 0,
                "{max}: {step} {top}"
            );
        }
        let (step, top) = axis(u64::MAX);
        assert!(top >= step);
    }

    #[test]
    fn time_labels_keep_their_distance() {
        assert_eq!(label_indices(0, 100.0), Vec::<usize>::new());
        assert_eq!(label_indices(3, 200.0), vec![0, 1, 2]);
        assert_eq!(label_indices(3, 140.0), vec![0, 1, 2]);
        assert_eq!(label_indices(6, 113.3), vec![0, 2, 4]);
        assert_eq!(label_indices(31, 22.0), vec![0, 7, 14, 21, 28]);
        assert_eq!(label_indices(720, 680.0 / 720.0).len(), 5);
        assert_eq!(label_indices(2, 0.0), vec![0]);
    }

    fn states_row(lead: Value, counts: [u64; 6]) -> Vec<Value> {
        let mut row = vec![lead];
        row.extend(counts.iter().map(|&c| Value::Count(c)));
        row.push(Value::Count(counts.iter().sum()));
        row
    }

    fn states_table(lead: &str, rows: Vec<Vec<Value>>) -> Table {
        let mut columns = vec![lead.to_owned()];
        columns.extend(State::ALL.iter().map(|s| s.name().to_owned()));
        columns.push("total".into());
        Table {
            columns,
            rows,
            chart: Chart::States,
            notes: Vec::new(),
        }
    }

    /// The `width` attributes of the segments of the bar, in order.
    fn widths(svg: &str) -> Vec<u32> {
        svg.split("<rect class=\"seg\"")
            .skip(1)
            .filter_map(|r| r.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn a_single_bar_is_proportional_with_a_counted_legend() {
        let t = states_table(
            "time",
            vec![states_row(
                Value::Text("2026-10-01T00:00:00Z".into()),
                [0, 2, 0, 0, 1, 0],
            )],
        );
        let svg = chart(&t).expect("a chart");
        let w = widths(&svg);
        assert_eq!(w.len(), 2);
        assert_eq!(w.iter().sum::<u32>(), WIDTH - 8 - 72);
        assert!(w[0].abs_diff(2 * w[1]) <= 2, "{w:?}");
        assert!(svg.contains(">Compliant 2 (66.7%)</text>"), "{svg}");
        assert!(svg.contains(">Failed 1 (33.3%)</text>"), "{svg}");
        assert!(svg.contains(">NotStarted 0 (0.0%)</text>"), "{svg}");
        assert!(svg.contains("fill=\"#3c9b3c\""));
        assert_eq!(svg.matches("<svg").count(), 1);
    }

    #[test]
    fn series_columns_stand_on_the_axis_and_scale_to_the_top() {
        let t = states_table(
            "time",
            vec![
                states_row(Value::Text("t0".into()), [4, 0, 0, 0, 0, 0]),
                states_row(Value::Text("t1".into()), [0, 2, 0, 0, 2, 0]),
            ],
        );
        let svg = chart(&t).expect("a chart");
        // max 4 → axis (1, 4): 4 clients are the full plot height.
        let heights: Vec<f64> = svg
            .split("<rect class=\"seg\"")
            .skip(1)
            .filter_map(|r| r.split("height=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(heights, vec![200.0, 100.0, 100.0]);
        assert!(svg.contains("<title>t1: Failed 2</title>"), "{svg}");
        assert!(svg.contains(">t0</text>") && svg.contains(">t1</text>"));
        assert!(svg.contains(">clients</text>"));
    }

    #[test]
    fn failure_columns_scale_and_stay_narrow() {
        let t = Table {
            columns: vec!["bucket".into(), "failures".into()],
            rows: vec![
                vec![Value::Text("b0".into()), Value::Count(2)],
                vec![Value::Text("b1".into()), Value::Count(4)],
                vec![Value::Text("b2".into()), Value::Count(0)],
            ],
            chart: Chart::Failures,
            notes: Vec::new(),
        };
        let svg = chart(&t).expect("a chart");
        let attr = |name: &str| -> Vec<f64> {
            svg.split("<rect class=\"seg\"")
                .skip(1)
                .filter_map(|r| {
                    r.split(&format!(" {name}=\""))
                        .nth(1)?
                        .split('"')
                        .next()?
                        .parse()
                        .ok()
                })
                .collect()
        };
        // axis(4) = (1, 4): 4 failures are the plot's height, 2 half of it.
        assert_eq!(attr("height"), vec![100.0, 200.0, 0.0]);
        assert!(attr("width").iter().all(|&w| w == MAX_BAR), "{svg}");
        // Bars stand on the x axis.
        let bottom = f64::from(30 + PLOT_HEIGHT);
        for (y, h) in attr("y").iter().zip(attr("height")) {
            assert_eq!(y + h, bottom);
        }
        assert!(svg.contains("<title>b1: 4 failures</title>"), "{svg}");
        assert!(svg.contains(">failures</text>") && svg.contains(">bucket start</text>"));
        assert_eq!(svg.matches("class=\"ytick\"").count(), 5, "0 to 4 by 1");

        let empty = Table {
            rows: Vec::new(),
            ..t
        };
        assert!(chart(&empty).expect("a chart").contains("no rows"));
        assert!(chart(&Table::new(&["collection"], Chart::None)).is_none());
    }

    #[test]
    fn labels_are_escaped() {
        let t = states_table(
            "collection",
            vec![
                states_row(Value::Text("<&>\"".into()), [1, 0, 0, 0, 0, 0]),
                states_row(Value::Text("b".into()), [0, 0, 0, 0, 0, 0]),
            ],
        );
        let svg = chart(&t).expect("a chart");
        assert!(svg.contains("&lt;&amp;&gt;&quot;"), "{svg}");
        assert!(!svg.contains("<&"));
        assert!(svg.contains("no clients"));
    }
}
