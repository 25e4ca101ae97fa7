//! Unicode bars for the table format: a proportional bar in eighth blocks,
//! and a stacked bar of the six states.
//!
//! Invariants: deterministic integer arithmetic only; a non-zero value never
//! draws an empty bar; a stacked bar is exactly `width` cells when its total
//! is non-zero.

use rollcall_engine::State;

const PARTIAL: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// `value / max` of `width` cells, in eighths of a cell, rounded to the
/// nearest eighth (at least one eighth when `value > 0`).
pub(crate) fn bar(value: u64, max: u64, width: usize) -> String {
    if value == 0 || max == 0 {
        return String::new();
    }
    let total = (width as u128) * 8;
    let eighths = ((u128::from(value) * total + u128::from(max) / 2) / u128::from(max)).clamp(1, total);
    let full = (eighths / 8) as usize;
    let rest = (eighths % 8) as usize;
    let mut s = "█".repeat(full);
    if rest > 0 {
        s.push(PARTIAL[rest]);
    }
    s
}

/// The glyph of each state in a stacked bar, in SPEC.md order.
pub(crate) const GLYPHS: [char; 6] = ['·', '█', '▓', '▒', '░', '?'];

/// The legend line explaining [`GLYPHS`].
pub(crate) fn legend() -> String {
    State::ALL
        .iter()
        .zip(GLYPHS)
        .map(|(s, g)| format!("{g} {}", s.name()))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The legend of a stacked bar that leaves `left_out` out.
pub(crate) fn legend_without(left_out: State) -> String {
    State::ALL
        .iter()
        .zip(GLYPHS)
        .filter(|(s, _)| **s != left_out)
        .map(|(s, g)| format!("{g} {}", s.name()))
        .collect::<Vec<_>>()
        .join("  ")
}

/// Counts in SPEC.md state order as one bar of `width` cells, each state's
/// share by the largest-remainder method (ties to the earlier state).
pub(crate) fn stacked(counts: &[u64; 6], width: usize) -> String {
    let total: u128 = counts.iter().map(|&c| u128::from(c)).sum();
    if total == 0 {
        return String::new();
    }
    let w = width as u128;
    let mut cells = [0usize; 6];
    let mut rema = [0u128; 6];
    let mut used = 0usize;
    for i in 0..6 {
        let q = u128::from(counts[i]) * w;
        cells[i] = (q / total) as usize;
        rema[i] = q % total;
        used += cells[i];
    }
    let mut order: Vec<usize> = (0..6).collect();
    order.sort_by(|&a, &b| rema[b].cmp(&rema[a]).then(a.cmp(&b)));
    for &i in order.iter().take(width.saturating_sub(used)) {
        cells[i] += 1;
    }
    let mut s = String::with_capacity(width * 3);
    for (i, n) in cells.iter().enumerate() {
        s.extend(std::iter::repeat_n(GLYPHS[i], *n));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_round_to_eighths() {
        assert_eq!(bar(0, 10, 10), "");
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 3), "█▌");
        assert_eq!(bar(1, 1_000_000, 10), "▏");
        assert_eq!(bar(u64::MAX, u64::MAX, 2), "██");
    }

    #[test]
    fn stacked_fills_width_exactly() {
        let s = stacked(&[1, 1, 1, 0, 0, 0], 10);
        assert_eq!(s.chars().count(), 10);
        assert_eq!(s, "····███▓▓▓");
        assert_eq!(stacked(&[0; 6], 10), "");
        assert_eq!(stacked(&[0, 0, 0, 0, 7, 0], 5), "░░░░░");
    }
}
