//! The progress bar of a long ingest (standard error, terminals only).
//!
//! Invariants: a bar only for inputs of at least `PROGRESS_MIN_BYTES` (a
//! spinner for standard input, whose length is unknown); notes printed
//! while it shows go through `ProgressBar::suspend`.

use indicatif::{ProgressBar, ProgressStyle};

/// Inputs larger than this show a progress bar (when standard error is a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

pub(super) fn progress_bar(enabled: bool, len: Option<u64>) -> Option<ProgressBar> {
    if !enabled {
        return None;
    }
    match len {
        Some(n) if n >= PROGRESS_MIN_BYTES => {
            let pb = ProgressBar::new(n);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            {
                pb.set_style(style);
            }
            Some(pb)
        }
        Some(_) => None,
        None => {
            let pb = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {bytes} read, {bytes_per_sec}") {
                pb.set_style(style);
            }
            Some(pb)
        }
    }
}
