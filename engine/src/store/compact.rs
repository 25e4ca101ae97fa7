//! Compaction: merge the delta segments, and the base from the earliest
//! delta time on, into new time-ordered base segments with checkpoints at
//! every segment end; then swap the manifest.
//!
//! Invariants:
//! * base segments are time ordered and disjoint in time: each one ends at a
//!   time boundary (a group of equal times is never split), and a checkpoint
//!   for every deployment is written at each segment's last time;
//! * only the base *suffix* that late data touches is rewritten: segments
//!   that end before the earliest delta time are kept, with their
//!   checkpoints, and the replay resumes from the checkpoint at the end of
//!   the kept prefix (when that checkpoint is missing, everything is
//!   rewritten);
//! * rows are streamed through bounded time windows, never all held at once
//!   (membership changes of the rewritten runs are held, they go into the
//!   last new segment);
//! * old files are retired only after the new manifest is durable, and
//!   deleted when the last snapshot using them lets go.

use std::collections::HashSet;
use std::sync::Arc;

use super::files::{SegmentBuild, SegmentFile};
use super::{CompactReport, Store};
use crate::checkpoint::Checkpoint;
use crate::checkpoint::encode_checkpoints;
use crate::compaction::CheckpointBuilder;
use crate::error::Result;
use crate::manifest::{FileRef, ckpt_name};
use crate::model::{DeploymentId, MembershipRow, Timestamp, TransitionRow};
use crate::run::Run;
use crate::storage::write_sealed;

/// Most rows a compaction window aims to hold in memory.
const WINDOW_ROWS: u64 = 1 << 20;

/// Runs a compaction; the store is flushed and has delta segments.
pub(super) fn compact(s: &mut Store) -> Result<CompactReport> {
    let t_delta = s
        .delta
        .iter()
        .filter_map(|f| f.transition_bounds().map(|b| b.0))
        .min();
    let mut keep = match t_delta {
        Some(t) => s
            .base
            .iter()
            .take_while(|f| f.transition_bounds().is_some_and(|(_, hi)| hi < t))
            .count(),
        // Only membership changes arrived: rewrite the last base segment,
        // where membership changes are kept.
        None => s.base.len().saturating_sub(1),
    };
    let mut builder = CheckpointBuilder::new(s.clients.len(), s.deployments.len());
    let mut kept_cps: Vec<Arc<Checkpoint>> = Vec::new();
    if keep > 0 {
        match resume_point(s, keep) {
            Some((end, at_end)) => {
                builder.resume(&at_end);
                kept_cps = s.checkpoints.iter().filter(|c| c.time <= end).cloned().collect();
            }
            None => keep = 0,
        }
    }
    let inputs: Vec<Arc<SegmentFile>> = s.base[keep..].iter().chain(s.delta.iter()).cloned().collect();

    let seg_rows = (s.opts.checkpoint_interval_rows.max(1)) as u64;
    let mut out: Vec<Arc<SegmentFile>> = Vec::new();
    let mut new_cps: Vec<Checkpoint> = Vec::new();
    let mut build: Option<SegmentBuild> = None;
    let mut rows_rewritten = 0u64;

    let total: u64 = inputs.iter().map(|f| f.transition_count()).sum();
    let bounds = inputs
        .iter()
        .filter_map(|f| f.transition_bounds())
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    if let Some((lo, hi)) = bounds {
        let target = i128::from(WINDOW_ROWS.min(seg_rows).max(1));
        let (mut wlo, hi) = (i128::from(lo.0), i128::from(hi.0));
        let mut width = ((hi - wlo + 1) * target / i128::from(total.max(1))).max(1);
        let mut buf: Vec<TransitionRow> = Vec::new();
        while wlo <= hi {
            let whi = (wlo + width - 1).min(hi);
            let (a, b) = (Timestamp(wlo as i64), Timestamp(whi as i64));
            buf.clear();
            for f in &inputs {
                if f.transition_bounds().is_some_and(|(x, y)| x <= b && y >= a) {
                    f.scan_transitions(a, b, &mut |rows| {
                        buf.extend_from_slice(rows);
                        Ok(())
                    })?;
                }
            }
            buf.sort_unstable_by_key(|r| (r.time, r.seq));
            let mut i = 0;
            while i < buf.len() {
                let t = buf[i].time;
                let j = i + buf[i..].partition_point(|r| r.time <= t);
                if let Some(full) = build.take_if(|b| b.rows() >= seg_rows) {
                    let last = full.last_time();
                    out.push(full.finish(&s.storage, Vec::new())?);
                    new_cps.extend(last.map(|t| builder.emit(t)).unwrap_or_default());
                }
                let current = match &mut build {
                    Some(b) => b,
                    None => {
                        let number = s.next_file;
                        s.next_file += 1;
                        build.insert(SegmentBuild::create(&*s.storage, number)?)
                    }
                };
                current.push(&buf[i..j])?;
                builder.apply(&buf[i..j]);
                i = j;
            }
            rows_rewritten += buf.len() as u64;
            let n = buf.len() as i128;
            width = if n == 0 {
                width.saturating_mul(2)
            } else {
                (width * target / n).clamp(1, width.saturating_mul(4))
            };
            wlo = whi + 1;
        }
    }

    let mut memberships: Vec<MembershipRow> = Vec::new();
    for f in &inputs {
        f.scan_memberships(None, Timestamp::MAX, &mut |rows| {
            memberships.extend_from_slice(rows);
            Ok(())
        })?;
    }
    memberships.sort_unstable_by_key(|r| (r.collection, r.time, r.seq));
    rows_rewritten += memberships.len() as u64;
    if build.is_none() && !memberships.is_empty() {
        let number = s.next_file;
        s.next_file += 1;
        build = Some(SegmentBuild::create(&*s.storage, number)?);
    }
    if let Some(last_build) = build {
        let last = last_build.last_time();
        out.push(last_build.finish(&s.storage, memberships)?);
        new_cps.extend(last.map(|t| builder.emit(t)).unwrap_or_default());
    }
    drop(builder);

    let report = CompactReport {
        runs_in: inputs.len() as u64,
        runs_out: out.len() as u64,
        rows: rows_rewritten,
        checkpoints: new_cps.len() as u64,
    };
    let mut all_cps: Vec<Arc<Checkpoint>> = kept_cps;
    all_cps.extend(new_cps.into_iter().map(Arc::new));
    all_cps.sort_by_key(|c| (c.deployment, c.time));
    let ckpt = if all_cps.is_empty() {
        None
    } else {
        let number = s.next_file;
        s.next_file += 1;
        let plain: Vec<Checkpoint> = all_cps.iter().map(|c| (**c).clone()).collect();
        let bytes = encode_checkpoints(&plain);
        drop(plain);
        write_sealed(&*s.storage, &ckpt_name(number), &bytes)?;
        Some(FileRef {
            number,
            bytes: bytes.len() as u64,
        })
    };

    let mut m = s.manifest.clone();
    m.generation += 1;
    m.next_seq = s.next_seq;
    m.next_file = s.next_file;
    m.base = s.base[..keep]
        .iter()
        .chain(out.iter())
        .map(|f| f.file_ref())
        .collect();
    m.delta.clear();
    m.checkpoints = ckpt;
    m.write(&*s.storage)?;

    // Committed. Retire what the new manifest no longer names.
    let old_ckpt = s.manifest.checkpoints;
    s.manifest = m;
    for f in &inputs {
        f.retire();
    }
    s.base.truncate(keep);
    s.base.extend(out);
    s.delta.clear();
    s.checkpoints = all_cps;
    if let Some(old) = old_ckpt.filter(|old| Some(*old) != ckpt) {
        // Checkpoints are decoded into memory, so no reader needs the file.
        // Best effort: a file left behind is an orphan, removed by the next
        // writer to open the store.
        let _ = s.storage.remove(&ckpt_name(old.number));
    }
    Ok(report)
}

/// The end time of the kept base prefix `base[..keep]` and the checkpoints
/// there, when every deployment checkpointed up to then has one at that
/// time; `None` means "rewrite everything".
fn resume_point(s: &Store, keep: usize) -> Option<(Timestamp, Vec<Arc<Checkpoint>>)> {
    let (_, end) = s.base.get(keep.checked_sub(1)?)?.transition_bounds()?;
    let at_end: Vec<Arc<Checkpoint>> = s.checkpoints.iter().filter(|c| c.time == end).cloned().collect();
    let have: HashSet<DeploymentId> = at_end.iter().map(|c| c.deployment).collect();
    let need: HashSet<DeploymentId> = s
        .checkpoints
        .iter()
        .filter(|c| c.time <= end)
        .map(|c| c.deployment)
        .collect();
    (!at_end.is_empty() && have == need).then_some((end, at_end))
}
