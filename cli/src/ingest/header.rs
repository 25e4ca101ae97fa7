//! Header matching: CSV header names and NDJSON keys against the fields
//! of a row kind.
//!
//! Invariants: names match case-insensitively after trimming spaces; an
//! unknown name within a small edit distance of a field (`deploymnet`,
//! `clinet`) is an error naming the field meant, any other unknown name is
//! ignored; a header error rejects the whole file.

use super::{BadInput, RowKind};

/// The field `name` is probably a misspelling of: within one edit of a
/// field of up to five letters, two edits of a longer one (transpositions
/// count as two).
pub(super) fn misspelt_field(name: &str, fields: &[&'static str]) -> Option<&'static str> {
    fields.iter().copied().find(|f| {
        let limit = if f.len() <= 5 { 1 } else { 2 };
        name != *f && edit_distance(name, f) <= limit
    })
}

/// Levenshtein distance over bytes (names here are short ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

pub(super) fn header_error(file: &str, line: u64, column: Option<u64>, reason: String) -> anyhow::Error {
    anyhow::Error::new(BadInput {
        file: file.to_owned(),
        line,
        column,
        reason,
        note: Some("nothing from this file was stored".to_owned()),
    })
}

pub(super) fn describe_fields(kind: RowKind) -> String {
    let fields = kind.fields();
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if kind.required(i) {
                (*f).to_owned()
            } else {
                format!("{f} (optional)")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
