//! "Did you mean ...?": the closest known name to a misspelt one.
//!
//! Invariant: the work per candidate is bounded by `O(len * max_distance)`
//! (a banded edit distance with early exit), so suggesting among millions of
//! client names stays linear in their total length.

/// Levenshtein distance between `a` and `b` (compared as lower-case
/// characters), or `None` when it exceeds `max`.
pub(crate) fn distance_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > max {
        return None;
    }
    const FAR: usize = usize::MAX / 2;
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![FAR; m + 1];
    for i in 1..=n {
        let lo = i.saturating_sub(max).max(1);
        let hi = (i + max).min(m);
        cur.iter_mut().for_each(|c| *c = FAR);
        cur[0] = if i <= max { i } else { FAR };
        let mut best = cur[0];
        for j in lo..=hi {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let v = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            cur[j] = v;
            best = best.min(v);
        }
        if best > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[m] <= max).then_some(prev[m])
}

fn folded(s: &str) -> Vec<char> {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Finds the best suggestion among candidates fed one at a time: a
/// case-insensitive exact match wins, then the smallest edit distance
/// within about a third of the name's length (at least 1, at most 4); ties
/// go to the bytewise-smallest name so the answer does not depend on
/// iteration order.
#[derive(Debug)]
pub(crate) struct Suggester {
    target: Vec<char>,
    max: usize,
    best: Option<(usize, String)>,
}

impl Suggester {
    pub(crate) fn new(name: &str) -> Suggester {
        let target = folded(name);
        let max = (target.len() / 3).clamp(1, 4);
        Suggester {
            target,
            max,
            best: None,
        }
    }

    pub(crate) fn offer(&mut self, candidate: &str) {
        let limit = match &self.best {
            Some((d, _)) => *d,
            None => self.max,
        };
        let c = folded(candidate);
        if let Some(d) = distance_within(&self.target, &c, limit) {
            let better = match &self.best {
                None => true,
                Some((bd, bn)) => d < *bd || (d == *bd && candidate.as_bytes() < bn.as_bytes()),
            };
            if better {
                self.best = Some((d, candidate.to_owned()));
            }
        }
    }

    pub(crate) fn finish(self) -> Option<String> {
        self.best.map(|(_, name)| name)
    }
}

/// The closest of `candidates` to `name`, if any is close ("did you mean").
///
/// ```
/// assert_eq!(rollcall_query::closest_name("fro", ["from", "to"]).as_deref(), Some("from"));
/// assert_eq!(rollcall_query::closest_name("zzz", ["from", "to"]), None);
/// ```
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut s = Suggester::new(name);
    candidates.into_iter().for_each(|c| s.offer(c));
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(a: &str, b: &str, max: usize) -> Option<usize> {
        distance_within(&folded(a), &folded(b), max)
    }

    #[test]
    fn distances() {
        assert_eq!(d("kitten", "sitting", 5), Some(3));
        assert_eq!(d("kitten", "sitting", 2), None);
        assert_eq!(d("", "abc", 3), Some(3));
        assert_eq!(d("abc", "", 2), None);
        assert_eq!(d("All Desktops", "all desktops", 0), Some(0));
        assert_eq!(d("PC-0042", "PC-0043", 1), Some(1));
    }

    #[test]
    fn suggests_case_insensitive_match_first() {
        assert_eq!(
            closest("all desktops", ["All Laptops", "All Desktops"]),
            Some("All Desktops".to_owned())
        );
        assert_eq!(
            closest("Pilot Rng", ["Pilot Ring", "Pilot"]),
            Some("Pilot Ring".to_owned())
        );
        assert_eq!(closest("zzz", ["All Desktops"]), None);
    }
}
